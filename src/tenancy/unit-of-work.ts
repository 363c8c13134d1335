import { AsyncLocalStorage } from 'node:async_hooks';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { PoolClient } from 'pg';
import QueryStream from 'pg-query-stream';
import {
  DataSource,
  type EntityManager,
  type EntityTarget,
  type ObjectLiteral,
  type Repository,
  type SelectQueryBuilder,
} from 'typeorm';
import { TenantCache } from '../common/cache/tenant-cache';
import { AppException } from '../common/errors/app.exception';
import type { ListQueryDto } from '../common/pagination/list-query.dto';
import type { ListResult } from '../common/pagination/list-result.dto';
import { Paginator, type ListOrder, type ListWindow } from '../common/pagination/paginator';
import { queryAndParameters, withShapeSql } from '../common/pagination/sql-shapes';
import { readRows } from '../common/pagination/raw-reads';
import { type Actor, viewOf } from './actor';
import type { Scope } from './permissions';
import { Organization } from './organization.entity';
import { ReplicaReads } from './replica-reads';
import {
  type LiteralRow,
  type ScopedReads,
  ScopedRepository,
  type TenantRow,
} from './scoped-repository';
import { type TenantPolicy, tenantPolicyOf } from './tenant-entity';

/** Row locks a transaction may take on the record it reads (PostgreSQL's `FOR ...`). */
export type RowLock = 'pessimistic_write' | 'pessimistic_read' | 'for_key_share';

/** A domain event recorded by a write (API.md section 12), before it gets its envelope. */
export interface DomainEvent {
  type: string;
  /** `<plural resource>/<id>`, e.g. `deals/4c2e...`. */
  subject: string;
  organizationId: string;
  actorId: string | null;
  requestId: string | null;
  /** The resource under its singular name, exactly as GET returns it, plus `previous`. */
  data: object;
}

/**
 * Where the events of a transaction go, inside that transaction (the outbox, in the events
 * issue). The default records nothing.
 */
export interface EventRecorder {
  /**
   * Records the events in the transaction of `manager` and commits it, in one round trip (the
   * unit of work sends no COMMIT of its own after it). `first`: statements (no parameters) that
   * the same round trip runs before the events (TenantTx.insertAtCommit).
   */
  recordAndCommit(manager: EntityManager, events: DomainEvent[], first?: string[]): Promise<void>;
}
export const EVENT_RECORDER = Symbol('EVENT_RECORDER');

/** Rows a streaming read fetches from its server-side cursor per round trip. */
const CURSOR_BATCH = 500;

/** What a list needs besides its query: the endpoint its cursors belong to, order, filters. */
export interface ListOptions {
  endpoint: string;
  orderBy: string;
  filters?: Record<string, unknown>;
  window?: ListWindow;
  fresh?: boolean;
}

/**
 * Reads in the actor's organization: every query is scoped by organization and, through
 * `visible` and `findVisible`, by the actor's visibility (API.md section 4). Nothing here
 * writes.
 */
export class TenantReader {
  constructor(
    protected readonly manager: EntityManager,
    readonly actor: Actor,
    private readonly paginator: Paginator,
    private readonly dataSource: DataSource,
    /** Its reads go to a replica (ReplicaReads). */
    private readonly replica = false,
  ) {
    if (!actor.organizationId) throw new Error('TenantReader: organizationId is required');
  }

  /** The organization's rows of a tenant table, to read (writes need a transaction: `run`). */
  repo<T extends TenantRow>(entity: EntityTarget<T>): ScopedReads<T> {
    return new ScopedRepository(this.manager, entity, this.actor.organizationId);
  }

  /** A query over the organization's rows of `entity` (every role's view; no owner filter). */
  query<T extends TenantRow>(entity: EntityTarget<T>, alias: string): SelectQueryBuilder<T> {
    return this.repo(entity).query(alias);
  }

  /**
   * THE visibility rule (API.md sections 4 and 16), for every entity: the rows of `entity` the
   * actor may see. The scope of the actor's `read` permission on the entity's resource decides:
   * `all`, the organization's rows; `own`, the rows they own, or whose parent they own (tasks and
   * activities through their deal; joined as `<alias>_owner`); no permission, none. Entities
   * without an owner (pipelines, members) are the organization's.
   */
  visible<T extends TenantRow>(
    entity: EntityTarget<T>,
    alias: string,
    scope: Scope | null = this.readScope(entity),
  ): SelectQueryBuilder<T> {
    const query = this.query(entity, alias);
    const owner = tenantPolicyOf(entity)?.owner;
    if (!owner || scope === 'all') return query;
    if (scope === null) return query.andWhere('FALSE');
    let ownerColumn = `${alias}.owner_id`;
    if (owner !== 'self') {
      query.innerJoin(`${alias}.${owner.via}`, `${alias}_owner`);
      ownerColumn = `${alias}_owner.owner_id`;
    }
    return query.andWhere(`${ownerColumn} = :visibleOwnerId`, {
      visibleOwnerId: this.actor.userId,
    });
  }

