import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  retentionDeletedRows,
  retentionLastSuccess,
  retentionRuns,
} from '../../common/metrics/metrics';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';

/** Rows one DELETE statement removes at most. */
export const RETENTION_BATCH = 10_000;
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const NAME = /^[a-z][a-z0-9-]{1,62}$/;

/**
 * A retention job: which rows of one table to delete. The runner deletes them in batches of
 * RETENTION_BATCH (`DELETE ... WHERE key IN (SELECT key ... WHERE condition LIMIT n)`), each
 * batch committed on its own.
 */
export interface RetentionJob {
  /** Stable and unique: the metrics' `job` label, the log lines and the advisory lock's key. */
  name: string;
  table: string;
  /**
   * A unique column of `table` the batches are chosen by (default `id`; `ctid` for a table
   * without a single-column key).
   */
  key?: string;
  /**
   * The rows to delete, as SQL over `table`'s columns; `$1` is the cutoff (`cutoff(now)`).
   * It must never match pending work (unpublished events, deliveries still to attempt...).
   */
  condition: string;
  /** The cutoff of a run at `now` (e.g. now minus the retention period). */
  cutoff: (now: Date) => Date;
  /**
   * The table may not exist (yet): a run finds that with `to_regclass` and skips quietly
   * (outcome `ran`, 0 rows), e.g. for a table another feature adds in a later migration.
   */
  optional?: boolean;
  /** Batches oldest first by `key` (e.g. the events' `seq`); unordered otherwise. */
  ordered?: boolean;
}

/** What one run of a job did: rows deleted, or skipped because another copy held its lock. */
export interface RetentionRun {
  job: string;
  outcome: 'ran' | 'skipped' | 'failed';
  deleted: number;
  durationMs: number;
  /** Ran, but the table does not exist (an optional job). */
  missingTable?: boolean;
  error?: string;
}

/**
 * The retention jobs (API.md section 16 "Retention"): every job runs once shortly after start
 * and then every RETENTION_INTERVAL_MS in every copy, but one copy at a time: a run holds a
 * transaction-scoped advisory lock named after its job (`<job>:retention`) on a connection of
 * its own, and a copy that does not get it skips the round. The rows go in batches, each a
 * statement committed on its own (a long purge neither holds one huge transaction nor loses its
 * progress when the copy dies; the next round continues). Nothing depends on this process's
 * timer: a round that did not happen is caught up by the next, in any copy.
 *
 * Feature modules register their jobs (`register`, at module init); each run writes one log
 * line and moves `crm_retention_*` in /metrics. `run(name)` runs one job now (tests, tools).
 */
@Injectable()
export class RetentionRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RetentionRunner.name);
  private readonly jobs = new Map<string, RetentionJob>();
  private timer?: NodeJS.Timeout;
  private first?: NodeJS.Immediate;
  /** The round in progress in this copy (one at a time). */
  private round?: Promise<void>;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Adds a job (before the application has started; names are unique). */
  register(job: RetentionJob): void {
    if (!NAME.test(job.name)) throw new Error(`retention job name "${job.name}": ${NAME}`);
    for (const identifier of [job.table, job.key ?? 'id']) {
      if (!IDENTIFIER.test(identifier)) {
        throw new Error(`retention job ${job.name}: bad identifier "${identifier}"`);
      }
    }
    if (this.jobs.has(job.name)) throw new Error(`two retention jobs are named ${job.name}`);
    this.jobs.set(job.name, job);
  }

  /** The registered jobs' names, in registration order. */
  names(): string[] {
    return [...this.jobs.keys()];
  }

  onApplicationBootstrap(): void {
    const tick = (): void => {
      if (this.round || this.stopped) return;
      this.round = this.runAll()
        .then(() => undefined)
        .finally(() => (this.round = undefined));
    };
    // Once at start (a copy that restarts often still purges), then every interval.
    this.first = setImmediate(tick);
    this.timer = setInterval(tick, this.config.retention.intervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearImmediate(this.first);
    clearInterval(this.timer);
    await this.round?.catch(() => undefined);
  }

  /** Resolves once the scheduled round in progress in this copy, if any, has ended. */
  async settled(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    await this.round;
  }

  /** Every job once, one after the other. */
  async runAll(now = new Date()): Promise<RetentionRun[]> {
    const runs: RetentionRun[] = [];
    for (const name of this.jobs.keys()) {
      if (this.stopped) break;
      runs.push(await this.run(name, now));
    }
    return runs;
  }

  /** Runs one job now (unless another copy is running it: outcome `skipped`). Never rejects. */
  async run(name: string, now = new Date()): Promise<RetentionRun> {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`no retention job is named ${name}`);
    const started = process.hrtime.bigint();
    let result: Omit<RetentionRun, 'job' | 'durationMs'>;
    try {
      result = await this.purge(job, job.cutoff(now));
    } catch (error) {
      result = { outcome: 'failed', deleted: 0, error: (error as Error).message };
    }
    const run: RetentionRun = {
      job: job.name,
      ...result,
      durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
    };
    retentionRuns.inc({ job: job.name, outcome: run.outcome });
    if (run.deleted) retentionDeletedRows.inc({ job: job.name }, run.deleted);
    if (run.outcome === 'ran') retentionLastSuccess.set({ job: job.name }, Date.now() / 1000);
    const line = {
      msg: 'retention run',
      job: run.job,
      outcome: run.outcome,
      deleted: run.deleted,
      durationMs: run.durationMs,
      skipped: run.outcome === 'skipped',
      ...(run.missingTable ? { missingTable: true } : {}),
      ...(run.error ? { error: run.error } : {}),
    };
    if (run.outcome === 'failed') this.logger.warn(line);
    else this.logger.log(line);
    return run;
  }

  private async purge(
    job: RetentionJob,
    cutoff: Date,
  ): Promise<Omit<RetentionRun, 'job' | 'durationMs'>> {
    if (!this.dataSource.isInitialized) return { outcome: 'skipped', deleted: 0 };
    // The lock lives in a transaction of its own connection for the whole run; the batches
    // commit one by one on other connections of the pool.
    const lock = this.dataSource.createQueryRunner();
    await lock.connect();
    try {
      await lock.startTransaction();
      const [{ locked }] = (await lock.query(
        'SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked',
        [`${job.name}:retention`],
      )) as { locked: boolean }[];
      if (!locked) return { outcome: 'skipped', deleted: 0 };
      if (job.optional) {
        const [{ present }] = (await lock.query('SELECT to_regclass($1) IS NOT NULL AS present', [
          job.table,
        ])) as { present: boolean }[];
        if (!present) return { outcome: 'ran', deleted: 0, missingTable: true };
      }
      const key = job.key ?? 'id';
      const sql = `DELETE FROM ${job.table} WHERE ${key} = ANY(ARRAY(
          SELECT ${key} FROM ${job.table} WHERE ${job.condition}
          ${job.ordered ? `ORDER BY ${key}` : ''} LIMIT ${RETENTION_BATCH}))`;
      let deleted = 0;
      while (!this.stopped) {
        const count = await this.dataSource.transaction(async (manager) => {
          // A batch may take longer than a request's DB_STATEMENT_TIMEOUT_MS on a big table.
          await manager.query("SET LOCAL statement_timeout = '5min'");
          const [, affected] = await manager.query<[unknown, number]>(sql, [cutoff]);
          return affected;
        });
        deleted += count;
        if (count < RETENTION_BATCH) break;
      }
      return { outcome: 'ran', deleted };
    } finally {
      await lock.rollbackTransaction().catch(() => undefined);
      await lock.release();
    }
  }
}
