import { Injectable } from '@nestjs/common';
import type { SelectQueryBuilder } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { escapeLike, selectAs } from '../../common/pagination/select-as';
import { isUniqueViolation } from '../../database/pg-errors';
import type { Actor } from '../../tenancy/actor';
import { OwnershipService } from '../../tenancy/ownership.service';
import { assertPrecondition } from '../../tenancy/precondition';
import { type TenantReader, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { ContactsService, searchWords } from '../contacts/contacts.service';
import { ContactListFiltersDto } from '../contacts/dto/contact-input.dto';
import type { ContactDto } from '../contacts/dto/contact.dto';
import { emitEvent, hasChanges, previousOf } from '../../events/record';
import { findVisibleCompany } from './company-access';
import { Address, Company, companySearchText, SocialProfile } from './company.entity';
import {
  AddressInputDto,
  CompanyListQueryDto,
  CreateCompanyDto,
  SocialProfileInputDto,
  UpdateCompanyDto,
} from './dto/company-input.dto';
import { CompanyDto } from './dto/company.dto';

/** The columns of a company's representation, in the order of its exports. */
export const COMPANY_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'name',
  'domain',
  'industry',
  'phone',
  'address',
  'socialProfiles',
  'createdAt',
  'updatedAt',
] as const;

/** The orderings of company lists and exports (alias co), ties broken by id. */
export const COMPANY_ORDER = {
  createdAt: { column: 'co.created_at', type: 'timestamptz', id: 'co.id' },
  name: { column: 'co.name', type: 'text', id: 'co.id' },
} as const;

/** The unique index behind COMPANY_DOMAIN_TAKEN (domains are stored lower-cased). */
export const COMPANY_DOMAIN_INDEX = 'uq_companies_org_domain';

export const companyDomainTaken = (): AppException =>
  AppException.conflict(
    ErrorCode.COMPANY_DOMAIN_TAKEN,
    'A company with this domain already exists in the organization',
  );

/** The filters of a company list or export (GET /companies, CSV). */
export interface CompanyFilters {
  search?: string;
  ownerId?: string;
  industry?: string;
}

/** A company another module creates in bulk (imports): given fields only, the rest defaults. */
export interface NewCompany {
  /** Chosen by the caller when it must know the ids without reading them back. */
  id?: string;
  ownerId: string;
  name: string;
  domain?: string | null;
  industry?: string | null;
  phone?: string | null;
  address?: Address | null;
}

/**
 * A bulk change of an existing company (imports): `name` replaces the stored one; a null
 * `industry` or `phone` keeps the stored value; a non-null `country` sets the address's country
 * and keeps its other parts.
 */
export interface CompanyMerge {
  id: string;
  name: string;
  industry: string | null;
  phone: string | null;
  country: string | null;
}

/** The stored address: only the parts that are set (null: no address). */
function toAddress(input: AddressInputDto | null | undefined): Address | null {
  if (!input) return null;
  const address: Address = {};
  for (const key of ['line1', 'line2', 'city', 'region', 'postalCode', 'country'] as const) {
    const value = input[key];
    if (value !== undefined && value !== null) address[key] = value;
  }
  return address;
}

const toSocialProfiles = (input: SocialProfileInputDto[] | undefined): SocialProfile[] =>
  (input ?? []).map(({ network, url }) => ({ network, url }));

/**
 * The companies module: the only writer of the companies table. Other modules create and
 * change companies through `findOrCreateByName` (lead conversion) and `insertMany` /
 * `mergeMany` (imports), inside their own transaction.
 */
