import { Global, Module } from '@nestjs/common';
import { CursorCodec } from './pagination/cursor.codec';
import { Paginator } from './pagination/paginator';
import { OwnershipService } from './visibility/ownership.service';

/** Services shared by every tenant-scoped feature: list pagination and ownership rules. */
@Global()
@Module({
  providers: [CursorCodec, Paginator, OwnershipService],
  exports: [Paginator, OwnershipService],
})
export class CommonModule {}
