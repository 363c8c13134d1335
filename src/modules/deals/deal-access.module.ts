import { Module } from '@nestjs/common';
import { ActivitiesService } from '../activities/activities.service';
import { ActivitiesController } from '../activities/activities.controller';
import { DealAccess } from './deal-access';

/** What deals, tasks and the timeline share: deal visibility and activity recording. */
@Module({
  controllers: [ActivitiesController],
  providers: [DealAccess, ActivitiesService],
  exports: [DealAccess, ActivitiesService],
})
export class DealAccessModule {}
