import { Global, Module } from '@nestjs/common';
import { CursorCodec } from './pagination/cursor.codec';
import { Paginator } from './pagination/paginator';

/** List pagination, shared by every list (through the unit of work's readers). */
@Global()
@Module({
  providers: [CursorCodec, Paginator],
  exports: [Paginator],
})
export class CommonModule {}
