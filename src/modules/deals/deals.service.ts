import { Inject, Injectable } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import type { SelectQueryBuilder } from 'typeorm';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { selectAs } from '../../common/pagination/select-as';
import { assertSupportedCurrency } from '../../common/validation/currency';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import type { Actor } from '../../tenancy/actor';
import { OwnershipService } from '../../tenancy/ownership.service';
import { embedInPage } from '../../tenancy/related-reads';
import { assertPrecondition } from '../../tenancy/precondition';
import { type TenantReader, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { ActivitiesService, type NewActivity } from '../activities/activities.service';
import { ActivityType } from '../activities/activity.enums';
import { Contact } from '../contacts/contact.entity';
import { PipelinesService, stageKeys, stageLockSql } from '../pipelines/pipelines.service';
import { emitDealChanged, emitDealCreated, emitDealDeleted } from './deal-events';
import { applyDealChange, creationEvents, type DealEvent, initialDealState } from './deal-rules';
import { DealStatus } from './deal.enums';
import { Deal } from './deal.entity';
import { CreateDealDto, DealListQueryDto, UpdateDealDto } from './dto/deal-input.dto';
import { DEAL_COLUMNS, DealDto } from './dto/deal.dto';
import { type DealInclude, type DealWithRelationsDto } from './dto/deal-with-relations.dto';
import { withDealRelations } from './deal-relations';

/** What PATCH and the deal actions may change; only `lose` sets a lost reason. */
type DealChangeInput = UpdateDealDto & { lostReason?: string };

/** The orderings of the deal list (ties broken by id). */
export const DEAL_ORDER = {
  createdAt: { column: 'd.created_at', type: 'timestamptz', id: 'd.id' },
  updatedAt: { column: 'd.updated_at', type: 'timestamptz', id: 'd.id' },
  amount: { column: 'd.amount', type: 'numeric', id: 'd.id' },
  title: { column: 'd.title', type: 'text', id: 'd.id' },
} as const;

/** The filters of a deal list or export (GET /deals, the CSV export). */
export type DealFilters = Pick<
  DealListQueryDto,
  'status' | 'stage' | 'pipelineId' | 'ownerId' | 'contactId' | 'minAmount' | 'maxAmount'
>;

/**
 * Deals (API.md section 5): the only writer of the deals table. Lead conversion creates its
 * deal through `createIn`, inside its own transaction.
 */
@Injectable()
export class DealsService {
  constructor(
    private readonly uow: UnitOfWork,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ownership: OwnershipService,
    private readonly activities: ActivitiesService,
    private readonly pipelines: PipelinesService,
  ) {}

  /**
   * The deals visible to the reader's actor matching `filters`, alias `d` (nothing selected):
   * the list and the CSV export share it.
   */
  filtered(reader: TenantReader, filters: DealFilters): SelectQueryBuilder<Deal> {
    const deals = reader.visible(Deal, 'd');
    const { status, stage, pipelineId, ownerId, contactId, minAmount, maxAmount } = filters;
    if (status?.length) deals.andWhere('d.status IN (:...status)', { status });
    if (stage) deals.andWhere('d.stage = :stage', { stage });
    if (pipelineId) deals.andWhere('d.pipeline_id = :pipelineId', { pipelineId });
    if (ownerId) deals.andWhere('d.owner_id = :ownerId', { ownerId });
    if (contactId) deals.andWhere('d.contact_id = :contactId', { contactId });
    if (minAmount) deals.andWhere('d.amount >= CAST(:minAmount AS numeric)', { minAmount });
    if (maxAmount) deals.andWhere('d.amount <= CAST(:maxAmount AS numeric)', { maxAmount });
    return deals;
  }

  /** GET /deals; with `include`, each deal with its related records (withDealRelations). */
  list(actor: Actor, query: DealListQueryDto): Promise<ListResult<DealWithRelationsDto>> {
    const reader = this.uow.read(actor);
    const deals = this.filtered(reader, query).select(selectAs('d', DEAL_COLUMNS));
    const { status, stage, pipelineId, ownerId, contactId, minAmount, maxAmount, include } = query;
    const page = reader.list(
      deals,
      query,
      DEAL_ORDER[query.orderBy],
      {
        endpoint: 'deals',
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
    if (!include) return page;
    return page.then((found) =>
      embedInPage(found, (items) => withDealRelations(reader, items, include)),
    );
  }

  /** GET /deals/{id}; with `include`, the deal with its related records (and no ETag). */
  async get(
    actor: Actor,
    id: string,
    include?: readonly DealInclude[],
  ): Promise<DealWithRelationsDto> {
    const reader = this.uow.read(actor);
    const deal = DealDto.from(
      await reader.readVisible(Deal, id, (alias) => selectAs(alias, DEAL_COLUMNS)),
    );
    if (!include) return deal;
    const [withRelations] = await withDealRelations(reader, [deal], include);
    return withRelations;
  }

  async create(actor: Actor, input: CreateDealDto): Promise<DealDto> {
    const deal = await this.uow.run(actor, (tx) => this.createIn(tx, input));
    return DealDto.from(deal);
  }

  /**
   * Creates a deal inside the caller's transaction with every rule of POST /deals (lead
   * conversion uses it too).
   */
  async createIn(
    tx: TenantTx,
    input: CreateDealDto,
    options: { contactChosenByServer?: boolean } = {},
  ): Promise<Deal> {
    const { actor } = tx;
    // A client-named contact must be visible to the caller (404 otherwise). Lead conversion
    // passes a contact the server picked itself (reused by email, possibly someone else's).
    if (!options.contactChosenByServer) await tx.findVisible(Contact, input.contactId);
    // The stage lock, then the stages, in two statements (docs/decisions/0033); FOR KEY SHARE
    // is what the foreign key check of the insert takes anyway, and a deletion of the pipeline
    // that committed meanwhile makes this a 404.
    await this.pipelines.lockStagesShared(tx, input.pipelineId);
    const pipeline = await this.pipelines.find(tx, input.pipelineId, 'for_key_share');
    const ownerId = this.ownership.requestedOwner(actor, null, input.ownerId);
    const stages = stageKeys(pipeline);
    const state = initialDealState(input, stages);
    const currency = input.currency ?? (await this.defaultCurrency(tx));
    assertSupportedCurrency(this.config, currency);
    await this.ownership.assertValidOwner(tx, ownerId);
    const created = await tx.repo(Deal).save(
      tx.repo(Deal).create({
        contactId: input.contactId,
        pipelineId: pipeline.id,
        ownerId,
        title: input.title,
        currency,
        ...state,
      }),
    );
    this.activities.record(tx, [
      {
        dealId: created.id,
        authorId: null,
        type: ActivityType.SYSTEM,
        payload: { event: 'deal_created' },
      },
      ...this.changeActivities(actor, created.id, creationEvents(state, actor.role, stages)),
    ]);
    // Here rather than in create(): every creation path (lead conversion too) records it.
    emitDealCreated(tx, DealDto.from(created));
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
   * changes were applied. The UPDATE takes it (clock_timestamp()) and returns it, so the deal
   * and its activities carry the same instant.
   *
   * Against stage edits (docs/decisions/0033): a change that sets a stage or a status takes the
   * pipeline's shared stage lock in the statement that locks the deal, and reads the stages in
   * the next statement, so it judges against the stages a concurrent stage edit leaves, and the
   * edit checks the deals only once this change has committed. Other changes keep the deal's
   * stage and status, which every committed version of the stages accepts: they only read.
   */
  async update(actor: Actor, id: string, input: DealChangeInput): Promise<DealDto> {
    const updated = await this.uow.run(actor, async (tx) => {
      const stageLock = input.stage !== undefined || input.status !== undefined;
      const deal = await this.lockDeal(tx, id, stageLock);
      const pipeline = await this.pipelines.find(tx, deal.pipelineId);
      if (input.contactId !== undefined && input.contactId !== deal.contactId) {
        await tx.findVisible(Contact, input.contactId);
      }
      // If-Match (API.md section 17): after the records' visibility, before the deal's rules.
      assertPrecondition(actor, 'Deal', deal);
      const ownerId = this.ownership.requestedOwner(actor, deal.ownerId, input.ownerId);
      const { next, events } = applyDealChange(deal, input, actor.role, stageKeys(pipeline));
      if (input.currency !== undefined) assertSupportedCurrency(this.config, input.currency);
      if (ownerId !== deal.ownerId) await this.ownership.assertValidOwner(tx, ownerId);

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

      const result = await tx
        .repo(Deal)
        .updateQuery({ ...values, updatedAt: () => 'clock_timestamp()' })
        .andWhere('id = :id', { id: deal.id })
        .returning('updated_at AS "updatedAt", updated_at::text AS "at", version')
        .execute();
      const [{ updatedAt, at, version }] = result.raw as {
        updatedAt: Date;
        at: string;
        version: number;
      }[];
      this.activities.record(tx, this.changeActivities(actor, deal.id, events), at);
      const before = DealDto.from(deal);
      const updated = Object.assign(deal, values, { updatedAt, version });
      emitDealChanged(tx, before, DealDto.from(updated));
      return updated;
    });
    return DealDto.from(updated);
  }

  /**
   * The deal if the actor may see it (404 otherwise), locked FOR UPDATE; with `stageLock`, the
   * same statement takes its pipeline's shared stage lock (evaluated with the row, before the
   * row lock is taken: it never waits for a stage edit while holding the deal).
   */
  private async lockDeal(tx: TenantTx, id: string, stageLock: boolean): Promise<Deal> {
    const query = tx.visible(Deal, 'r').andWhere('r.id = :id', { id });
    if (stageLock) query.addSelect(stageLockSql('shared', 'r.pipeline_id'), 'r_stage_lock');
    const deal = await query.setLock('pessimistic_write', undefined, ['r']).getOne();
    if (!deal) throw AppException.notFound('Deal');
    return deal;
  }

  /** The status_changed / stage_changed activities of a change, by the actor. */
  private changeActivities(actor: Actor, dealId: string, events: DealEvent[]): NewActivity[] {
    return events.map(({ type, from, to }) => ({
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
    await this.uow.run(actor, async (tx) => {
      const deal = await tx.findVisible(Deal, id, { lock: 'pessimistic_write' });
      assertPrecondition(actor, 'Deal', deal);
      await tx.repo(Deal).delete({ id: deal.id });
      emitDealDeleted(tx, DealDto.from(deal));
    });
  }

  /** The organization's default currency, else the server's. */
  private async defaultCurrency(reader: TenantReader): Promise<string> {
    const organization = await reader.organization();
    return organization.defaultCurrency ?? this.config.defaultCurrency;
  }
}
