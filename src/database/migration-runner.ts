import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

/** Arbitrary but fixed: the advisory lock every app copy takes before migrating. */
const MIGRATION_LOCK_KEY = 7_274_563_001;

/**
 * Runs pending migrations at start-up (DB_MIGRATIONS_RUN). Several copies may start at once
 * against one database (compose replicas, rolling deploys): a session-level advisory lock
 * makes them migrate one after the other; the later ones find nothing left to do.
 */
@Injectable()
export class MigrationRunner implements OnModuleInit {
  private readonly logger = new Logger(MigrationRunner.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.db.migrationsRun) return;
    // A data source of their own, without DB_STATEMENT_TIMEOUT_MS: a migration may rebuild an
    // index over millions of rows.
    const { options } = this.dataSource;
    const extra = { ...((options as { extra?: object }).extra ?? {}) } as Record<string, unknown>;
    delete extra.statement_timeout;
    const migrations = new DataSource({ ...options, extra: { ...extra, min: 0, max: 2 } });
    await migrations.initialize();
    const lock = migrations.createQueryRunner();
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const applied = await migrations.runMigrations({ transaction: 'each' });
      if (applied.length)
        this.logger.log(`applied migrations: ${applied.map((m) => m.name).join(', ')}`);
    } finally {
      await lock
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
      await lock.release();
      await migrations.destroy();
    }
  }
}