  /** The scope of the actor's `read` permission on the resource of `entity` (null: none). */
  private readScope(entity: EntityTarget<ObjectLiteral>): Scope | null {
    const policy = tenantPolicyOf(entity);
    if (!policy?.owner) return 'all';
    if (!policy.resource) throw new Error(`${policy?.name} has an owner but no resource`);
    return this.actor.grants.scope(policy.resource, 'read');
  }

  /**
   * The record if the actor may see it, else 404 NOT_FOUND (never 403: API.md section 1).
   * `lock` takes a row lock on the record (in a transaction), not on the parent joined for a
   * member's visibility. In a transaction, when the route changes records of this entity's
   * resource and the role may change only its own (a custom role reading all contacts but
   * updating its own), a visible record the actor does not own is 403 FORBIDDEN.
   */
  async findVisible<T extends TenantRow>(
    entity: EntityTarget<T>,
    id: string,
    options: { lock?: RowLock } = {},
  ): Promise<T> {
    const { policy, scope, query } = this.visibleById(entity, id);
    if (options.lock) query.setLock(options.lock, undefined, ['r']);
    // The text depends on the entity, the visibility (the owner join) and the lock.
    const shape = `findVisible:${policy.name}:${scope ?? 'none'}:${options.lock ?? ''}`;
    const found = await withShapeSql(query, shape).getOne();
    if (!found) throw AppException.notFound(policy.name);
    const write = this.writeScope(policy);
    if (write === 'own' && scope === 'all') {
      const owned = await this.visible(entity, 'r', 'own')
        .andWhere('r.id = :id', { id })
        .getExists();
      if (!owned) throw AppException.forbidden('Your role may change only the records you own');
    }
    return found;
  }

  /**
   * findVisible's read for an answer that is the record's representation (GET by id): the
   * columns `selection(alias)` names (the DTO's, as `selectAs` writes them) and `version` (the
   * ETag) as one raw row that maps straight to the DTO, without TypeORM's entity hydration (a
   * tenth of a read by id's CPU: docs/decisions/0050). Reads only: a record to change is read
   * with findVisible (locks, the `own` write scope).
   */
  async readVisible<T extends TenantRow>(
    entity: EntityTarget<T>,
    id: string,
    selection: (alias: string) => readonly string[],
  ): Promise<T> {
    const { policy, scope, query } = this.visibleById(entity, id);
    const select = [...selection('r'), 'r.version AS "version"'];
    query.select(select);
    // The text depends on the entity, the visibility (the owner join) and the columns.
    const shape = `readVisible:${policy.name}:${scope ?? 'none'}:${select.join(',')}`;
    const [found] = await readRows<T>(query, ...queryAndParameters(query, shape));
    if (!found) throw AppException.notFound(policy.name);
    return found;
  }

  /** The record `id` of `entity` if the actor may see it, as `r` (findVisible, readVisible). */
  private visibleById<T extends TenantRow>(entity: EntityTarget<T>, id: string) {
    // (A tenant row's entity is @TenantScoped: `visible` goes through its policy.)
    const policy = tenantPolicyOf(entity)!;
    const scope = this.readScope(entity);
    const query = this.visible(entity, 'r', scope).andWhere('r.id = :id', { id });
    return { policy, scope, query };
  }

  /**
   * The scope of the route's permission when it writes records of `policy`'s resource inside a
   * transaction (null outside a transaction, or when the route's permission is about something
   * else).
   */
  protected writeScope(_policy: TenantPolicy): Scope | null {
    return null;
  }

  /** The actor's organization (the tenant itself); `lock` in a transaction. */
  async organization(options: { lock?: RowLock } = {}): Promise<Organization> {
    const found = await this.manager.findOne(Organization, {
      where: { id: this.actor.organizationId },
      ...(options.lock ? { lock: { mode: options.lock } } : {}),
    });
    if (!found) throw AppException.notFound('Organization');
    return found;
  }

  /** A page of `query` as API.md section 1 describes, bound to the actor's view. */
  list<Row extends ObjectLiteral, Item>(
    query: SelectQueryBuilder<ObjectLiteral>,
    params: ListQueryDto,
    order: ListOrder,
    options: ListOptions,
    toItem: (row: Row) => Item,
  ): Promise<ListResult<Item>> {
    return this.paginator.list(
      query,
      params,
      order,
      { ...options, view: viewOf(this.actor), replica: this.replica },
      toItem,
    );
  }

