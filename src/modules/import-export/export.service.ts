import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Actor } from '../../common/http/request-context';
import { escapeLike, selectAs } from '../../common/pagination/select-as';
import { visibleTo } from '../../common/visibility/visibility';
import { Company, companySearchText, type SocialProfile } from '../companies/company.entity';
import { Contact, contactSearchText } from '../contacts/contact.entity';
import { searchWords } from '../contacts/contacts.service';
import { Deal } from '../deals/deal.entity';
import { csvStream } from './csv/csv-export';
import type {
  CompanyExportQueryDto,
  ContactExportQueryDto,
  DealExportQueryDto,
} from './dto/export-query.dto';

/** The columns of each export, in order: the fields of the API representation. */
export const CONTACT_EXPORT_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'companyId',
  'name',
  'email',
  'phone',
  'createdAt',
  'updatedAt',
] as const;

/** A company's address is spread over one column per part; socialProfiles is JSON. */
export const COMPANY_EXPORT_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'name',
  'domain',
  'industry',
  'phone',
  'addressLine1',
  'addressLine2',
  'addressCity',
  'addressRegion',
  'addressPostalCode',
  'addressCountry',
  'socialProfiles',
  'createdAt',
  'updatedAt',
] as const;

const ADDRESS_PARTS = {
  addressLine1: 'line1',
  addressLine2: 'line2',
  addressCity: 'city',
  addressRegion: 'region',
  addressPostalCode: 'postalCode',
  addressCountry: 'country',
} as const;

export const DEAL_EXPORT_COLUMNS = [
  'id',
  'organizationId',
  'contactId',
  'pipelineId',
  'ownerId',
  'title',
  'amount',
  'currency',
  'status',
  'stage',
  'lostReason',
  'createdAt',
  'updatedAt',
] as const;

/** The orderings of the list endpoints (ties broken by id, as there). */
const CONTACT_ORDER = { createdAt: 'c.created_at', name: 'c.name' } as const;
const COMPANY_ORDER = { createdAt: 'co.created_at', name: 'co.name' } as const;
const DEAL_ORDER = {
  createdAt: 'd.created_at',
  updatedAt: 'd.updated_at',
  amount: 'd.amount',
  title: 'd.title',
} as const;

const direction = (order: 'asc' | 'desc'): 'ASC' | 'DESC' => (order === 'asc' ? 'ASC' : 'DESC');

/**
 * CSV exports: the query of the list endpoint (same visibility, filters and order, no pages)
 * streamed from a database cursor through csv-stringify.
 */
@Injectable()
export class ExportService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** As ContactsService.list. */
  contacts(actor: Actor, query: ContactExportQueryDto): Promise<Readable> {
    const contacts = visibleTo(
      this.dataSource
        .getRepository(Contact)
        .createQueryBuilder('c')
        .select(selectAs('c', CONTACT_EXPORT_COLUMNS)),
      actor,
      'c',
    );
    const { ownerId, companyId } = query;
    if (ownerId) contacts.andWhere('c.owner_id = :ownerId', { ownerId });
    if (companyId) contacts.andWhere('c.company_id = :companyId', { companyId });
    searchWords(query.search).forEach((word, i) =>
      contacts.andWhere(`${contactSearchText('c')} LIKE :word${i}`, {
        [`word${i}`]: `%${escapeLike(word)}%`,
      }),
    );
    const dir = direction(query.order);
    contacts.orderBy(CONTACT_ORDER[query.orderBy], dir).addOrderBy('c.id', dir);
    return csvStream(this.dataSource, contacts, CONTACT_EXPORT_COLUMNS);
  }

  /** As CompaniesService.list. */
  companies(actor: Actor, query: CompanyExportQueryDto): Promise<Readable> {
    const companies = visibleTo(
      this.dataSource
        .getRepository(Company)
        .createQueryBuilder('co')
        .select(
          selectAs('co', [
            'id',
            'organizationId',
            'ownerId',
            'name',
            'domain',
            'industry',
            'phone',
          ]),
        )
        .addSelect(
          Object.entries(ADDRESS_PARTS).map(
            ([column, part]) => `co.address->>'${part}' AS "${column}"`,
          ),
        )
        .addSelect(selectAs('co', ['socialProfiles', 'createdAt', 'updatedAt'])),
      actor,
      'co',
    );
    const { ownerId, industry } = query;
    if (ownerId) companies.andWhere('co.owner_id = :ownerId', { ownerId });
    if (industry) companies.andWhere('co.industry = :industry', { industry });
    searchWords(query.search).forEach((word, i) =>
      companies.andWhere(`${companySearchText('co')} LIKE :word${i}`, {
        [`word${i}`]: `%${escapeLike(word)}%`,
      }),
    );
    const dir = direction(query.order);
    companies.orderBy(COMPANY_ORDER[query.orderBy], dir).addOrderBy('co.id', dir);
    return csvStream(this.dataSource, companies, COMPANY_EXPORT_COLUMNS, {
      // As the API shows them: [{network, url}] (jsonb keeps its keys in another order).
      socialProfiles: (profiles) =>
        JSON.stringify((profiles as SocialProfile[]).map(({ network, url }) => ({ network, url }))),
    });
  }

  /** As DealsService.list. */
  deals(actor: Actor, query: DealExportQueryDto): Promise<Readable> {
    const deals = visibleTo(
      this.dataSource
        .getRepository(Deal)
        .createQueryBuilder('d')
        .select(selectAs('d', DEAL_EXPORT_COLUMNS)),
      actor,
      'd',
    );
    const { status, stage, pipelineId, ownerId, contactId, minAmount, maxAmount } = query;
    if (status?.length) deals.andWhere('d.status IN (:...status)', { status });
    if (stage) deals.andWhere('d.stage = :stage', { stage });
    if (pipelineId) deals.andWhere('d.pipeline_id = :pipelineId', { pipelineId });
    if (ownerId) deals.andWhere('d.owner_id = :ownerId', { ownerId });
    if (contactId) deals.andWhere('d.contact_id = :contactId', { contactId });
    if (minAmount) deals.andWhere('d.amount >= CAST(:minAmount AS numeric)', { minAmount });
    if (maxAmount) deals.andWhere('d.amount <= CAST(:maxAmount AS numeric)', { maxAmount });
    const dir = direction(query.order);
    deals.orderBy(DEAL_ORDER[query.orderBy], dir).addOrderBy('d.id', dir);
    return csvStream(this.dataSource, deals, DEAL_EXPORT_COLUMNS);
  }
}
