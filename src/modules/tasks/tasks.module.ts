import { Module } from '@nestjs/common';
import { ActivitiesModule } from '../activities/activities.module';
import { TasksController } from './tasks.controller';
import { TasksService } from './tasks.service';
import { TasksUserData } from './tasks.user-data';

/** Tasks (API.md section 7); their task_created entries are recorded through ActivitiesModule. */
@Module({
  imports: [ActivitiesModule],
  controllers: [TasksController],
  providers: [TasksService, TasksUserData],
  exports: [TasksUserData],
})
export class TasksModule {}
