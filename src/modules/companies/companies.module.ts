import { Module } from '@nestjs/common';
import { ContactsModule } from '../contacts/contacts.module';
import { CompaniesController } from './companies.controller';
import { CompaniesService } from './companies.service';
import { CompaniesUserData } from './companies.user-data';

/** Companies (API.md section 11) and their contacts. */
@Module({
  imports: [ContactsModule],
  controllers: [CompaniesController],
  providers: [CompaniesService, CompaniesUserData],
  exports: [CompaniesService, CompaniesUserData],
})
export class CompaniesModule {}
