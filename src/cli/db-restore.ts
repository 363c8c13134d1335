/**
 * `npm run db:restore -- <file> [--database-url <url>] [--create <name>] [--force]`
 * (docs/operations.md, "Backups").
 *
 * Restores a dump of `npm run db:backup` and proves it: first the dump's sha256 is checked
 * against its manifest (`<file>.manifest.json`; a corrupted or truncated file is refused before
 * anything is touched); then pg_restore loads it, in one transaction, into an empty database
 * (--create makes a new one on the same server; a database that already has tables is refused
 * unless --force, which drops and replaces the dump's objects); then the row count and content
 * checksum of every table are computed again and compared with the manifest: OK per table, or
 * the differences and exit status 1.
 *
 * The database: --database-url, else DATABASE_URL, else the embedded PostgreSQL (with
 * --create, the server of that URL). pg_restore must be at least as new as the pg_dump that
 * made the dump: PG_BIN_DIR, the PATH and /usr/lib/postgresql/N/bin are searched.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { CliError, loadCliConfig, parse, runCli, UsageError } from './cli-context';
import {
  findPgTool,
  libpqTarget,
  MANIFEST_FORMAT,
  manifestPathOf,
  parseToolVersion,
  prepareSession,
  serverVersion,
  sha256File,
  tableStats,
  withDatabase,
  type Manifest,
  type TableStats,
} from './backup-support';
import { describeUrl, openTarget, type BackupTarget } from './backup-target';

const USAGE = `usage: npm run db:restore -- <file> [--database-url <url>] [--create <name>] [--force]
  <file>          a dump of npm run db:backup, with its <file>.manifest.json next to it
  --database-url  the database to restore into (default: DATABASE_URL, else the embedded one)
  --create        create the database <name> on that server and restore into it
  --force         restore into a database that has tables: the dump's objects are dropped
                  and recreated (other objects stay)
  e.g.   npm run db:restore -- .data/backups/crm-20261207T020000Z.dump --create crm_restored`;

const DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;

function readManifest(file: string): Manifest {
  const path = manifestPathOf(file);
  if (!existsSync(path)) {
    throw new CliError(
      `no manifest ${path}: the dump cannot be verified (was it made by db:backup?)`,
    );
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (error) {
    throw new CliError(`manifest ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (
    manifest.format !== MANIFEST_FORMAT ||
    !manifest.dump?.sha256 ||
    !Array.isArray(manifest.tables)
  ) {
    throw new CliError(`${path} is not a manifest of db:backup (format ${MANIFEST_FORMAT})`);
  }
  return manifest;
}

async function userTables(client: Client): Promise<number> {
  const {
    rows: [row],
  } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')`,
  );
  return Number(row.n);
}

function runPgRestore(path: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(path, args, { env, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', fail);
    child.on('close', (code) => {
      if (code === 0) {
        if (stderr.trim()) process.stderr.write(stderr);
        done();
      } else {
        fail(
          new CliError(`pg_restore failed (exit ${code}); nothing was restored:\n${stderr.trim()}`),
        );
      }
    });
  });
}

/** Compares the tables with the manifest; returns the number of differences. */
function compare(
  expected: TableStats[],
  actual: TableStats[],
  log: (line: string) => void,
): number {
  const key = (t: TableStats): string => `${t.schema}.${t.table}`;
  const found = new Map(actual.map((t) => [key(t), t]));
  let differences = 0;
  for (const table of expected) {
    const now = found.get(key(table));
    found.delete(key(table));
    if (!now) {
      log(`MISSING   ${key(table)}: not in the restored database`);
      differences++;
    } else if (now.rows !== table.rows) {
      log(`MISMATCH  ${key(table)}: ${now.rows} rows, the backup had ${table.rows}`);
      differences++;
    } else if (now.checksum !== table.checksum) {
      log(`MISMATCH  ${key(table)}: ${now.rows} rows, but their content differs from the backup`);
      differences++;
    } else {
      log(`OK        ${key(table)}: ${now.rows} rows`);
    }
  }
  for (const extra of found.keys()) log(`note      ${extra}: not in the backup (left as it was)`);
  return differences;
}

