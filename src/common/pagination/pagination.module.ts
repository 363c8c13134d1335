import { Global, Module } from '@nestjs/common';
import { CursorCodec } from './cursor.codec';
import { Paginator } from './paginator';

@Global()
@Module({ providers: [CursorCodec, Paginator], exports: [Paginator] })
export class PaginationModule {}