  /**
   * The raw rows of `query` as a stream, from a server-side cursor on a connection of its own,
   * which goes back to the pool when the stream closes (its end, an error, or the client going
   * away). For exports: memory stays constant however many rows there are.
   */
  async stream(query: SelectQueryBuilder<ObjectLiteral>): Promise<Readable> {
    const [sql, parameters] = query.getQueryAndParameters();
    const transaction = this.manager.queryRunner;
    const runner = transaction ?? this.dataSource.createQueryRunner();
    const client = (await runner.connect()) as PoolClient;
    // Exports are exempt from DB_STATEMENT_TIMEOUT_MS (a million rows take longer). Outside a
    // transaction the stream gets a read-only one of its own, so the exemption (SET LOCAL) ends
    // with it and holds on the server connection that runs the query, even behind PgBouncer in
    // transaction pooling mode (a session SET would leak to other clients there).
    if (!transaction) await client.query('BEGIN READ ONLY');
    await client.query('SET LOCAL statement_timeout = 0');
    const rows = client.query(
      new QueryStream(sql, parameters as unknown[], { batchSize: CURSOR_BATCH }),
    );
    if (!transaction) {
      // COMMIT ends it whichever way the stream ended (after an error it rolls back).
      rows.once('close', () => {
        void client
          .query('COMMIT')
          .catch(() => undefined)
          .finally(() => void runner.release().catch(() => undefined));
      });
    }
    return rows;
  }
}

/** A transaction in the actor's organization: scoped reads and writes, events, after-commit work. */
export class TenantTx extends TenantReader {
  constructor(
    manager: EntityManager,
    actor: Actor,
    paginator: Paginator,
    dataSource: DataSource,
    private readonly effects: TransactionEffects,
  ) {
    super(manager, actor, paginator, dataSource);
  }

  /**
   * A tenant row of this organization changed: its cached answers are invalidated after the
   * commit. Only a change does it: a transaction that merely read (a consumer that found no
   * webhook to deliver to) leaves the organization's cache warm.
   */
  private changed(recordsEvents: boolean): void {
    this.effects.organizations.add(this.actor.organizationId);
    this.effects.writers.add(this.actor);
    if (recordsEvents) this.effects.wrote = true;
  }

  protected override writeScope(policy: TenantPolicy): Scope | null {
    const requirement = this.actor.requirement;
    if (!requirement || requirement.action === 'read' || requirement.resource !== policy.resource) {
      return null;
    }
    return this.actor.grants.scope(requirement.resource, requirement.action);
  }

  /** The organization's rows of a tenant table, to read and write in this transaction. */
  override repo<T extends TenantRow>(entity: EntityTarget<T>): ScopedRepository<T> {
    const recordsEvents = tenantPolicyOf(entity)?.events !== false;
    return new ScopedRepository(this.manager, entity, this.actor.organizationId, () =>
      this.changed(recordsEvents),
    );
  }

  /**
   * Records a domain event (API.md section 12): it commits with the change, or not at all.
   * `data` holds the resource under its singular name as GET returns it after the change.
   */
  emit(type: string, subject: string, data: object): void {
    this.effects.organizations.add(this.actor.organizationId);
    this.effects.events.push({
      type,
      subject,
      organizationId: this.actor.organizationId,
      actorId: this.actor.apiKeyId ?? (this.actor.userId || null),
      requestId: this.actor.requestId || null,
      data,
    });
  }

  /** Saves the actor's organization (its settings), as returned by `organization()`. */
  saveOrganization(organization: Organization): Promise<Organization> {
    if (organization.id !== this.actor.organizationId) {
      throw new Error('TenantTx: another organization');
    }
    this.changed(true);
    return this.manager.save(organization);
  }

  /**
   * Inserts `rows` of this organization in the commit's round trip instead of a round trip of
   * their own (ScopedRepository.literalInsert: plain values only), before the events: for rows
   * the transaction writes but never reads back, nor needs generated values of (a deal's
   * activities). Until the commit, this transaction's reads do not see them; a failure to insert
   * them fails the commit, and everything rolls back.
   */
  insertAtCommit<R extends TenantRow>(entity: EntityTarget<R>, rows: LiteralRow<R>[]): void {
    if (rows.length) this.effects.atCommit.push(this.repo(entity).literalInsert(rows));
  }

