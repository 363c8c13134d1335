import { Module } from '@nestjs/common';
import { DealAccessModule } from '../deals/deal-access.module';
import { DealsModule } from '../deals/deals.module';
import { LeadsController } from './leads.controller';
import { LeadsService } from './leads.service';

/** Leads and their conversion (API.md section 11); deals are created through DealsService. */
@Module({
  imports: [DealsModule, DealAccessModule],
  controllers: [LeadsController],
  providers: [LeadsService],
  exports: [LeadsService],
})
export class LeadsModule {}
