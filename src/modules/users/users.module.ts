import { Module } from '@nestjs/common';
import { CompaniesModule } from '../companies/companies.module';
import { ContactsModule } from '../contacts/contacts.module';
import { DealsModule } from '../deals/deals.module';
import { LeadsModule } from '../leads/leads.module';
import { OrganizationsModule } from '../organizations/organizations.module';
import { TasksModule } from '../tasks/tasks.module';
import { AccountService } from './account.service';
import { UserExportService } from './user-export.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/**
 * Users, the user data export, which collects each feature's part (`*.user-data.ts`), and the
 * erasure of an account (AccountService; its route is the auth module's, which checks the
 * password).
 */
@Module({
  imports: [
    OrganizationsModule,
    ContactsModule,
    CompaniesModule,
    LeadsModule,
    DealsModule,
    TasksModule,
  ],
  controllers: [UsersController],
  providers: [UsersService, UserExportService, AccountService],
  exports: [UsersService, AccountService],
})
export class UsersModule {}
