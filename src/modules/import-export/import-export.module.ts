import { Module } from '@nestjs/common';
import { CompaniesModule } from '../companies/companies.module';
import { ContactsModule } from '../contacts/contacts.module';
import { DealsModule } from '../deals/deals.module';
import { CompaniesImporter } from './companies.importer';
import { ContactsImporter } from './contacts.importer';
import { ExportService } from './export.service';
import { ImportExportController } from './import-export.controller';
import { ImportRunner } from './import-runner';

/**
 * CSV import and export (API.md section 11): POST /contacts/import, /companies/import and
 * GET /contacts/export, /companies/export, /deals/export. Rows are written and queried through
 * the modules that own them.
 */
@Module({
  imports: [ContactsModule, CompaniesModule, DealsModule],
  controllers: [ImportExportController],
  providers: [ImportRunner, ExportService, ContactsImporter, CompaniesImporter],
})
export class ImportExportModule {}
