import { Client } from 'pg';
import type { AppConfig } from '../config/app-config';
import { embeddedDatabaseUrl } from '../database/embedded-url';
import { CliError, openDatabase, type CliDatabase } from './cli-context';

export interface BackupTarget extends CliDatabase {
  /** The URL that pg_dump / pg_restore connect to (the same database as `client`). */
  url: string;
}

/**
 * `--database-url` when given; else DATABASE_URL, or the embedded PostgreSQL (that of a
 * running `npm start`, or started here for the time of the command), as the other tools do.
 */
export async function openTarget(
  config: AppConfig,
  databaseUrl: string | undefined,
  log: (line: string) => void,
): Promise<BackupTarget> {
  if (databaseUrl) {
    const client = new Client({ connectionString: databaseUrl, application_name: 'crm-api cli' });
    try {
      await client.connect();
    } catch (error) {
      throw new CliError(`cannot connect to --database-url: ${(error as Error).message}`);
    }
    return { client, url: databaseUrl, close: () => client.end() };
  }
  const db = await openDatabase(config, log);
  return { ...db, url: config.databaseUrl ?? embeddedDatabaseUrl(config.embeddedPg.port) };
}

/** A readable name of the server of a URL, without its password. */
export function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
}
