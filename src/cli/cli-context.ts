import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Client } from 'pg';
import { loadConfig, type AppConfig } from '../config/app-config';
import { EmbeddedDatabase } from '../database/embedded-postgres';
import { embeddedDatabaseUrl } from '../database/embedded-url';

/**
 * What the command-line tools share (`npm run events:replay`, `events:dlq`, `db:backup`,
 * `seed:demo`...): the app's configuration (the environment, and `.env` if present), the database
 * (its URL, or a connection to it) and argument
 * errors that end the process with status 2 and the usage.
 */

/** A failure the user can act on: its message alone, exit status 1. */
export class CliError extends Error {}
/** Wrong arguments: the message and the usage, exit status 2. */
export class UsageError extends CliError {}

export function loadCliConfig(): AppConfig {
  try {
    process.loadEnvFile();
  } catch {
    // no .env file
  }
  return loadConfig();
}

export function parse<T extends ParseArgsConfig['options']>(
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; args: string[] }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export interface CliDatabase {
  client: Client;
  close: () => Promise<void>;
}

export interface CliDatabaseUrl {
  url: string;
  /** Stops the embedded PostgreSQL when this command started it; else nothing. */
  close: () => Promise<void>;
}

/**
 * DATABASE_URL; without it the embedded PostgreSQL: the one a running `npm start` serves, or
 * else started here on its data directory for the time of the command. A data directory that
 * holds no database yet is refused, unless `initialise` (a command that boots the app, which
 * migrates it, may create it as `npm start` would).
 */
export async function findDatabase(
  config: AppConfig,
  log: (line: string) => void,
  { initialise = false }: { initialise?: boolean } = {},
): Promise<CliDatabaseUrl> {
  const nothing = (): Promise<void> => Promise.resolve();
  if (config.databaseUrl) return { url: config.databaseUrl, close: nothing };
  const url = embeddedDatabaseUrl(config.embeddedPg.port);
  try {
    const probe = new Client({ connectionString: url, application_name: 'crm-api cli' });
    await probe.connect();
    await probe.end();
    return { url, close: nothing };
  } catch {
    // not running: started below
  }
  if (!initialise && !existsSync(join(config.embeddedPg.dir, 'PG_VERSION'))) {
    throw new CliError(
      `no database: DATABASE_URL is not set and ${config.embeddedPg.dir} holds no embedded PostgreSQL yet (run npm start once)`,
    );
  }
  const server = new EmbeddedDatabase({
    dir: config.embeddedPg.dir,
    port: config.embeddedPg.port,
    persistent: true,
    log,
  });
  await server.start();
  return { url, close: () => server.stop() };
}

/** A connection to the database `findDatabase` finds. */
export async function openDatabase(
  config: AppConfig,
  log: (line: string) => void,
): Promise<CliDatabase> {
  const database = await findDatabase(config, log);
  const client = new Client({ connectionString: database.url, application_name: 'crm-api cli' });
  try {
    await client.connect();
  } catch (error) {
    await database.close();
    throw error;
  }
  return {
    client,
    close: async () => {
      await client.end();
      await database.close();
    },
  };
}

/** A generated file: where it is committed, and the text its generator makes now. */
export interface GeneratedFile {
  file: string;
  text: string;
}

/**
 * Writes generated files (`npm run openapi`, `npm run postman`), or with `check` only compares
 * them with what is committed: a file that differs or is missing fails with what to run.
 */
export function writeOrCheck(files: GeneratedFile[], check: boolean, script: string): void {
  if (!check) {
    for (const { file, text } of files) {
      writeFileSync(file, text);
      process.stdout.write(`wrote ${file}\n`);
    }
    return;
  }
  const stale = files
    .filter(({ file, text }) => {
      try {
        return readFileSync(file, 'utf8') !== text;
      } catch {
        return true; // missing: differs
      }
    })
    .map(({ file }) => file);
  if (stale.length) {
    const verb = stale.length === 1 ? 'is' : 'are';
    throw new CliError(`${stale.join(', ')} ${verb} out of date: run npm run ${script}`);
  }
  process.stdout.write(`${files.map(({ file }) => file).join(', ')} up to date\n`);
}

/** Runs a command: usage errors exit 2 with the usage, other errors 1. */
export function runCli(usage: string, command: (args: string[]) => Promise<void>): void {
  command(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`${error.message}\n\n${usage}\n`);
        process.exit(2);
      }
      if (error instanceof CliError) {
        process.stderr.write(`${error.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
