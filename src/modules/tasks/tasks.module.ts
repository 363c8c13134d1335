import { Module } from '@nestjs/common';
import { DealAccessModule } from '../deals/deal-access.module';
import { TasksController } from './tasks.controller';
import { TasksService } from './tasks.service';

/** Tasks (API.md section 7). */
@Module({
  imports: [DealAccessModule],
  controllers: [TasksController],
  providers: [TasksService],
})
export class TasksModule {}
