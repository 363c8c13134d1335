import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { SnakeNamingStrategy } from './snake-naming.strategy';

export interface DatabaseOptions {
  url: string;
  poolMin: number;
  poolMax: number;
  migrationsRun: boolean;
  /** The entity classes (src/entities.ts, passed in by the composition root). */
  entities: DataSourceOptions['entities'];
}

/** The one definition of the DataSource, shared by the app, the TypeORM CLI and the tests. */
export function dataSourceOptions(db: DatabaseOptions): DataSourceOptions {
  return {
    type: 'postgres',
    url: db.url,
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
    },
  };
}
