import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { TenantCache } from '../common/cache/tenant-cache';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { REPLICA_VIEW } from '../common/pagination/raw-reads';

/**
 * Requests' reads from streaming replicas (DATABASE_READ_URLS; docs/decisions/0040), with
 * read-your-writes per user: for DATABASE_READ_AFTER_WRITE_MS after a user's write committed,
 * that user's reads go to the primary, on every app copy (the mark lives in the shared cache:
 * Redis when configured). Everything else reads the primary: transactions, background workers
 * (they act on events just committed), sign-in, and requests of a user who just wrote.
 */
@Injectable()
export class ReplicaReads {
  readonly enabled: boolean;
  /** A view of the DataSource whose every query runner is a replica's (TypeORM picks one). */
  readonly dataSource: DataSource;
  /** Reads outside a transaction, on replicas. */
  readonly manager: EntityManager;
  private readonly afterWriteMs: number;

  constructor(
    @InjectDataSource() primary: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly cache: TenantCache,
  ) {
    this.enabled = config.db.readUrls.length > 0;
    this.afterWriteMs = config.db.readAfterWriteMs;
    this.dataSource = this.enabled ? replicaView(primary) : primary;
    this.manager = this.enabled ? new EntityManager(this.dataSource) : primary.manager;
  }

  /** Whether `userId`'s reads may go to a replica now (false when in doubt). */
  async allowedFor(userId: string): Promise<boolean> {
    if (!this.enabled) return false;
    return !(await this.cache.wroteRecently(userId));
  }

  /** After a commit: the writers read the primary for the next DATABASE_READ_AFTER_WRITE_MS. */
  async wrote(userIds: Iterable<string>): Promise<void> {
    if (!this.enabled || this.afterWriteMs === 0) return;
    await Promise.all([...userIds].map((id) => this.cache.markWriter(id, this.afterWriteMs)));
  }
}

/**
 * The DataSource, except that its query runners are replicas' ("slave" in TypeORM's
 * replication): query builders and managers made from it read replicas; a write through it would
 * fail on the read-only server, never reach the primary by mistake.
 */
function replicaView(primary: DataSource): DataSource {
  return Object.create(primary, {
    createQueryRunner: { value: () => primary.createQueryRunner('slave') },
    defaultReplicationModeForReads: { value: () => 'slave' },
    // Raw reads (readRows) run through its query runners too.
    [REPLICA_VIEW]: { value: true },
  }) as DataSource;
}
