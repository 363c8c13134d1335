import { Global, Module } from '@nestjs/common';
import { CursorCodec } from './pagination/cursor.codec';
import { Paginator } from './pagination/paginator';

/** List pagination, shared by every list (through the unit of work's readers, or the cursors alone). */
@Global()
@Module({
  providers: [CursorCodec, Paginator],
  exports: [Paginator, CursorCodec],
})
export class CommonModule {}