  /** Runs `work` once the transaction has committed (never when it rolls back). */
  afterCommit(work: () => Promise<void> | void): void {
    this.effects.afterCommit.push(work);
  }

  /**
   * The database's current time (clock_timestamp(), as timestamptz text), taken now rather than
   * at the transaction's start: for times that must follow the order in which locked changes
   * were applied (a deal's updatedAt and its activities).
   */
  async clockTimestamp(): Promise<string> {
    const [{ at }] = await this.manager.query<{ at: string }[]>(
      'SELECT clock_timestamp()::text AS at',
    );
    return at;
  }

  /**
   * A transaction-scoped advisory lock on `key` within the organization: transactions that take
   * the same key take turns (imports of one kind into one organization).
   */
  async serialize(key: string): Promise<void> {
    await this.manager.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `${this.actor.organizationId}:${key}`,
    ]);
  }
}

/**
 * Work outside any one organization: sign-up and sign-in, a user's own rows, organizations and
 * tokens. Its repositories refuse tenant tables; `tenant(actor)` enters an organization in the
 * same transaction (registration creates the organization, then its first membership).
 */
export class SystemTx {
  constructor(
    private readonly manager: EntityManager,
    private readonly enter: (manager: EntityManager, actor: Actor) => TenantTx,
  ) {}

  repo<T extends ObjectLiteral>(entity: EntityTarget<T>): Repository<T> {
    if (tenantPolicyOf(entity)) {
      throw new Error(
        `${String((entity as { name?: string }).name)} is a tenant entity: use tenant(actor)`,
      );
    }
    return this.manager.getRepository(entity);
  }

  /** The same transaction, scoped to `actor`'s organization. */
  tenant(actor: Actor): TenantTx {
    return this.enter(this.manager, actor);
  }
}

/** What a transaction leaves to do once it commits. */
interface TransactionEffects {
  organizations: Set<string>;
  /** The actors whose tenant rows changed: they read the primary for a while (ReplicaReads). */
  writers: Set<Actor>;
  /** A tenant row was written: the transaction must record at least one event. */
  wrote: boolean;
  events: DomainEvent[];
  /** Statements (values written in) that the commit's round trip runs first (insertAtCommit). */
  atCommit: string[];
  afterCommit: (() => Promise<void> | void)[];
}

/**
 * The transaction of `UnitOfWork.atomic` that the `run`s and `system`s inside it join: its manager
 * and its effects, and the first failure of a joined run (which dooms it even if caught).
 */
interface AmbientTransaction {
  manager: EntityManager;
  effects: TransactionEffects;
  failed?: { error: unknown };
}

/** Without the events module: the events are dropped, the transaction committed. */
const NO_EVENTS: EventRecorder = {
  recordAndCommit: async (manager, _events, first = []) =>
    void (await manager.query([...first, 'COMMIT'].join(';\n'))),
};

/**
 * THE way feature modules reach tenant data (docs/decisions/0026): `run` opens a transaction in
 * the actor's organization, `read` gives scoped reads without one, `system` does the non-tenant
 * work. After a commit the organizations it wrote have their cached answers (analytics, list
 * totals) invalidated, whoever wrote: a request, an import, a job.
 *
 * `atomic(work)` runs `work` in one transaction that every `run` and `system` called inside it
 * joins instead of opening its own (bulk writes with atomic=true: several service calls, all or
 * nothing). A joined run uses that transaction's manager and adds its events and after-commit
 * work to it; only `atomic` records the events and commits, then invalidates caches and runs
 * the after-commit work. A joined run that fails fails the whole: its error propagates, and
 * even if caught, the transaction rolls back. `read` inside it reads through that transaction
 * (it sees the earlier writes). Outside `atomic`, nothing changes: each `run` is a transaction.
 */
