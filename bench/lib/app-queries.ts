/**
 * The SQL the app really runs for its hot paths, captured from the app's own services (their
 * query builders, the unit of work's scoped readers, Paginator, select lists) through a TypeORM logger, instead of being
 * copied by hand: the baseline server and the plan dump then follow the app when its queries
 * change. Only the read paths are captured; nothing here is used by the app itself.
 */
import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { DataSource, type Logger as TypeOrmLogger } from 'typeorm';
import { CursorCodec } from '../../src/common/pagination/cursor.codec';
import { Paginator } from '../../src/common/pagination/paginator';
import type { Actor } from '../../src/tenancy/actor';
import { loadConfig } from '../../src/config/app-config';
import { dataSourceOptions } from '../../src/database/data-source-options';
import { ENTITIES } from '../../src/entities';
import { AnalyticsService } from '../../src/modules/analytics/analytics.service';
import { ContactsService } from '../../src/modules/contacts/contacts.service';
import { ContactListQueryDto } from '../../src/modules/contacts/dto/contact-input.dto';
import { DealsService } from '../../src/modules/deals/deals.service';
import { DealListQueryDto } from '../../src/modules/deals/dto/deal-input.dto';
import { Grants } from '../../src/tenancy/permissions';
import { Role } from '../../src/tenancy/role';
import { PipelinesService } from '../../src/modules/pipelines/pipelines.service';
import { TaskListQueryDto } from '../../src/modules/tasks/dto/task-input.dto';
import { TasksService } from '../../src/modules/tasks/tasks.service';
import { UnitOfWork } from '../../src/tenancy/unit-of-work';

export interface CapturedQuery {
  sql: string;
  params: unknown[];
}

const NOT_QUERIES = /^(START TRANSACTION|BEGIN|COMMIT|ROLLBACK|SET |SHOW |SELECT version\(\))/i;

/** Collects what the services send to PostgreSQL while `capture` runs. */
class CapturingLogger implements TypeOrmLogger {
  bucket: CapturedQuery[] | null = null;
  logQuery(query: string, parameters?: unknown[]): void {
    if (this.bucket && !NOT_QUERIES.test(query.trim()))
      this.bucket.push({ sql: query, params: [...(parameters ?? [])] });
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

export interface AppQueryContext {
  organizationId: string;
  /** The caller (an owner: sees the whole organization, like the benchmark's user). */
  userId: string;
}

// The services take more collaborators than their read paths use; those are left out.
type Loose = never;

/**
 * The app's services over a private DataSource (pool of 2) whose logger records every query.
 * `close()` when done.
 */
export class AppQueries {
  private readonly logger = new CapturingLogger();
  private readonly dataSource: DataSource;
  private contacts!: ContactsService;
  private deals!: DealsService;
  private tasks!: TasksService;
  private analytics!: AnalyticsService;

  constructor(
    url: string,
    private readonly context: AppQueryContext,
  ) {
    this.dataSource = new DataSource(
      Object.assign(
        dataSourceOptions({
          url,
          poolMin: 0,
          poolMax: 2,
          migrationsRun: false,
          entities: ENTITIES,
        }),
        {
          logger: this.logger,
          applicationName: 'crm-bench-capture',
        },
      ),
    );
  }

  async open(): Promise<this> {
    await this.dataSource.initialize();
    const config = loadConfig({
      NODE_ENV: 'test',
      JWT_ACCESS_SECRET: 'bench-capture-access-secret-not-used-for-tokens',
      JWT_REFRESH_SECRET: 'bench-capture-refresh-secret-not-used-for-tokens',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'crm-bench-capture-')),
    });
    const ds = this.dataSource;
    // No cache: every call runs its queries (list totals and analytics included).
    const noCache = {
      getOrCompute: <T>(_kind: unknown, _o: string, _k: string, compute: () => Promise<T>) =>
        compute(),
      invalidate: () => Promise.resolve(),
    } as Loose;
    const paginator = new Paginator(new CursorCodec(config), noCache);
    const uow = new UnitOfWork(ds, paginator, noCache);
    const pipelines = new PipelinesService(uow);
    this.contacts = new ContactsService(uow, undefined as Loose);
    this.deals = new (DealsService as unknown as new (...a: unknown[]) => DealsService)(
      uow,
      config,
      undefined,
      undefined,
      pipelines,
    );
    this.tasks = new TasksService(uow, undefined as Loose);
    this.analytics = new AnalyticsService(uow, noCache, pipelines);
    return this;
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  get actor(): Actor {
    return {
      organizationId: this.context.organizationId,
      userId: this.context.userId,
      role: Role.OWNER,
      grants: Grants.of(Role.OWNER),
      requestId: 'bench-capture',
      ip: '127.0.0.1',
      userAgent: null,
    };
  }

  /** Runs `fn` and returns the queries it sent (an error of `fn`, e.g. a 404, is ignored). */
  async capture<T>(fn: () => Promise<T>): Promise<{ queries: CapturedQuery[]; result?: T }> {
    this.logger.bucket = [];
    let result: T | undefined;
    try {
      result = await fn();
    } catch {
      // a 404 still sent its query
    } finally {
      // keep the bucket only for this call
    }
    const queries = this.logger.bucket;
    this.logger.bucket = null;
    return { queries, result };
  }

  /** GET /contacts (page/pageSize, search, limit/cursor). */
  contactList(query: Record<string, unknown>) {
    return this.capture(() =>
      this.contacts.list(this.actor, plainToInstance(ContactListQueryDto, query)),
    );
  }

  /** GET /deals with filters. */
  dealList(query: Record<string, unknown>) {
    return this.capture(() =>
      this.deals.list(this.actor, plainToInstance(DealListQueryDto, query)),
    );
  }

  /** GET /deals/{id}. */
  dealById(id: string) {
    return this.capture(() => this.deals.get(this.actor, id));
  }

  /** GET /tasks with filters. */
  taskList(query: Record<string, unknown>) {
    return this.capture(() =>
      this.tasks.list(this.actor, plainToInstance(TaskListQueryDto, query)),
    );
  }

  /** GET /analytics/deals/summary (computed, as with the cache off). */
  summary(days = 30) {
    return this.capture(() => this.analytics.summary(this.actor, days));
  }

  /** GET /analytics/deals/funnel of the default pipeline (computed, as with the cache off). */
  funnel() {
    return this.capture(() => this.analytics.funnel(this.actor));
  }
}

/** The owner of the big organization and the organization, looked up by the owner's email. */
export async function benchContext(
  query: (sql: string, params: unknown[]) => Promise<{ rows: Record<string, string>[] }>,
  ownerEmail: string,
): Promise<AppQueryContext> {
  const { rows } = await query(
    `SELECT m.organization_id AS "organizationId", u.id AS "userId"
       FROM users u JOIN organization_members m ON m.user_id = u.id AND m.role = 'owner'
      WHERE u.email = $1`,
    [ownerEmail],
  );
  if (!rows[0]) throw new Error(`no bench owner ${ownerEmail}: run npm run bench:seed first`);
  return { organizationId: rows[0].organizationId, userId: rows[0].userId };
}
