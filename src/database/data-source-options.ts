import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { SnakeNamingStrategy } from './snake-naming.strategy';
import { appTypeParsers } from './timestamptz';

export interface DatabaseOptions {
  url: string;
  poolMin: number;
  poolMax: number;
  migrationsRun: boolean;
  /**
   * Streaming replicas: TypeORM's replication then keeps one pool per server. Everything goes
   * to the primary unless a query runner is asked for a replica (`ReplicaReads` in the tenancy
   * layer does, for the requests' reads).
   */
  readUrls?: string[];
  /** Cancels every statement of the pool's connections after this long (0 or absent: never). */
  statementTimeoutMs?: number;
  /** The entity classes (src/entities.ts, passed in by the composition root). */
  entities: DataSourceOptions['entities'];
}

/** The one definition of the DataSource, shared by the app, the TypeORM CLI and the tests. */
export function dataSourceOptions(db: DatabaseOptions): DataSourceOptions {
  return {
    type: 'postgres',
    ...(db.readUrls?.length
      ? {
          replication: {
            master: { url: db.url },
            slaves: db.readUrls.map((url) => ({ url })),
            defaultMode: 'master' as const,
          },
        }
      : { url: db.url }),
    entities: db.entities,
    migrations: MIGRATIONS,
    migrationsRun: db.migrationsRun,
    migrationsTransactionMode: 'each',
    synchronize: false,
    uuidExtension: 'pgcrypto',
    namingStrategy: new SnakeNamingStrategy(),
    applicationName: 'crm-api',
    extra: {
      min: db.poolMin,
      max: db.poolMax,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
      // pg's type parsers with a faster timestamptz parser (the same Dates: timestamptz.ts).
      types: appTypeParsers,
      // A session default of each connection (RESET returns to it): exempt work sets 0.
      ...(db.statementTimeoutMs ? { statement_timeout: db.statementTimeoutMs } : {}),
    },
  };
}