@Injectable()
export class CompaniesService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly ownership: OwnershipService,
    private readonly contacts: ContactsService,
  ) {}

  /**
   * The companies visible to the reader's actor matching `filters` (every word of `search` must
   * occur in name or domain, a fragment is enough: trigram-indexed LIKE per word), alias co.
   * Lists and the CSV export share it.
   */
  filtered(reader: TenantReader, filters: CompanyFilters): SelectQueryBuilder<Company> {
    const companies = reader.visible(Company, 'co');
    const { ownerId, industry } = filters;
    if (ownerId) companies.andWhere('co.owner_id = :ownerId', { ownerId });
    if (industry) companies.andWhere('co.industry = :industry', { industry });
    searchWords(filters.search).forEach((word, i) =>
      companies.andWhere(`${companySearchText('co')} LIKE :word${i}`, {
        [`word${i}`]: `%${escapeLike(word)}%`,
      }),
    );
    return companies;
  }

  list(actor: Actor, query: CompanyListQueryDto): Promise<ListResult<CompanyDto>> {
    const reader = this.uow.read(actor);
    const companies = this.filtered(reader, query).select(selectAs('co', COMPANY_COLUMNS));
    const { ownerId, industry } = query;
    return reader.list(
      companies,
      query,
      COMPANY_ORDER[query.orderBy],
      {
        endpoint: 'companies',
        orderBy: query.orderBy,
        filters: { words: searchWords(query.search), ownerId, industry },
      },
      (row: Company) => CompanyDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<CompanyDto> {
    return CompanyDto.from(
      await this.uow
        .read(actor)
        .readVisible(Company, id, (alias) => selectAs(alias, COMPANY_COLUMNS)),
    );
  }

  /** GET /companies/{id}/contacts: 404 unless the company is visible; then its visible contacts. */
  async contactsOf(
    actor: Actor,
    id: string,
    query: ContactListFiltersDto,
  ): Promise<ListResult<ContactDto>> {
    const company = await findVisibleCompany(this.uow.read(actor), id);
    return this.contacts.listOf(actor, query, {
      endpoint: 'company-contacts',
      companyId: company.id,
    });
  }

  async create(actor: Actor, input: CreateCompanyDto): Promise<CompanyDto> {
    const company = await this.writing(() => this.uow.run(actor, (tx) => this.createIn(tx, input)));
    return CompanyDto.from(company);
  }

  /**
   * Creates a company inside the caller's transaction with every rule of POST /companies. A
   * concurrent writer of the same domain surfaces as a unique violation of
   * COMPANY_DOMAIN_INDEX, which the caller maps (companyDomainTaken). Records
   * `company.created`.
   */
  async createIn(tx: TenantTx, input: CreateCompanyDto): Promise<Company> {
    const ownerId = this.ownership.requestedOwner(tx.actor, null, input.ownerId);
    await this.assertDomainFree(tx, input.domain);
    await this.ownership.assertValidOwner(tx, ownerId);
    const companies = tx.repo(Company);
    const created = await companies.save(
      companies.create({
        ownerId,
        name: input.name,
        domain: input.domain ?? null,
        industry: input.industry ?? null,
        phone: input.phone ?? null,
        address: toAddress(input.address),
        socialProfiles: toSocialProfiles(input.socialProfiles),
      }),
    );
    this.emitCreated(tx, created);
    return created;
  }

  /** PATCH: only the given properties change; the row is locked for the transaction. */
  async update(actor: Actor, id: string, input: UpdateCompanyDto): Promise<CompanyDto> {
    return this.writing(() =>
      this.uow.run(actor, async (tx) => {
        const company = await findVisibleCompany(tx, id, 'pessimistic_write');
        assertPrecondition(actor, 'Company', company);
        const before = CompanyDto.from(company);
        const currentOwner = company.ownerId;
        const ownerId = this.ownership.requestedOwner(actor, currentOwner, input.ownerId);
        if (input.domain !== undefined && input.domain !== company.domain) {
          await this.assertDomainFree(tx, input.domain, company.id);
        }
        // Only a new owner must be a member (an unchanged one may have left since).
        if (ownerId !== currentOwner) await this.ownership.assertValidOwner(tx, ownerId);

        company.ownerId = ownerId;
        if (input.name !== undefined) company.name = input.name;
        if (input.domain !== undefined) company.domain = input.domain;
        if (input.industry !== undefined) company.industry = input.industry;
        if (input.phone !== undefined) company.phone = input.phone;
        if (input.address !== undefined) company.address = toAddress(input.address);
        if (input.socialProfiles !== undefined) {
          company.socialProfiles = toSocialProfiles(input.socialProfiles);
        }
        // Nothing changed: nothing is written, updatedAt stays and no event is recorded.
        if (!hasChanges(previousOf(before, CompanyDto.from(company)))) return before;
        const after = CompanyDto.from(await tx.repo(Company).save(company));
        emitEvent(tx, 'crm.company.updated.v1', 'companies', after.id, {
          company: after,
          previous: previousOf(before, after),
        });
        return after;
      }),
    );
  }

  /** Its contacts stay, unlinked (contacts.company_id is ON DELETE SET NULL). */
  async remove(actor: Actor, id: string): Promise<void> {
    await this.uow.run(actor, async (tx) => {
      const company = await findVisibleCompany(tx, id, 'pessimistic_write');
      assertPrecondition(actor, 'Company', company);
      await tx.repo(Company).delete({ id: company.id });
      emitEvent(tx, 'crm.company.deleted.v1', 'companies', company.id, {
        company: CompanyDto.from(company),
      });
    });
  }

  /**
   * Lead conversion: the organization's company whose name matches (case-insensitive; the
   * oldest when several do), whoever owns it, else a new one (name only) owned by `ownerId`.
   * A transaction-scoped advisory lock on the lower-cased name serializes the transactions
   * naming the same company, so two of them at once do not create it twice. A created company
   * records `company.created`.
   */
  async findOrCreateByName(tx: TenantTx, name: string, ownerId: string): Promise<Company> {
    await tx.serialize(`company-name:${name.toLowerCase()}`);
    const existing = await tx
      .query(Company, 'co')
      .andWhere('lower(co.name) = lower(:name)', { name })
      .orderBy('co.created_at', 'ASC')
      .addOrderBy('co.id', 'ASC')
      .limit(1)
      .getOne();
    if (existing) return existing;
    const companies = tx.repo(Company);
    const created = await companies.save(companies.create({ ownerId, name }));
    const company = (await companies.findOneBy({ id: created.id }))!;
    this.emitCreated(tx, company);
    return company;
  }

  /**
   * Imports: for each of `names` (lower-cased), the id of the oldest company of that name
   * (case-insensitive) visible to the actor. The rows are locked FOR KEY SHARE, as POST
   * /contacts locks the company it links to: they cannot be deleted before the transaction ends.
   */
  async visibleIdsByName(tx: TenantTx, names: string[]): Promise<Map<string, string>> {
    const found = await tx
      .visible(Company, 'co')
      .innerJoin(
        '(SELECT unnest(CAST(:names AS text[])) AS key)',
        'k',
        'lower(co.name) = lower(k.key)',
        {
          names,
        },
      )
      .select('k.key', 'key')
      .addSelect('co.id', 'id')
      .orderBy('k.key')
      .addOrderBy('co.created_at')
      .addOrderBy('co.id')
      .setLock('for_key_share', undefined, ['co'])
      .getRawMany<{ key: string; id: string }>();
    const ids = new Map<string, string>();
    for (const { key, id } of found) if (!ids.has(key)) ids.set(key, id);
    return ids;
  }

  /**
   * Imports: the organization's companies holding any of `domains` (lower-cased, as stored),
   * whoever owns them, by domain.
   */
  async findByDomains(
    reader: TenantReader,
    domains: string[],
  ): Promise<Map<string, { id: string; ownerId: string }>> {
    const rows = await reader
      .query(Company, 'co')
      .innerJoin('(SELECT unnest(CAST(:domains AS text[])) AS key)', 'k', 'co.domain = k.key', {
        domains,
      })
      .select('k.key', 'key')
      .addSelect('co.id', 'id')
      .addSelect('co.owner_id', 'ownerId')
      .getRawMany<{ key: string; id: string; ownerId: string }>();
    return new Map(rows.map(({ key, id, ownerId }) => [key, { id, ownerId }]));
  }

  /**
   * Imports: inserts `companies` in one statement, unchecked (the caller validated them as
   * POST /companies does). A taken domain surfaces as a unique violation of
   * COMPANY_DOMAIN_INDEX. No event per company: the import records one `import.completed`.
   */
  async insertMany(tx: TenantTx, companies: NewCompany[]): Promise<void> {
    await tx.repo(Company).insertMany(companies);
  }

  /**
   * Imports: applies `changes` (see CompanyMerge) in one statement; a company the change
   * leaves as it was is not written (its updatedAt stays).
   */
  async mergeMany(tx: TenantTx, changes: CompanyMerge[]): Promise<void> {
    if (!changes.length) return;
    const byId = Object.fromEntries(changes.map(({ id, ...change }) => [id, change]));
    const field = (name: keyof CompanyMerge): string =>
      `(CAST(:changes AS jsonb) -> CAST(id AS text) ->> '${name}')`;
    const name = field('name');
    const industry = `coalesce(${field('industry')}, industry)`;
    const phone = `coalesce(${field('phone')}, phone)`;
    const address =
      `CASE WHEN ${field('country')} IS NULL THEN address ` +
      `ELSE coalesce(address, '{}') || jsonb_build_object('country', ${field('country')}) END`;
    await tx
      .repo(Company)
      .updateQuery({
        name: () => name,
        industry: () => industry,
        phone: () => phone,
        address: () => address,
        updatedAt: () => 'now()',
      })
      .andWhere('id = ANY(CAST(:ids AS uuid[]))', { ids: changes.map((c) => c.id) })
      .andWhere(
        `(name, industry, phone, address) IS DISTINCT FROM (${name}, ${industry}, ${phone}, ${address})`,
      )
      .setParameter('changes', JSON.stringify(byId))
      .execute();
  }

  private emitCreated(tx: TenantTx, company: Company): void {
    emitEvent(tx, 'crm.company.created.v1', 'companies', company.id, {
      company: CompanyDto.from(company),
    });
  }

  /**
   * 409 COMPANY_DOMAIN_TAKEN before the 422 owner check (API.md precedence); the unique index
   * still decides between two concurrent writers. `domain` is already lower-cased.
   */
  private async assertDomainFree(
    tx: TenantTx,
    domain: string | null | undefined,
    exceptId?: string,
  ): Promise<void> {
    if (!domain) return;
    const query = tx.query(Company, 'co').andWhere('co.domain = :domain', { domain });
    if (exceptId) query.andWhere('co.id <> :exceptId', { exceptId });
    if (await query.getExists()) throw companyDomainTaken();
  }

  /** Runs a write, answering the unique domain index's refusal as 409 COMPANY_DOMAIN_TAKEN. */
  private async writing<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (e) {
      if (isUniqueViolation(e, COMPANY_DOMAIN_INDEX)) throw companyDomainTaken();
      throw e;
    }
  }
}
