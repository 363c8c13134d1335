import { Injectable } from '@nestjs/common';
import type { AppException } from '../../common/errors/app.exception';
import { isUniqueViolation } from '../../database/pg-errors';
import type { TenantReader, TenantTx } from '../../tenancy/unit-of-work';
import {
  CompaniesService,
  COMPANY_DOMAIN_INDEX,
  companyDomainTaken,
} from '../companies/companies.service';
import { CreateCompanyDto } from '../companies/dto/company-input.dto';
import type { Cells } from './csv/csv-reader';
import { type RowResult, validateRow } from './csv/row-validation';
import type { ExistingRecord, ImportPlan } from './import-plan';
import { chunks, type ImportTarget, WRITE_BATCH } from './import-runner';

export const COMPANY_IMPORT_COLUMNS = ['name', 'domain', 'industry', 'phone', 'country'] as const;

/** What one row writes; null = the cell was empty (absent). */
export interface CompanyRow {
  name: string;
  domain: string | null;
  industry: string | null;
  phone: string | null;
  country: string | null;
}

/** The `country` column is the body's `address.country`; errors name the column. */
const columnOf = (path: string): string => (path === 'address.country' ? 'country' : path);

/**
 * POST /companies/import. Each row is validated as the body of POST /companies
 * (CreateCompanyDto: name, domain, industry, phone, and `country` as address.country); the
 * owner is always the caller. Duplicates are matched on the domain (stored lower-cased, unique
 * in the organization). An update sets the non-empty cells; `country` sets the address's
 * country and keeps its other parts.
 */
@Injectable()
export class CompaniesImporter implements ImportTarget<CompanyRow> {
  readonly name = 'companies';
  readonly columns = COMPANY_IMPORT_COLUMNS;
  readonly keyField = 'domain';
  readonly existsMessage = 'a company with this domain already exists in the organization';

  constructor(private readonly companies: CompaniesService) {}

  async validate(cells: Cells): Promise<RowResult<{ value: CompanyRow; key: string | null }>> {
    const { country, ...company } = cells;
    const body = country === undefined ? company : { ...company, address: { country } };
    const result = await validateRow(CreateCompanyDto, body, columnOf);
    if ('errors' in result) return result;
    const { name, domain, industry, phone, address } = result.value;
    return {
      value: {
        key: domain ?? null,
        value: {
          name,
          domain: domain ?? null,
          industry: industry ?? null,
          phone: phone ?? null,
          country: address?.country ?? null,
        },
      },
    };
  }

  findExisting(reader: TenantReader, keys: string[]): Promise<Map<string, ExistingRecord>> {
    return this.companies.findByDomains(reader, keys);
  }

  merge(earlier: CompanyRow | undefined, later: CompanyRow): CompanyRow {
    if (!earlier) return later;
    return {
      name: later.name,
      domain: later.domain ?? earlier.domain,
      industry: later.industry ?? earlier.industry,
      phone: later.phone ?? earlier.phone,
      country: later.country ?? earlier.country,
    };
  }

  async write(tx: TenantTx, plan: ImportPlan<CompanyRow>): Promise<void> {
    const ownerId = tx.actor.userId;
    for (const batch of chunks(plan.creates, WRITE_BATCH)) {
      await this.companies.insertMany(
        tx,
        batch.map(({ country, ...company }) => ({
          ...company,
          ownerId,
          address: country === null ? null : { country },
        })),
      );
    }
    // Only the cells that had a value change; a row that changes nothing leaves updatedAt alone.
    for (const batch of chunks([...plan.updates], WRITE_BATCH)) {
      await this.companies.mergeMany(
        tx,
        batch.map(([id, { name, industry, phone, country }]) => ({
          id,
          name,
          industry,
          phone,
          country,
        })),
      );
    }
  }

  conflict(error: unknown): AppException | undefined {
    return isUniqueViolation(error, COMPANY_DOMAIN_INDEX) ? companyDomainTaken() : undefined;
  }
}
