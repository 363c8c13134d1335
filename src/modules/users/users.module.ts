import { Module } from '@nestjs/common';
import { CompaniesModule } from '../companies/companies.module';
import { ContactsModule } from '../contacts/contacts.module';
import { DealsModule } from '../deals/deals.module';
import { LeadsModule } from '../leads/leads.module';
import { OrganizationsModule } from '../organizations/organizations.module';
import { TasksModule } from '../tasks/tasks.module';
import { UserExportService } from './user-export.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/** Users, and the user data export, which collects each feature's part (`*.user-data.ts`). */
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
  providers: [UsersService, UserExportService],
  exports: [UsersService],
})
export class UsersModule {}
