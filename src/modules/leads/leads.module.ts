import { Module } from '@nestjs/common';
import { ActivitiesModule } from '../activities/activities.module';
import { CompaniesModule } from '../companies/companies.module';
import { ContactsModule } from '../contacts/contacts.module';
import { DealsModule } from '../deals/deals.module';
import { LeadsController } from './leads.controller';
import { LeadsService } from './leads.service';
import { LeadsUserData } from './leads.user-data';

/**
 * Leads and their conversion (API.md section 11): the contact, company, deal and timeline entry
 * of a conversion are written through the modules that own them, in the conversion's transaction.
 */
@Module({
  imports: [ContactsModule, CompaniesModule, DealsModule, ActivitiesModule],
  controllers: [LeadsController],
  providers: [LeadsService, LeadsUserData],
  exports: [LeadsService, LeadsUserData],
})
export class LeadsModule {}