@Injectable()
export class UnitOfWork {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly paginator: Paginator,
    private readonly cache: TenantCache,
    @Optional() @Inject(EVENT_RECORDER) private readonly events: EventRecorder = NO_EVENTS,
    @Optional() private readonly replicas?: ReplicaReads,
  ) {}

  /** The transaction of the `atomic` call the current code runs in, if any. */
  private readonly ambient = new AsyncLocalStorage<AmbientTransaction>();

  /**
   * Scoped reads in the actor's organization, outside a transaction: on a replica when the
   * actor may read one (`actor.replica`, see ReplicaReads), else on the primary.
   */
  read(actor: Actor): TenantReader {
    const ambient = this.ambient.getStore();
    if (ambient) return new TenantReader(ambient.manager, actor, this.paginator, this.dataSource);
    if (actor.replica && this.replicas?.enabled) {
      const { manager, dataSource } = this.replicas;
      return new TenantReader(manager, actor, this.paginator, dataSource, true);
    }
    return new TenantReader(this.dataSource.manager, actor, this.paginator, this.dataSource);
  }

  /**
   * Non-tenant statements outside a transaction, each committed on its own: reads (a user's
   * account), and the single-statement claims of background workers, which must not hold a
   * transaction open. `tenant()` is refused there.
   */
  systemRead(): SystemTx {
    return new SystemTx(this.dataSource.manager, () => {
      throw new Error('systemRead: tenant work needs uow.run or uow.system');
    });
  }

  /** A transaction in the actor's organization. */
  run<T>(actor: Actor, work: (tx: TenantTx) => Promise<T>): Promise<T> {
    return this.transaction((manager, effects) =>
      work(new TenantTx(manager, actor, this.paginator, this.dataSource, effects)),
    );
  }

  /**
   * A transaction for non-tenant work. `readOnly`: a read-only snapshot (REPEATABLE READ), for
   * reads that must agree with each other (a user's data export).
   */
  system<T>(work: (tx: SystemTx) => Promise<T>, options: { readOnly?: boolean } = {}): Promise<T> {
    return this.transaction(
      (manager, effects) =>
        work(
          new SystemTx(
            manager,
            (m, actor) => new TenantTx(m, actor, this.paginator, this.dataSource, effects),
          ),
        ),
      options.readOnly,
    );
  }

  /**
   * Runs `work` in one transaction that the `run`s and `system`s inside it join (see the class
   * comment): all of their writes and events commit together, or none. Inside another `atomic`,
   * joins that one.
   */
  atomic<T>(work: () => Promise<T>): Promise<T> {
    if (this.ambient.getStore()) return work();
    return this.transaction((manager, effects) => {
      const ambient: AmbientTransaction = { manager, effects };
      return this.ambient.run(ambient, async () => {
        const result = await work();
        if (ambient.failed) throw ambient.failed.error;
        return result;
      });
    });
  }

  private async transaction<T>(
    work: (manager: EntityManager, effects: TransactionEffects) => Promise<T>,
    readOnly = false,
  ): Promise<T> {
    const ambient = this.ambient.getStore();
    if (ambient) return this.join(ambient, work);
    const effects: TransactionEffects = {
      organizations: new Set(),
      writers: new Set(),
      wrote: false,
      events: [],
      atCommit: [],
      afterCommit: [],
    };
    const runner = this.dataSource.createQueryRunner();
    let result: T;
    try {
      await runner.startTransaction();
      if (readOnly)
        await runner.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      result = await work(runner.manager, effects);
      // Every change records its event (API.md section 12): a write path that forgot one fails
      // here, in every test that runs it, instead of losing events silently.
      if (effects.wrote && !effects.events.length) {
        throw new Error('unit of work: a transaction wrote tenant rows without recording an event');
      }
      // The last step. With events, the recorder commits in the round trip that records them,
      // after the rows inserted at commit; the runner, released below, is not told (its own
      // COMMIT would be one more round trip, a no-op that PostgreSQL answers with a warning).
      // Without events, the rows inserted at commit (of tables without events) go with a COMMIT;
      // else the runner commits.
      const { events, atCommit } = effects;
      if (events.length) await this.events.recordAndCommit(runner.manager, events, atCommit);
      else if (atCommit.length) await NO_EVENTS.recordAndCommit(runner.manager, [], atCommit);
      else await runner.commitTransaction();
    } catch (error) {
      // As TypeORM's own transaction(): roll back (a failed COMMIT included), keep the error.
      await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
    if (!readOnly) {
      await Promise.all([...effects.organizations].map((id) => this.cache.invalidate(id)));
      if (effects.writers.size) await this.readYourWrites(effects.writers);
    }
    for (const work of effects.afterCommit) await work();
    return result;
  }

  /** A `run` or `system` inside `atomic`: its work in the ambient transaction, nothing committed. */
  private async join<T>(
    ambient: AmbientTransaction,
    work: (manager: EntityManager, effects: TransactionEffects) => Promise<T>,
  ): Promise<T> {
    if (ambient.failed) throw ambient.failed.error;
    try {
      return await work(ambient.manager, ambient.effects);
    } catch (error) {
      ambient.failed = { error };
      throw error;
    }
  }

  /** The writers' next reads, in this request and (for a while) the next ones, see their writes. */
  private async readYourWrites(writers: Set<Actor>): Promise<void> {
    for (const actor of writers) actor.replica = false;
    const users = [...writers].map((actor) => actor.userId).filter(Boolean);
    if (this.replicas && users.length) await this.replicas.wrote(users);
  }
}