async function restore(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    'database-url': { type: 'string' },
    create: { type: 'string' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length ? `one dump file, not ${positionals.length}` : 'the dump file is required',
    );
  }
  const databaseUrl = values['database-url'];
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new UsageError('--database-url must be a postgres:// URL');
  }
  if (values.create !== undefined && !DATABASE_NAME.test(values.create)) {
    throw new UsageError('--create needs a database name (letters, digits, _, $ and -)');
  }
  const file = resolve(positionals[0]);
  if (!existsSync(file) || !statSync(file).isFile()) throw new CliError(`no dump file ${file}`);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);

  // 1. The dump is the one the manifest describes, before anything is touched.
  const manifest = readManifest(file);
  const sha256 = await sha256File(file);
  if (sha256 !== manifest.dump.sha256 || statSync(file).size !== manifest.dump.bytes) {
    throw new CliError(
      `${file} is corrupted: its sha256 is ${sha256} (${statSync(file).size} bytes), the manifest says ${manifest.dump.sha256} (${manifest.dump.bytes} bytes); nothing was restored`,
    );
  }
  log(
    `${file}: sha256 OK (backup of ${manifest.database} on PostgreSQL ${manifest.server.version}, ${manifest.createdAt})`,
  );
  const dumpMajor = parseToolVersion(`(PostgreSQL) ${manifest.pgDump.version}`)?.major ?? 0;
  const pgRestore = findPgTool(
    'pg_restore',
    dumpMajor,
    `the dump was made by pg_dump ${manifest.pgDump.version}, and pg_restore cannot read archives of a newer pg_dump`,
  );

  // 2. The target: a new database, or an empty one unless --force.
  const config = loadCliConfig();
  const server: BackupTarget = await openTarget(config, databaseUrl, log);
  let target: BackupTarget = server;
  try {
    if (values.create !== undefined) {
      const name = values.create;
      const { rowCount } = await server.client.query(
        'SELECT 1 FROM pg_database WHERE datname = $1',
        [name],
      );
      if (rowCount)
        throw new CliError(`database ${name} already exists; choose another --create name`);
      await server.client.query(`CREATE DATABASE ${server.client.escapeIdentifier(name)}`);
      log(`created database ${name}`);
      const url = withDatabase(server.url, name);
      const client = new Client({ connectionString: url, application_name: 'crm-api cli' });
      await client.connect();
      target = { client, url, close: () => client.end() };
    }
    const { client } = target;
    const tables = await userTables(client);
    if (tables && !values.force) {
      throw new CliError(
        `the database ${describeUrl(target.url)} is not empty (${tables} tables, views or sequences): restore into a new one with --create <name>, or pass --force to drop and replace the dump's objects`,
      );
    }
    const { version } = await serverVersion(client);
    log(
      `restoring into ${describeUrl(target.url)} (PostgreSQL ${version}) with ${pgRestore.path} ${pgRestore.version}`,
    );

    // 3. pg_restore, all or nothing; objects belong to the user of the URL.
    const { dbname, env } = libpqTarget(target.url);
    const restoreArgs = [
      '--no-password',
      `--dbname=${dbname}`,
      '--no-owner',
      '--no-privileges',
      '--single-transaction',
      '--exit-on-error',
    ];
    if (values.force) restoreArgs.push('--clean', '--if-exists');
    await runPgRestore(pgRestore.path, [...restoreArgs, file], env);
    log('pg_restore done; verifying every table');

    // 4. The data is the data of the backup.
    await prepareSession(client);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const actual = await tableStats(client);
    await client.query('COMMIT');
    const differences = compare(manifest.tables, actual, log);
    if (differences) {
      throw new CliError(
        `restore verification FAILED: ${differences} of ${manifest.tables.length} tables differ from the backup`,
      );
    }
    log(
      `restore verified: ${manifest.tables.length} tables match the backup's row counts and checksums`,
    );
  } finally {
    if (target !== server) await target.close();
    await server.close();
  }
}

runCli(USAGE, restore);
