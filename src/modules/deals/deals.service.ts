import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { Actor } from '../../common/http/request-context';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { Paginator } from '../../common/pagination/paginator';
import { selectAs } from '../../common/pagination/select-as';
import { assertSupportedCurrency } from '../../common/validation/currency';
import { OwnershipService } from '../../common/visibility/ownership.service';
import { visibleTo } from '../../common/visibility/visibility';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { ActivitiesService, type NewActivity } from '../activities/activities.service';
import { ActivityType } from '../activities/activity.enums';
import { ContactsService } from '../contacts/contacts.service';
import { Organization } from '../organizations/organization.entity';
import { PipelinesService, stageKeys } from '../pipelines/pipelines.service';
import { DealAccess } from './deal-access';
import { applyDealChange, creationEvents, type DealEvent, initialDealState } from './deal-rules';
import { DealStatus } from './deal.enums';
import { Deal } from './deal.entity';
import { CreateDealDto, DealListQueryDto, UpdateDealDto } from './dto/deal-input.dto';
import { DealDto } from './dto/deal.dto';

/** What PATCH and the deal actions may change; only `lose` sets a lost reason. */
type DealChangeInput = UpdateDealDto & { lostReason?: string };

const COLUMNS = [
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

const ORDER = {
  createdAt: { column: 'd.created_at', type: 'timestamptz', id: 'd.id' },
  updatedAt: { column: 'd.updated_at', type: 'timestamptz', id: 'd.id' },
  amount: { column: 'd.amount', type: 'numeric', id: 'd.id' },
  title: { column: 'd.title', type: 'text', id: 'd.id' },
} as const;

@Injectable()
export class DealsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly paginator: Paginator,
    private readonly ownership: OwnershipService,
    private readonly access: DealAccess,
    private readonly contacts: ContactsService,
    private readonly activities: ActivitiesService,
    private readonly pipelines: PipelinesService,
  ) {}

  list(actor: Actor, query: DealListQueryDto): Promise<ListResult<DealDto>> {
    const deals = visibleTo(
      this.dataSource.getRepository(Deal).createQueryBuilder('d').select(selectAs('d', COLUMNS)),
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
    return this.paginator.list(
      deals,
      query,
      ORDER[query.orderBy],
      {
        endpoint: 'deals',
        actor,
        orderBy: query.orderBy,
        filters: {
          status: status ? [...status].sort() : null,
          stage,
          pipelineId,
          ownerId,
          contactId,
          minAmount,
          maxAmount,
        },
      },
      (row: Deal) => DealDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<DealDto> {
    return DealDto.from(await this.access.findVisible(this.dataSource.manager, actor, id));
  }

  async create(actor: Actor, input: CreateDealDto): Promise<DealDto> {
    const deal = await this.dataSource.transaction((manager) =>
      this.createIn(manager, actor, input),
    );
    return DealDto.from(deal);
  }

  /**
   * Creates a deal inside the caller's transaction with every rule of POST /deals (lead
   * conversion uses it too).
   */
  async createIn(
    manager: EntityManager,
    actor: Actor,
    input: CreateDealDto,
    options: { contactChosenByServer?: boolean } = {},
  ): Promise<Deal> {
    // A client-named contact must be visible to the caller (404 otherwise). Lead conversion
    // passes a contact the server picked itself (reused by email, possibly someone else's).
    if (!options.contactChosenByServer)
      await this.contacts.findVisible(manager, actor, input.contactId);
    const pipeline = await this.pipelines.find(
      manager,
      actor.organizationId,
      input.pipelineId,
      'pessimistic_read',
    );
    const ownerId = this.ownership.requestedOwner(actor, null, input.ownerId);
    const stages = stageKeys(pipeline);
    const state = initialDealState(input, stages);
    const currency = input.currency ?? (await this.defaultCurrency(manager, actor.organizationId));
    assertSupportedCurrency(this.config, currency);
    await this.ownership.assertValidOwner(actor, ownerId, manager);
    const created = await manager.save(
      manager.create(Deal, {
        organizationId: actor.organizationId,
        contactId: input.contactId,
        pipelineId: pipeline.id,
        ownerId,
        title: input.title,
        currency,
        ...state,
      }),
    );
    await this.activities.record(manager, [
      {
        organizationId: actor.organizationId,
        dealId: created.id,
        authorId: null,
        type: ActivityType.SYSTEM,
        payload: { event: 'deal_created' },
      },
      ...this.changeActivities(actor, created.id, creationEvents(state, actor.role, stages)),
    ]);
    return created;
  }

  /**
   * PATCH. The deal row is locked for the whole transaction, so concurrent changes of one deal
   * apply one after the other, each against the state the previous one left: no lost activity,
   * no status/stage mismatch. The change and its activities commit together.
   *
   * Their time (`updatedAt`, the activities' `createdAt`) is taken once the lock is held, not
   * at the start of the transaction (now()): a transaction that began earlier but waited for
   * the lock applies later, and the timeline and updatedAt must follow the order in which the
   * changes were applied.
   */
  async update(actor: Actor, id: string, input: DealChangeInput): Promise<DealDto> {
    const updated = await this.dataSource.transaction(async (manager) => {
      const deal = await this.access.findVisible(manager, actor, id, true);
      const pipeline = await this.pipelines.find(
        manager,
        actor.organizationId,
        deal.pipelineId,
        'pessimistic_read',
      );
      if (input.contactId !== undefined && input.contactId !== deal.contactId) {
        await this.contacts.findVisible(manager, actor, input.contactId);
      }
      const ownerId = this.ownership.requestedOwner(actor, deal.ownerId, input.ownerId);
      const { next, events } = applyDealChange(deal, input, actor.role, stageKeys(pipeline));
      if (input.currency !== undefined) assertSupportedCurrency(this.config, input.currency);
      if (ownerId !== deal.ownerId) await this.ownership.assertValidOwner(actor, ownerId, manager);

      const values = {
        ...next,
        ownerId,
        title: input.title ?? deal.title,
        currency: input.currency ?? deal.currency,
        contactId: input.contactId ?? deal.contactId,
        // Only `lose` records a reason, when it makes the deal lost; it stays with the
        // (terminal) lost deal: losing a lost deal again is a no-op, as PATCH {status: lost}.
        lostReason:
          input.lostReason !== undefined && next.status !== deal.status
            ? input.lostReason
            : deal.lostReason,
      };
      const changed = (Object.keys(values) as (keyof typeof values)[]).some(
        (key) => values[key] !== deal[key],
      );
      // Setting what is already there is a no-op: nothing written, updatedAt unchanged.
      if (!changed) return deal;

      const result = await manager
        .createQueryBuilder()
        .update(Deal)
        .set({ ...values, updatedAt: () => 'clock_timestamp()' })
        .where('id = :id', { id: deal.id })
        .returning('updated_at AS "updatedAt", updated_at::text AS "at"')
        .execute();
      const [{ updatedAt, at }] = result.raw as { updatedAt: Date; at: string }[];
      await this.activities.record(manager, this.changeActivities(actor, deal.id, events), at);
      return Object.assign(deal, values, { updatedAt });
    });
    return DealDto.from(updated);
  }

  /** The status_changed / stage_changed activities of a change, by the actor. */
  private changeActivities(actor: Actor, dealId: string, events: DealEvent[]): NewActivity[] {
    return events.map(({ type, from, to }) => ({
      organizationId: actor.organizationId,
      dealId,
      authorId: actor.userId,
      type: type === 'status_changed' ? ActivityType.STATUS_CHANGED : ActivityType.STAGE_CHANGED,
      payload: { from, to },
    }));
  }

  /** POST /deals/{id}/move-stage: exactly PATCH {stage}. */
  moveStage(actor: Actor, id: string, stage: string): Promise<DealDto> {
    return this.update(actor, id, { stage });
  }

  /** POST /deals/{id}/win: exactly PATCH {status: won}. */
  win(actor: Actor, id: string): Promise<DealDto> {
    return this.update(actor, id, { status: DealStatus.WON });
  }

  /** POST /deals/{id}/lose: PATCH {status: lost}, keeping the reason. */
  lose(actor: Actor, id: string, reason: string): Promise<DealDto> {
    return this.update(actor, id, { status: DealStatus.LOST, lostReason: reason });
  }

  /** Its tasks and activities go with it (ON DELETE CASCADE). */
  async remove(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const deal = await this.access.findVisible(manager, actor, id, true);
      await manager.delete(Deal, { id: deal.id });
    });
  }

  private async defaultCurrency(manager: EntityManager, organizationId: string): Promise<string> {
    const org = await manager.findOne(Organization, {
      select: { defaultCurrency: true },
      where: { id: organizationId },
    });
    return org?.defaultCurrency ?? this.config.defaultCurrency;
  }
}
