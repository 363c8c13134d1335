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
import { ActivitiesService } from '../activities/activities.service';
import { ActivityType } from '../activities/activity.enums';
import { Company } from '../companies/company.entity';
import { CompanyDto } from '../companies/dto/company.dto';
import { Contact } from '../contacts/contact.entity';
import { searchWords } from '../contacts/contacts.service';
import { ContactDto } from '../contacts/dto/contact.dto';
import { DealsService } from '../deals/deals.service';
import { DealDto } from '../deals/dto/deal.dto';
import { PipelinesService } from '../pipelines/pipelines.service';
import {
  ConvertLeadDto,
  CreateLeadDto,
  LeadListQueryDto,
  UpdateLeadDto,
} from './dto/lead-input.dto';
import { LeadConversionDto, LeadDto } from './dto/lead.dto';
import { Lead, leadSearchText } from './lead.entity';
import { LeadStatus } from './lead.enums';

const COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'name',
  'email',
  'phone',
  'companyName',
  'source',
  'status',
  'disqualifyReason',
  'convertedAt',
  'convertedContactId',
  'convertedDealId',
  'createdAt',
  'updatedAt',
] as const;
const ORDER = {
  createdAt: { column: 'l.created_at', type: 'timestamptz', id: 'l.id' },
  name: { column: 'l.name', type: 'text', id: 'l.id' },
} as const;

/** Statuses from which PATCH may move between new and contacted. */
const OPEN_STATUSES: readonly LeadStatus[] = [LeadStatus.NEW, LeadStatus.CONTACTED];

const alreadyConverted = (): AppException =>
  AppException.conflict(ErrorCode.LEAD_ALREADY_CONVERTED, 'The lead has already been converted');

const invalidStatus = (status: LeadStatus, action: string): AppException =>
  AppException.conflict(ErrorCode.INVALID_LEAD_STATUS, `A ${status} lead cannot be ${action}`);

/** 409 LEAD_ALREADY_CONVERTED: a converted lead is read-only and cannot be acted on. */
function assertNotConverted(lead: Lead): void {
  if (lead.status === LeadStatus.CONVERTED) throw alreadyConverted();
}

