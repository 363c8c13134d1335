import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../common/http/request-context';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { Paginator } from '../../common/pagination/paginator';
import { escapeLike, selectAs } from '../../common/pagination/select-as';
import { OwnershipService } from '../../common/visibility/ownership.service';
import { visibleTo } from '../../common/visibility/visibility';
import { isUniqueViolation } from '../../database/pg-errors';
import { ContactsService, searchWords } from '../contacts/contacts.service';
import { ContactListFiltersDto } from '../contacts/dto/contact-input.dto';
import type { ContactDto } from '../contacts/dto/contact.dto';
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

const COLUMNS = [
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
const ORDER = {
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

@Injectable()
export class CompaniesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly paginator: Paginator,
    private readonly ownership: OwnershipService,
    private readonly contacts: ContactsService,
  ) {}

  list(actor: Actor, query: CompanyListQueryDto): Promise<ListResult<CompanyDto>> {
    const companies = visibleTo(
      this.dataSource
        .getRepository(Company)
        .createQueryBuilder('co')
        .select(selectAs('co', COLUMNS)),
      actor,
      'co',
    );
    const { ownerId, industry } = query;
    if (ownerId) companies.andWhere('co.owner_id = :ownerId', { ownerId });
    if (industry) companies.andWhere('co.industry = :industry', { industry });
    const words = searchWords(query.search);
    // Every word must occur in name or domain (a fragment is enough): trigram-indexed LIKE per word.
    words.forEach((word, i) =>
      companies.andWhere(`${companySearchText('co')} LIKE :word${i}`, {
        [`word${i}`]: `%${escapeLike(word)}%`,
      }),
    );
    return this.paginator.list(
      companies,
      query,
      ORDER[query.orderBy],
      {
        endpoint: 'companies',
        actor,
        orderBy: query.orderBy,
        filters: { words, ownerId, industry },
      },
      (row: Company) => CompanyDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<CompanyDto> {
    return CompanyDto.from(await findVisibleCompany(this.dataSource.manager, actor, id));
  }

  /** GET /companies/{id}/contacts: 404 unless the company is visible; then its visible contacts. */
  async contactsOf(
    actor: Actor,
    id: string,
    query: ContactListFiltersDto,
  ): Promise<ListResult<ContactDto>> {
    const company = await findVisibleCompany(this.dataSource.manager, actor, id);
    return this.contacts.listOf(actor, query, {
      endpoint: 'company-contacts',
      companyId: company.id,
    });
  }

  async create(actor: Actor, input: CreateCompanyDto): Promise<CompanyDto> {
    try {
      const company = await this.dataSource.transaction((manager) =>
        this.createIn(manager, actor, input),
      );
      return CompanyDto.from(company);
    } catch (e) {
      if (isUniqueViolation(e, COMPANY_DOMAIN_INDEX)) throw companyDomainTaken();
      throw e;
    }
  }

  /**
   * Creates a company inside the caller's transaction with every rule of POST /companies (lead
   * conversion and import may use it). A concurrent writer of the same domain surfaces as a
   * unique violation of COMPANY_DOMAIN_INDEX, which the caller maps (companyDomainTaken).
   */
  async createIn(manager: EntityManager, actor: Actor, input: CreateCompanyDto): Promise<Company> {
    const ownerId = this.ownership.requestedOwner(actor, null, input.ownerId);
    await this.assertDomainFree(manager, actor, input.domain);
    await this.ownership.assertValidOwner(actor, ownerId, manager);
    return manager.save(
      manager.create(Company, {
        organizationId: actor.organizationId,
        ownerId,
        name: input.name,
        domain: input.domain ?? null,
        industry: input.industry ?? null,
        phone: input.phone ?? null,
        address: toAddress(input.address),
        socialProfiles: toSocialProfiles(input.socialProfiles),
      }),
    );
  }

  /** PATCH: only the given properties change; the row is locked for the transaction. */
  async update(actor: Actor, id: string, input: UpdateCompanyDto): Promise<CompanyDto> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const company = await findVisibleCompany(manager, actor, id, 'pessimistic_write');
        const currentOwner = company.ownerId;
        const ownerId = this.ownership.requestedOwner(actor, currentOwner, input.ownerId);
        if (input.domain !== undefined && input.domain !== company.domain) {
          await this.assertDomainFree(manager, actor, input.domain, company.id);
        }
        // Only a new owner must be a member (an unchanged one may have left since).
        if (ownerId !== currentOwner)
          await this.ownership.assertValidOwner(actor, ownerId, manager);

        company.ownerId = ownerId;
        if (input.name !== undefined) company.name = input.name;
        if (input.domain !== undefined) company.domain = input.domain;
        if (input.industry !== undefined) company.industry = input.industry;
        if (input.phone !== undefined) company.phone = input.phone;
        if (input.address !== undefined) company.address = toAddress(input.address);
        if (input.socialProfiles !== undefined) {
          company.socialProfiles = toSocialProfiles(input.socialProfiles);
        }
        // Nothing changed: nothing is written and updatedAt stays.
        return CompanyDto.from(await manager.save(company));
      });
    } catch (e) {
      if (isUniqueViolation(e, COMPANY_DOMAIN_INDEX)) throw companyDomainTaken();
      throw e;
    }
  }

  /** Its contacts stay, unlinked (contacts.company_id is ON DELETE SET NULL). */
  async remove(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const company = await findVisibleCompany(manager, actor, id, 'pessimistic_write');
      await manager.delete(Company, { id: company.id });
    });
  }

  /**
   * 409 COMPANY_DOMAIN_TAKEN before the 422 owner check (API.md precedence); the unique index
   * still decides between two concurrent writers. `domain` is already lower-cased.
   */
  private async assertDomainFree(
    manager: EntityManager,
    actor: Actor,
    domain: string | null | undefined,
    exceptId?: string,
  ): Promise<void> {
    if (!domain) return;
    const query = manager
      .getRepository(Company)
      .createQueryBuilder('co')
      .where('co.organization_id = :organizationId AND co.domain = :domain', {
        organizationId: actor.organizationId,
        domain,
      });
    if (exceptId) query.andWhere('co.id <> :exceptId', { exceptId });
    if (await query.getExists()) throw companyDomainTaken();
  }
}
