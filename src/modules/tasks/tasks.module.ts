import { Module } from '@nestjs/common';
import { DealAccessModule } from '../deals/deal-access.module';

/** Tasks (API.md section 7). */
@Module({
  imports: [DealAccessModule],
  controllers: [],
  providers: [],
})
export class TasksModule {}
