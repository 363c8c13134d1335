/**
 * The DataSource the TypeORM CLI uses (`npm run migration:generate|run|revert`), with the same
 * options as the app. It needs DATABASE_URL, or the embedded server of a running `npm start`.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config';
import { dataSourceOptions } from './src/database/data-source-options';
import { ENTITIES } from './src/entities';
import { embeddedDatabaseUrl } from './src/database/embedded-url';

if (typeof process.loadEnvFile === 'function') {
  try {
    process.loadEnvFile();
  } catch {
    // no .env file
  }
}
const config = loadConfig();

export default new DataSource(
  dataSourceOptions({
    url: config.databaseUrl ?? embeddedDatabaseUrl(config.embeddedPg.port),
    poolMin: 0,
    poolMax: 2,
    migrationsRun: false,
    entities: ENTITIES,
  }),
);
