import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { ListOrder } from '../../common/pagination/paginator';
import { selectAs } from '../../common/pagination/select-as';
import { type Actor, scopeOf } from '../../tenancy/actor';
import { type TenantReader, UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import { CompaniesService, COMPANY_COLUMNS, COMPANY_ORDER } from '../companies/companies.service';
import type { SocialProfile } from '../companies/company.entity';
import { CONTACT_COLUMNS, CONTACT_ORDER, ContactsService } from '../contacts/contacts.service';
import { DEAL_ORDER, DealsService } from '../deals/deals.service';
import { DEAL_COLUMNS } from '../deals/dto/deal.dto';
import { csvStream } from './csv/csv-export';
import type {
  CompanyExportQueryDto,
  ContactExportQueryDto,
  DealExportQueryDto,
} from './dto/export-query.dto';

/** The columns of each export, in order: the fields of the API representation. */
export const CONTACT_EXPORT_COLUMNS = CONTACT_COLUMNS;
export const DEAL_EXPORT_COLUMNS = DEAL_COLUMNS;

/** A company's address is spread over one column per part (in place of `address`). */
const ADDRESS_PARTS = {
  addressLine1: 'line1',
  addressLine2: 'line2',
  addressCity: 'city',
  addressRegion: 'region',
  addressPostalCode: 'postalCode',
  addressCountry: 'country',
} as const;

export const COMPANY_EXPORT_COLUMNS = COMPANY_COLUMNS.flatMap((column) =>
  column === 'address' ? Object.keys(ADDRESS_PARTS) : [column],
);

/** `query` in the order of its list endpoint (ties broken by id, as there). */
function ordered<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  { column, id }: ListOrder,
  order: 'asc' | 'desc',
): SelectQueryBuilder<T> {
  const direction = order === 'asc' ? 'ASC' : 'DESC';
  return query.orderBy(column, direction).addOrderBy(id, direction);
}

/**
 * CSV exports: the query of the list endpoint, from the module that owns it (same visibility,
 * filters and order, no pages), streamed from a database cursor through csv-stringify.
 */
@Injectable()
export class ExportService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly contactsService: ContactsService,
    private readonly companiesService: CompaniesService,
    private readonly dealsService: DealsService,
    private readonly audit: AuditService,
  ) {}

  /**
   * The audit entry of an export (API.md section 16): who exported which resource with which
   * filters, written before the first row is read (an export that fails midway is still audited).
   */
  private started(actor: Actor, resource: string, query: object): Promise<void> {
    // The query's parameters as sent and defaulted (orderBy, order), without those left out.
    const filters = JSON.parse(JSON.stringify(query)) as Record<string, unknown>;
    return this.audit.recordAlone(
      {
        action: AuditAction.EXPORT_STARTED,
        actorUserId: actor.userId || null,
        actorApiKeyId: actor.apiKeyId ?? null,
        organizationId: actor.organizationId,
        details: { resource, filters },
      },
      actor,
    );
  }

  /**
   * A reader seeing `resource` within both the actor's read scope and its `export:read` scope
   * (a role reading every contact but exporting its own exports its own).
   */
  private exportReader(actor: Actor, resource: 'contacts' | 'companies' | 'deals'): TenantReader {
    const grants = actor.grants.narrowed(resource, 'read', scopeOf(actor, 'export'));
    return this.uow.read(grants === actor.grants ? actor : { ...actor, grants });
  }

  /** As ContactsService.list. */
  async contacts(actor: Actor, query: ContactExportQueryDto): Promise<Readable> {
    await this.started(actor, 'contacts', query);
    const reader = this.exportReader(actor, 'contacts');
    const contacts = this.contactsService
      .filtered(reader, query)
      .select(selectAs('c', CONTACT_EXPORT_COLUMNS));
    const rows = await reader.stream(ordered(contacts, CONTACT_ORDER[query.orderBy], query.order));
    return csvStream(rows, CONTACT_EXPORT_COLUMNS);
  }

  /** As CompaniesService.list. */
  async companies(actor: Actor, query: CompanyExportQueryDto): Promise<Readable> {
    await this.started(actor, 'companies', query);
    const reader = this.exportReader(actor, 'companies');
    const companies = this.companiesService
      .filtered(reader, query)
      .select(
        COMPANY_COLUMNS.flatMap((column) =>
          column === 'address'
            ? Object.entries(ADDRESS_PARTS).map(
                ([name, part]) => `co.address->>'${part}' AS "${name}"`,
              )
            : selectAs('co', [column]),
        ),
      );
    const rows = await reader.stream(ordered(companies, COMPANY_ORDER[query.orderBy], query.order));
    return csvStream(rows, COMPANY_EXPORT_COLUMNS, {
      // As the API shows them: [{network, url}] (jsonb keeps its keys in another order).
      socialProfiles: (profiles) =>
        JSON.stringify((profiles as SocialProfile[]).map(({ network, url }) => ({ network, url }))),
    });
  }

  /** As DealsService.list. */
  async deals(actor: Actor, query: DealExportQueryDto): Promise<Readable> {
    await this.started(actor, 'deals', query);
    const reader = this.exportReader(actor, 'deals');
    const deals = this.dealsService.filtered(reader, query).select(selectAs('d', DEAL_COLUMNS));
    const rows = await reader.stream(ordered(deals, DEAL_ORDER[query.orderBy], query.order));
    return csvStream(rows, DEAL_EXPORT_COLUMNS);
  }
}
