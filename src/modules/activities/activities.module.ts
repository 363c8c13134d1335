import { Module } from '@nestjs/common';
import { ActivitiesController } from './activities.controller';
import { ActivitiesService } from './activities.service';

/**
 * Deal timelines (API.md section 6): the activities table's only writer. Deals, tasks and leads
 * import it to record their activities (`ActivitiesService.record`) in their own transaction.
 */
@Module({
  controllers: [ActivitiesController],
  providers: [ActivitiesService],
  exports: [ActivitiesService],
})
export class ActivitiesModule {}
