import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AppException } from '../../common/errors/app.exception';
import type { Actor } from '../../common/http/request-context';
import { isUniqueViolation } from '../../database/pg-errors';
import { COMPANY_DOMAIN_INDEX, companyDomainTaken } from '../companies/companies.service';
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

  async findExisting(
    manager: EntityManager,
    actor: Actor,
    keys: string[],
  ): Promise<Map<string, ExistingRecord>> {
    const rows = await manager.query<(ExistingRecord & { key: string })[]>(
      `SELECT k.key, c.id, c.owner_id AS "ownerId"
         FROM unnest($2::text[]) AS k(key)
         JOIN companies c ON c.organization_id = $1 AND c.domain = k.key`,
      [actor.organizationId, keys],
    );
    return new Map(rows.map(({ key, id, ownerId }) => [key, { id, ownerId }]));
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

  async write(manager: EntityManager, actor: Actor, plan: ImportPlan<CompanyRow>): Promise<void> {
    for (const batch of chunks(plan.creates, WRITE_BATCH)) {
      await manager.query(
        `INSERT INTO companies (organization_id, owner_id, name, domain, industry, phone, address)
         SELECT $1, $2, v.name, v.domain, v.industry, v.phone,
                CASE WHEN v.country IS NULL THEN NULL ELSE jsonb_build_object('country', v.country) END
           FROM unnest($3::varchar[], $4::varchar[], $5::varchar[], $6::varchar[], $7::text[])
             AS v(name, domain, industry, phone, country)`,
        [
          actor.organizationId,
          actor.userId,
          batch.map((c) => c.name),
          batch.map((c) => c.domain),
          batch.map((c) => c.industry),
          batch.map((c) => c.phone),
          batch.map((c) => c.country),
        ],
      );
    }
    // Only the cells that had a value change; a row that changes nothing leaves updatedAt alone.
    for (const batch of chunks([...plan.updates], WRITE_BATCH)) {
      await manager.query(
        `UPDATE companies c
            SET name = n.name, industry = n.industry, phone = n.phone, address = n.address,
                updated_at = now()
           FROM (
             SELECT v.id, v.name, coalesce(v.industry, c0.industry) AS industry,
                    coalesce(v.phone, c0.phone) AS phone,
                    CASE WHEN v.country IS NULL THEN c0.address
                         ELSE coalesce(c0.address, '{}'::jsonb) || jsonb_build_object('country', v.country)
                    END AS address
               FROM unnest($2::uuid[], $3::varchar[], $4::varchar[], $5::varchar[], $6::text[])
                 AS v(id, name, industry, phone, country)
               JOIN companies c0 ON c0.id = v.id
           ) AS n
          WHERE c.id = n.id AND c.organization_id = $1
            AND (c.name, c.industry, c.phone, c.address)
                IS DISTINCT FROM (n.name, n.industry, n.phone, n.address)`,
        [
          actor.organizationId,
          batch.map(([id]) => id),
          batch.map(([, c]) => c.name),
          batch.map(([, c]) => c.industry),
          batch.map(([, c]) => c.phone),
          batch.map(([, c]) => c.country),
        ],
      );
    }
  }

  conflict(error: unknown): AppException | undefined {
    return isUniqueViolation(error, COMPANY_DOMAIN_INDEX) ? companyDomainTaken() : undefined;
  }
}