@Injectable()
export class LeadsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly paginator: Paginator,
    private readonly ownership: OwnershipService,
    private readonly deals: DealsService,
    private readonly pipelines: PipelinesService,
    private readonly activities: ActivitiesService,
  ) {}

  list(actor: Actor, query: LeadListQueryDto): Promise<ListResult<LeadDto>> {
    const leads = visibleTo(
      this.dataSource.getRepository(Lead).createQueryBuilder('l').select(selectAs('l', COLUMNS)),
      actor,
      'l',
    );
    const { status, source, ownerId } = query;
    if (status?.length) leads.andWhere('l.status IN (:...status)', { status });
    if (source !== undefined) leads.andWhere('l.source = :source', { source });
    if (ownerId) leads.andWhere('l.owner_id = :ownerId', { ownerId });
    const words = searchWords(query.search);
    // Every word must occur somewhere (a fragment is enough): trigram-indexed LIKE per word.
    words.forEach((word, i) =>
      leads.andWhere(`${leadSearchText('l')} LIKE :word${i}`, {
        [`word${i}`]: `%${escapeLike(word)}%`,
      }),
    );
    return this.paginator.list(
      leads,
      query,
      ORDER[query.orderBy],
      {
        endpoint: 'leads',
        actor,
        orderBy: query.orderBy,
        filters: {
          status: status ? [...new Set(status)].sort() : null,
          source,
          ownerId,
          words,
        },
      },
      (row: Lead) => LeadDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<LeadDto> {
    return LeadDto.from(await this.findVisible(this.dataSource.manager, actor, id));
  }

  /** The lead if the actor may see it; 404 otherwise. `lock` takes a row lock (in a transaction). */
  async findVisible(manager: EntityManager, actor: Actor, id: string, lock = false): Promise<Lead> {
    const query = visibleTo(
      manager.getRepository(Lead).createQueryBuilder('l'),
      actor,
      'l',
    ).andWhere('l.id = :id', { id });
    if (lock) query.setLock('pessimistic_write');
    const lead = await query.getOne();
    if (!lead) throw AppException.notFound('Lead');
    return lead;
  }

  async create(actor: Actor, input: CreateLeadDto): Promise<LeadDto> {
    const ownerId = this.ownership.requestedOwner(actor, null, input.ownerId);
    await this.ownership.assertValidOwner(actor, ownerId);
    const lead = await this.dataSource.getRepository(Lead).save({
      organizationId: actor.organizationId,
      ownerId,
      name: input.name,
      email: input.email ?? null,
      phone: input.phone ?? null,
      companyName: input.companyName ?? null,
      source: input.source ?? null,
      status: LeadStatus.NEW,
    });
    return LeadDto.from(await this.dataSource.manager.findOneByOrFail(Lead, { id: lead.id }));
  }

  /**
   * PATCH, in the precedence order: 404 (visibility), 403 (a member changing ownerId), 409 (a
   * converted lead; a status change from qualified/disqualified), 422 (a new owner who is no
   * member). Absent fields stay; email, phone, companyName and source may be cleared with null.
   */
  async update(actor: Actor, id: string, input: UpdateLeadDto): Promise<LeadDto> {
    return this.dataSource.transaction(async (manager) => {
      const lead = await this.findVisible(manager, actor, id, true);
      const ownerId = this.ownership.requestedOwner(actor, lead.ownerId, input.ownerId);
      assertNotConverted(lead);
      if (input.status !== undefined && input.status !== lead.status) {
        if (!OPEN_STATUSES.includes(lead.status)) {
          throw invalidStatus(lead.status, `set back to ${input.status}`);
        }
      }
      // Only a new owner must be a member: an unchanged owner (who may have left the
      // organization since) is not the client's choice.
      if (ownerId !== lead.ownerId) await this.ownership.assertValidOwner(actor, ownerId, manager);
      const values: Partial<Lead> = {
        ownerId,
        name: input.name ?? lead.name,
        email: input.email === undefined ? lead.email : input.email,
        phone: input.phone === undefined ? lead.phone : input.phone,
        companyName: input.companyName === undefined ? lead.companyName : input.companyName,
        source: input.source === undefined ? lead.source : input.source,
        status: input.status ?? lead.status,
      };
      return LeadDto.from(await this.write(manager, lead, values));
    });
  }

  async remove(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const lead = await this.findVisible(manager, actor, id, true);
      await manager.delete(Lead, { id: lead.id });
    });
  }

  /** new/contacted -> qualified; qualified stays (no-op); disqualified and converted: 409. */
  async qualify(actor: Actor, id: string): Promise<LeadDto> {
    return this.dataSource.transaction(async (manager) => {
      const lead = await this.findVisible(manager, actor, id, true);
      assertNotConverted(lead);
      if (lead.status === LeadStatus.DISQUALIFIED) throw invalidStatus(lead.status, 'qualified');
      return LeadDto.from(await this.write(manager, lead, { status: LeadStatus.QUALIFIED }));
    });
  }

  /** new/contacted/qualified -> disqualified with the reason; disqualified and converted: 409. */
  async disqualify(actor: Actor, id: string, reason: string): Promise<LeadDto> {
    return this.dataSource.transaction(async (manager) => {
      const lead = await this.findVisible(manager, actor, id, true);
      assertNotConverted(lead);
      if (lead.status === LeadStatus.DISQUALIFIED) throw invalidStatus(lead.status, 'disqualified');
      return LeadDto.from(
        await this.write(manager, lead, {
          status: LeadStatus.DISQUALIFIED,
          disqualifyReason: reason,
        }),
      );
    });
  }

  /**
   * Converts a lead into a contact, a company (when it has a companyName) and a deal, in one
   * transaction that first locks the lead row: concurrent conversions of one lead queue on the
   * lock, the first converts it and every later one finds it converted (409), so nothing is
   * created twice. Any failure (e.g. 422 UNSUPPORTED_CURRENCY) rolls everything back.
   *
   * Precedence: 404 (the lead, then the pipeline), 409 (converted, disqualified), 422 (the deal
   * rules of POST /deals: currency, owner).
   */
  async convert(actor: Actor, id: string, input: ConvertLeadDto): Promise<LeadConversionDto> {
    const result = await this.dataSource.transaction(async (manager) => {
      const lead = await this.findVisible(manager, actor, id, true);
      // The pipeline is named by the request: its 404 comes before the lead's state (409).
      await this.pipelines.find(
        manager,
        actor.organizationId,
        input.pipelineId,
        'pessimistic_read',
      );
      assertNotConverted(lead);
      if (lead.status === LeadStatus.DISQUALIFIED) throw invalidStatus(lead.status, 'converted');

      const company = lead.companyName
        ? await this.findOrCreateCompany(manager, lead, lead.companyName)
        : null;
      const contact = await this.findOrCreateContact(manager, lead, company);
      const deal = await this.deals.createIn(
        manager,
        actor,
        {
          contactId: contact.id,
          title: input.dealTitle ?? lead.name,
          amount: input.amount,
          currency: input.currency,
          pipelineId: input.pipelineId,
          ownerId: lead.ownerId,
        },
        { contactChosenByServer: true },
      );
      // One time for the lead's conversion and its timeline entry, taken under the lead lock and
      // after deal_created (stamped at the transaction start), so the timeline shows it last.
      const [{ at }] = await manager.query<{ at: string }[]>(
        `SELECT clock_timestamp()::text AS at`,
      );
      await this.activities.record(
        manager,
        [
          {
            organizationId: actor.organizationId,
            dealId: deal.id,
            authorId: null,
            type: ActivityType.SYSTEM,
            payload: { event: 'converted_from_lead', leadId: lead.id, leadName: lead.name },
          },
        ],
        at,
      );
      const converted = await this.write(
        manager,
        lead,
        {
          status: LeadStatus.CONVERTED,
          convertedContactId: contact.id,
          convertedDealId: deal.id,
        },
        at,
      );
      return {
        lead: LeadDto.from(converted),
        contact: ContactDto.from(contact),
        company: company && CompanyDto.from(company),
        deal: DealDto.from(deal),
      };
    });
    return result;
  }

  /**
   * The organization's company whose name matches (case-insensitive; the oldest when several
   * do), whoever owns it, else a new one owned by the lead's owner. A transaction-scoped
   * advisory lock on (organization, lower(name)) serializes conversions naming the same company,
   * so two leads converted at once do not create it twice.
   */
  private async findOrCreateCompany(
    manager: EntityManager,
    lead: Lead,
    name: string,
  ): Promise<Company> {
    await manager.query(
      `SELECT pg_advisory_xact_lock(hashtextextended('lead-company:' || $1 || ':' || lower($2), 0))`,
      [lead.organizationId, name],
    );
    const existing = await manager
      .getRepository(Company)
      .createQueryBuilder('co')
      .where('co.organization_id = :organizationId AND lower(co.name) = lower(:name)', {
        organizationId: lead.organizationId,
        name,
      })
      .orderBy('co.created_at', 'ASC')
      .addOrderBy('co.id', 'ASC')
      .limit(1)
      .getOne();
    if (existing) return existing;
    const created = await manager.save(
      manager.create(Company, {
        organizationId: lead.organizationId,
        ownerId: lead.ownerId,
        name,
      }),
    );
    return manager.findOneByOrFail(Company, { id: created.id });
  }

  /**
   * The organization's contact with the lead's email (case-insensitive), whoever owns it and
   * left unchanged; else a new contact owned by the lead's owner with the lead's name, email and
   * phone, linked to the company. A contact with that email committed by someone else meanwhile
   * is reused too (the insert yields to uq_contacts_org_email_ci instead of failing).
   */
  private async findOrCreateContact(
    manager: EntityManager,
    lead: Lead,
    company: Company | null,
  ): Promise<Contact> {
    const byEmail = async (email: string): Promise<Contact | null> =>
      manager
        .getRepository(Contact)
        .createQueryBuilder('c')
        .where(
          'c.organization_id = :organizationId AND c.email IS NOT NULL AND lower(c.email) = lower(:email)',
          { organizationId: lead.organizationId, email },
        )
        .getOne();
    if (lead.email) {
      const existing = await byEmail(lead.email);
      if (existing) return existing;
    }
    const inserted = await manager
      .createQueryBuilder()
      .insert()
      .into(Contact)
      .values({
        organizationId: lead.organizationId,
        ownerId: lead.ownerId,
        companyId: company?.id ?? null,
        name: lead.name,
        email: lead.email,
        phone: lead.phone,
      })
      .orIgnore()
      .returning('id')
      .execute();
    const [row] = inserted.raw as { id: string }[];
    if (row) return manager.findOneByOrFail(Contact, { id: row.id });
    // Only the email index can refuse the insert: that contact now exists (committed).
    const existing = lead.email ? await byEmail(lead.email) : null;
    if (!existing) throw new Error('contact insert ignored without a conflicting contact');
    return existing;
  }

  /**
   * Writes `values` (a no-op when nothing changes) and returns the lead as stored. The time
   * (`updatedAt`, and `convertedAt` on conversion) is `at`, else the time of the write: taken
   * once the row lock is held, so it follows the order in which changes were applied.
   */
  private async write(
    manager: EntityManager,
    lead: Lead,
    values: Partial<Lead>,
    at?: string,
  ): Promise<Lead> {
    const changed = (Object.keys(values) as (keyof Lead)[]).some((k) => values[k] !== lead[k]);
    if (!changed) return lead;
    const time = at === undefined ? () => 'clock_timestamp()' : () => 'CAST(:at AS timestamptz)';
    const converting = values.status === LeadStatus.CONVERTED;
    await manager
      .createQueryBuilder()
      .update(Lead)
      .set({ ...values, updatedAt: time, ...(converting ? { convertedAt: time } : {}) })
      .where('id = :id', { id: lead.id })
      .setParameters(at === undefined ? {} : { at })
      .execute();
    return manager.findOneByOrFail(Lead, { id: lead.id });
  }
}
