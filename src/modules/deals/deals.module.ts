import { Module } from '@nestjs/common';
import { ActivitiesModule } from '../activities/activities.module';
import { DealsController } from './deals.controller';
import { DealsService } from './deals.service';
import { DealsUserData } from './deals.user-data';

/** Deals (API.md section 5); their timeline entries are recorded through ActivitiesModule. */
@Module({
  imports: [ActivitiesModule],
  controllers: [DealsController],
  providers: [DealsService, DealsUserData],
  exports: [DealsService, DealsUserData],
})
export class DealsModule {}
