import { Injectable } from '@nestjs/common';
import type { SelectQueryBuilder } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { escapeLike, selectAs } from '../../common/pagination/select-as';
import type { EventType } from '../../events/catalog';
import type { Actor } from '../../tenancy/actor';
import { OwnershipService } from '../../tenancy/ownership.service';
import { assertPrecondition } from '../../tenancy/precondition';
import { embedInPage } from '../../tenancy/related-reads';
import { type TenantReader, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { ActivitiesService } from '../activities/activities.service';
import { ActivityType } from '../activities/activity.enums';
import { CompaniesService } from '../companies/companies.service';
import { CompanyDto } from '../companies/dto/company.dto';
import { ContactsService, searchWords } from '../contacts/contacts.service';
import { ContactDto } from '../contacts/dto/contact.dto';
import { emitEvent, hasChanges, previousOf } from '../../events/record';
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
import type { LeadInclude, LeadWithRelationsDto } from './dto/lead-with-relations.dto';
import { withLeadRelations } from './lead-relations';
import { Lead, leadSearchText } from './lead.entity';
import { LeadStatus } from './lead.enums';

/** The columns of a lead's representation. */
export const LEAD_COLUMNS = [
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

/** The orderings of the lead list (alias l), ties broken by id. */
export const LEAD_ORDER = {
  createdAt: { column: 'l.created_at', type: 'timestamptz', id: 'l.id' },
  name: { column: 'l.name', type: 'text', id: 'l.id' },
} as const;

/** Statuses from which PATCH may move between new and contacted. */
const OPEN_STATUSES: readonly LeadStatus[] = [LeadStatus.NEW, LeadStatus.CONTACTED];

const alreadyConverted = (): AppException =>
  AppException.conflict(ErrorCode.LEAD_ALREADY_CONVERTED, 'The lead has already been converted');

const invalidStatus = (status: LeadStatus, action: string): AppException =>
  AppException.conflict(ErrorCode.INVALID_LEAD_STATUS, `A ${status} lead cannot be ${action}`);

/** The filters of a lead list (GET /leads). */
export type LeadFilters = Pick<LeadListQueryDto, 'status' | 'source' | 'ownerId' | 'search'>;

/** 409 LEAD_ALREADY_CONVERTED: a converted lead is read-only and cannot be acted on. */
function assertNotConverted(lead: Lead): void {
  if (lead.status === LeadStatus.CONVERTED) throw alreadyConverted();
}

/**
 * Leads (API.md section 11): the only writer of the leads table. A conversion writes its
 * contact, company, deal and timeline entry through the modules that own them, in one
 * transaction.
 */
@Injectable()
export class LeadsService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly ownership: OwnershipService,
    private readonly contacts: ContactsService,
    private readonly companies: CompaniesService,
    private readonly deals: DealsService,
    private readonly pipelines: PipelinesService,
    private readonly activities: ActivitiesService,
  ) {}

  /**
   * The leads visible to the reader's actor matching `filters` (every word of `search` must
   * occur somewhere, a fragment is enough: trigram-indexed LIKE per word), alias l.
   */
  filtered(reader: TenantReader, filters: LeadFilters): SelectQueryBuilder<Lead> {
    const leads = reader.visible(Lead, 'l');
    const { status, source, ownerId } = filters;
    if (status?.length) leads.andWhere('l.status IN (:...status)', { status });
    if (source !== undefined) leads.andWhere('l.source = :source', { source });
    if (ownerId) leads.andWhere('l.owner_id = :ownerId', { ownerId });
    searchWords(filters.search).forEach((word, i) =>
      leads.andWhere(`${leadSearchText('l')} LIKE :word${i}`, {
        [`word${i}`]: `%${escapeLike(word)}%`,
      }),
    );
    return leads;
  }

  /** GET /leads; with `include`, each lead with its related records. */
  list(actor: Actor, query: LeadListQueryDto): Promise<ListResult<LeadWithRelationsDto>> {
    const reader = this.uow.read(actor);
    const leads = this.filtered(reader, query).select(selectAs('l', LEAD_COLUMNS));
    const { status, source, ownerId, include } = query;
    const page = reader.list(
      leads,
      query,
      LEAD_ORDER[query.orderBy],
      {
        endpoint: 'leads',
        orderBy: query.orderBy,
        filters: {
          status: status ? [...new Set(status)].sort() : null,
          source,
          ownerId,
          words: searchWords(query.search),
        },
      },
      (row: Lead) => LeadDto.from(row),
    );
    if (!include) return page;
    return page.then((found) =>
      embedInPage(found, (items) => withLeadRelations(reader, items, include)),
    );
  }

  /** GET /leads/{id}; with `include`, the lead with its related records (and no ETag). */
  async get(
    actor: Actor,
    id: string,
    include?: readonly LeadInclude[],
  ): Promise<LeadWithRelationsDto> {
    const reader = this.uow.read(actor);
    const lead = LeadDto.from(
      await reader.readVisible(Lead, id, (alias) => selectAs(alias, LEAD_COLUMNS)),
    );
    if (!include) return lead;
    const [withRelations] = await withLeadRelations(reader, [lead], include);
    return withRelations;
  }

  async create(actor: Actor, input: CreateLeadDto): Promise<LeadDto> {
    return this.uow.run(actor, async (tx) => {
      const ownerId = this.ownership.requestedOwner(actor, null, input.ownerId);
      await this.ownership.assertValidOwner(tx, ownerId);
      const leads = tx.repo(Lead);
      const lead = await leads.save({
        ownerId,
        name: input.name,
        email: input.email ?? null,
        phone: input.phone ?? null,
        companyName: input.companyName ?? null,
        source: input.source ?? null,
        status: LeadStatus.NEW,
      });
      const created = LeadDto.from((await leads.findOneBy({ id: lead.id }))!);
      emitEvent(tx, 'crm.lead.created.v1', 'leads', created.id, { lead: created });
      return created;
    });
  }

  /**
   * PATCH, in the precedence order: 404 (visibility), 403 (a member changing ownerId), 409 (a
   * converted lead; a status change from qualified/disqualified), 422 (a new owner who is no
   * member). Absent fields stay; email, phone, companyName and source may be cleared with null.
   */
  async update(actor: Actor, id: string, input: UpdateLeadDto): Promise<LeadDto> {
    return this.uow.run(actor, async (tx) => {
      const lead = await this.findLocked(tx, id);
      const ownerId = this.ownership.requestedOwner(actor, lead.ownerId, input.ownerId);
      assertNotConverted(lead);
      if (input.status !== undefined && input.status !== lead.status) {
        if (!OPEN_STATUSES.includes(lead.status)) {
          throw invalidStatus(lead.status, `set back to ${input.status}`);
        }
      }
      // Only a new owner must be a member: an unchanged owner (who may have left the
      // organization since) is not the client's choice.
      if (ownerId !== lead.ownerId) await this.ownership.assertValidOwner(tx, ownerId);
      const values: Partial<Lead> = {
        ownerId,
        name: input.name ?? lead.name,
        email: input.email === undefined ? lead.email : input.email,
        phone: input.phone === undefined ? lead.phone : input.phone,
        companyName: input.companyName === undefined ? lead.companyName : input.companyName,
        source: input.source === undefined ? lead.source : input.source,
        status: input.status ?? lead.status,
      };
      // PATCH sets only new or contacted: a status change here is an update, not a state event.
      return this.change(tx, lead, values, 'crm.lead.updated.v1');
    });
  }

  async remove(actor: Actor, id: string): Promise<void> {
    await this.uow.run(actor, async (tx) => {
      const lead = await this.findLocked(tx, id);
      await tx.repo(Lead).delete({ id: lead.id });
      // Added to the catalog of API.md section 12, which lists no lead deletion (decision 0029).
      emitEvent(tx, 'crm.lead.deleted.v1', 'leads', lead.id, {
        lead: LeadDto.from(lead),
      });
    });
  }

  /** new/contacted -> qualified; qualified stays (no-op); disqualified and converted: 409. */
  async qualify(actor: Actor, id: string): Promise<LeadDto> {
    return this.uow.run(actor, async (tx) => {
      const lead = await this.findLocked(tx, id);
      assertNotConverted(lead);
      if (lead.status === LeadStatus.DISQUALIFIED) throw invalidStatus(lead.status, 'qualified');
      return this.change(tx, lead, { status: LeadStatus.QUALIFIED }, 'crm.lead.qualified.v1');
    });
  }

  /** new/contacted/qualified -> disqualified with the reason; disqualified and converted: 409. */
  async disqualify(actor: Actor, id: string, reason: string): Promise<LeadDto> {
    return this.uow.run(actor, async (tx) => {
      const lead = await this.findLocked(tx, id);
      assertNotConverted(lead);
      if (lead.status === LeadStatus.DISQUALIFIED) throw invalidStatus(lead.status, 'disqualified');
      return this.change(
        tx,
        lead,
        { status: LeadStatus.DISQUALIFIED, disqualifyReason: reason },
        'crm.lead.disqualified.v1',
      );
    });
  }

  /**
   * Converts a lead into a contact, a company (when it has a companyName) and a deal, in one
   * transaction that first locks the lead row: concurrent conversions of one lead queue on the
   * lock, the first converts it and every later one finds it converted (409), so nothing is
   * created twice. Any failure (e.g. 422 UNSUPPORTED_CURRENCY) rolls everything back.
   *
   * A contact with the lead's email committed by another transaction while this one ran (its
   * insert then meets the unique email index) is reused: the conversion runs once more, from
   * the start, and finds it.
   *
   * Events, in this order: `company.created` (only when it created the company),
   * `contact.created` (only when it created the contact), `deal.created` (recorded by the deals
   * module), then `lead.converted` with `{ lead, contact, deal, company }`.
   *
   * Precedence: 404 (the lead, then the pipeline), 409 (converted, disqualified), 422 (the deal
   * rules of POST /deals: currency, owner).
   */
  async convert(actor: Actor, id: string, input: ConvertLeadDto): Promise<LeadConversionDto> {
    return this.uow.run(actor, (tx) => this.convertIn(tx, id, input));
  }

  private async convertIn(
    tx: TenantTx,
    id: string,
    input: ConvertLeadDto,
  ): Promise<LeadConversionDto> {
    const lead = await this.findLocked(tx, id, { precondition: false });
    // The pipeline is named by the request: its 404 comes before the lead's state (409).
    await this.pipelines.find(tx, input.pipelineId, 'pessimistic_read');
    // If-Match (API.md section 17): after the records' visibility, before the lead's rules.
    assertPrecondition(tx.actor, 'Lead', lead);
    assertNotConverted(lead);
    if (lead.status === LeadStatus.DISQUALIFIED) throw invalidStatus(lead.status, 'converted');

    const company = lead.companyName
      ? await this.companies.findOrCreateByName(tx, lead.companyName, lead.ownerId)
      : null;
    const contact = await this.contacts.findOrCreateByEmail(tx, {
      ownerId: lead.ownerId,
      companyId: company?.id ?? null,
      name: lead.name,
      email: lead.email,
      phone: lead.phone,
    });
    const deal = await this.deals.createIn(
      tx,
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
    const at = await tx.clockTimestamp();
    this.activities.record(
      tx,
      [
        {
          dealId: deal.id,
          authorId: null,
          type: ActivityType.SYSTEM,
          payload: { event: 'converted_from_lead', leadId: lead.id, leadName: lead.name },
        },
      ],
      at,
    );
    const converted = await this.write(
      tx,
      lead,
      {
        status: LeadStatus.CONVERTED,
        convertedContactId: contact.id,
        convertedDealId: deal.id,
      },
      at,
    );
    const conversion: LeadConversionDto = {
      lead: LeadDto.from(converted),
      contact: ContactDto.from(contact),
      company: company && CompanyDto.from(company),
      deal: DealDto.from(deal),
    };
    emitEvent(tx, 'crm.lead.converted.v1', 'leads', lead.id, { ...conversion });
    return conversion;
  }

  /**
   * The lead if the actor may see it, row-locked for the transaction; 404 otherwise. Then the
   * request's If-Match (API.md section 17: 412 unless it names this version), unless the
   * caller checks it itself after other records the request names (`precondition: false`).
   */
  private async findLocked(
    tx: TenantTx,
    id: string,
    { precondition = true }: { precondition?: boolean } = {},
  ): Promise<Lead> {
    const lead = await tx.findVisible(Lead, id, { lock: 'pessimistic_write' });
    if (precondition) assertPrecondition(tx.actor, 'Lead', lead);
    return lead;
  }

  /**
   * Writes `values` and records `type` with the lead after the change and `previous` (its
   * changed fields' earlier values); a no-op change writes and records nothing.
   */
  private async change(
    tx: TenantTx,
    lead: Lead,
    values: Partial<Lead>,
    type: EventType,
  ): Promise<LeadDto> {
    const before = LeadDto.from(lead);
    const after = LeadDto.from(await this.write(tx, lead, values));
    const previous = previousOf(before, after);
    if (hasChanges(previous)) emitEvent(tx, type, 'leads', after.id, { lead: after, previous });
    return after;
  }

  /**
   * Writes `values` (a no-op when nothing changes) and returns the lead as stored. The time
   * (`updatedAt`, and `convertedAt` on conversion) is `at`, else the time of the write: taken
   * once the row lock is held, so it follows the order in which changes were applied.
   */
  private async write(tx: TenantTx, lead: Lead, values: Partial<Lead>, at?: string): Promise<Lead> {
    const changed = (Object.keys(values) as (keyof Lead)[]).some((k) => values[k] !== lead[k]);
    if (!changed) return lead;
    const time = at === undefined ? () => 'clock_timestamp()' : () => 'CAST(:at AS timestamptz)';
    const converting = values.status === LeadStatus.CONVERTED;
    const leads = tx.repo(Lead);
    const update = leads
      .updateQuery({ ...values, updatedAt: time, ...(converting ? { convertedAt: time } : {}) })
      .andWhere('id = :id', { id: lead.id });
    if (at !== undefined) update.setParameter('at', at);
    await update.execute();
    return (await leads.findOneBy({ id: lead.id }))!;
  }
}
