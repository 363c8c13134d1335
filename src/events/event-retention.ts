import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

/** How often each copy tries to purge, and how many events one statement deletes. */
const PURGE_EVERY_MS = 60 * 60 * 1000;
const PURGE_BATCH = 10_000;

/**
 * Retention of domain events (API.md section 12): events older than EVENTS_RETENTION_DAYS are
 * deleted, oldest first, in batches, once published (an event still in the outbox because the
 * broker was down for longer than the retention is kept until the relay published it). Every copy tries once at start and then hourly, but only
 * one at a time purges: the run holds a transaction-scoped advisory lock, and a copy that does
 * not get it skips the round. The purge is idempotent, so a copy dying midway loses nothing
 * (the next round continues); no work depends on this process's timer.
 */
@Injectable()
export class EventRetention implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(EventRetention.name);
  private timer?: NodeJS.Timeout;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const run = (): void =>
      void this.purge().catch((error: unknown) =>
        this.logger.warn(`event retention: ${(error as Error).message}`),
      );
    this.timer = setInterval(run, PURGE_EVERY_MS);
    this.timer.unref();
    setImmediate(run);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Deletes the expired events; null when another copy is purging. */
  async purge(now = new Date()): Promise<number | null> {
    if (!this.dataSource.isInitialized) return null;
    const cutoff = new Date(now.getTime() - this.config.eventsRetentionDays * 86_400_000);
    return this.dataSource.transaction(async (manager) => {
      const [{ locked }] = await manager.query<{ locked: boolean }[]>(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('events:retention', 0)) AS locked",
      );
      if (!locked) return null;
      let deleted = 0;
      for (;;) {
        const [, count] = await manager.query<[unknown, number]>(
          `DELETE FROM events WHERE seq IN (
             SELECT seq FROM events WHERE created_at < $1 AND published_at IS NOT NULL
              ORDER BY seq LIMIT ${PURGE_BATCH})`,
          [cutoff],
        );
        deleted += count;
        if (count < PURGE_BATCH) return deleted;
      }
    });
  }
}
