import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { RetentionRunner } from './retention/retention-runner';

/** The name of the events' retention job (its advisory lock: `events:retention`). */
export const EVENTS_RETENTION_JOB = 'events';

/**
 * Retention of domain events (API.md section 12): events older than EVENTS_RETENTION_DAYS are
 * deleted, oldest first, in batches, once published (an event still in the outbox because the
 * broker was down for longer than the retention is kept until the relay published it). A job
 * of the RetentionRunner, which runs it hourly (RETENTION_INTERVAL_MS) in one copy at a time.
 */
@Injectable()
export class EventRetention implements OnModuleInit {
  constructor(
    private readonly runner: RetentionRunner,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.runner.register({
      name: EVENTS_RETENTION_JOB,
      table: 'events',
      key: 'seq',
      ordered: true,
      condition: 'created_at < $1 AND published_at IS NOT NULL',
      cutoff: (now) => new Date(now.getTime() - this.config.eventsRetentionDays * 86_400_000),
    });
  }

  /** Deletes the expired events now; null when another copy is purging. */
  async purge(now = new Date()): Promise<number | null> {
    const run = await this.runner.run(EVENTS_RETENTION_JOB, now);
    if (run.outcome === 'failed') throw new Error(run.error);
    return run.outcome === 'skipped' ? null : run.deleted;
  }
}
