import { Module } from '@nestjs/common';
import { CompaniesModule } from '../companies/companies.module';
import { ContactsModule } from '../contacts/contacts.module';
import { DealsModule } from '../deals/deals.module';
import { BulkController } from './bulk.controller';
import { BulkService } from './bulk.service';

/** Bulk writes of contacts, companies and deals (API.md section 17) through their services. */
@Module({
  imports: [ContactsModule, CompaniesModule, DealsModule],
  controllers: [BulkController],
  providers: [BulkService],
})
export class BulkModule {}
