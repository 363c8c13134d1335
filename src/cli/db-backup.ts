/**
 * `npm run db:backup -- [--out <file>] [--database-url <url>]` (docs/operations.md, "Backups").
 *
 * Dumps the database with pg_dump in its custom format to a file (by default
 * `<DATA_DIR>/backups/<database>-<UTC time>.dump`) and writes a manifest next to it
 * (`<file>.manifest.json`): server and pg_dump versions, the sha256 of the dump, and the row
 * count and content checksum of every table. pg_dump runs in a snapshot exported by a
 * REPEATABLE READ transaction, which computes the counts and checksums too, so the manifest
 * describes exactly the data of the dump even while the app writes.
 *
 * The database: --database-url, else DATABASE_URL, else the embedded PostgreSQL. pg_dump must be
 * of the server's major version or newer: PG_BIN_DIR, the PATH and /usr/lib/postgresql/N/bin
 * are searched, and the newest copy that fits is used.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { CliError, loadCliConfig, parse, runCli, UsageError } from './cli-context';
import {
  findPgTool,
  formatBytes,
  libpqTarget,
  majorOf,
  MANIFEST_FORMAT,
  manifestPathOf,
  prepareSession,
  serverVersion,
  tableStats,
  type Manifest,
  type PgTool,
} from './backup-support';
import { describeUrl, openTarget } from './backup-target';

const USAGE = `usage: npm run db:backup -- [--out <file>] [--database-url <url>]
  --out           the dump file (default: <DATA_DIR>/backups/<database>-<UTC time>.dump);
                  the manifest is written next to it as <file>.manifest.json
  --database-url  the database to back up (default: DATABASE_URL, else the embedded one)
  e.g.   npm run db:backup -- --out /backups/crm-nightly.dump`;

const stamp = (date: Date): string => date.toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');

/** Runs pg_dump into `file` (through a `.partial` file), returning the dump's size and sha256. */
async function dump(
  pgDump: PgTool,
  url: string,
  snapshot: string | null,
  file: string,
  signal: AbortSignal,
): Promise<{ bytes: number; sha256: string }> {
  const { dbname, env } = libpqTarget(url);
  const args = ['--format=custom', '--no-password', `--dbname=${dbname}`];
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  const child = spawn(pgDump.path, args, { env, signal, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number>((done, fail) => {
    child.on('error', fail);
    child.on('close', (code, killedBy) => done(code ?? (killedBy ? 128 : 1)));
  });
  exited.catch(() => undefined); // awaited below unless the copy failed first
  const hash = createHash('sha256');
  let bytes = 0;
  const partial = `${file}.partial`;
  try {
    await pipeline(
      child.stdout,
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          bytes += chunk.length;
          callback(null, chunk);
        },
      }),
      createWriteStream(partial),
    );
    const code = await exited;
    if (code !== 0) throw new CliError(`pg_dump failed (exit ${code}):\n${stderr.trim()}`);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
  if (stderr.trim()) process.stderr.write(stderr);
  renameSync(partial, file);
  return { bytes, sha256: hash.digest('hex') };
}

async function backup(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    out: { type: 'string' },
    'database-url': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  if (values.out === '') throw new UsageError('--out needs a file name');
  if (values['database-url'] !== undefined && !/^postgres(ql)?:\/\//.test(values['database-url'])) {
    throw new UsageError('--database-url must be a postgres:// URL');
  }

  const config = loadCliConfig();
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const target = await openTarget(config, values['database-url'], log);
  try {
    const { client } = target;
    const server = await serverVersion(client);
    const pgDump = findPgTool(
      'pg_dump',
      majorOf(server.versionNum),
      `the server ${describeUrl(target.url)} is PostgreSQL ${server.version}, and pg_dump refuses a server newer than itself`,
    );
    const file = resolve(
      values.out ?? join(config.dataDir, 'backups', `${server.database}-${stamp(new Date())}.dump`),
    );
    mkdirSync(dirname(file), { recursive: true });
    log(
      `backing up ${describeUrl(target.url)} (PostgreSQL ${server.version}) with ${pgDump.path} ${pgDump.version}`,
    );

    await prepareSession(client);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    let snapshot: string | null = null;
    try {
      snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]
        .id;
    } catch (error) {
      // e.g. a standby before PostgreSQL 10 or a pooler in transaction mode
      log(
        `warning: no exported snapshot (${(error as Error).message}): the counts are taken next to the dump, not in its snapshot`,
      );
      await client.query('ROLLBACK');
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    }
    const createdAt = new Date().toISOString();
    const abort = new AbortController();
    const dumped = dump(pgDump, target.url, snapshot, file, abort.signal);
    dumped.catch(() => undefined); // awaited below; the counts may fail first
    let tables: Manifest['tables'];
    try {
      tables = await tableStats(client);
      log(
        `counted ${tables.length} tables, ${tables.reduce((n, t) => n + t.rows, 0).toLocaleString('en-US')} rows`,
      );
      const { bytes, sha256 } = await dumped;
      log(`wrote ${file} (${formatBytes(bytes)}, sha256 ${sha256})`);
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        createdAt,
        database: server.database,
        server: { version: server.version, versionNum: server.versionNum },
        pgDump: { path: pgDump.path, version: pgDump.version },
        dump: { file: basename(file), bytes, sha256 },
        snapshot,
        tables,
      };
      if (statSync(file).size !== bytes) throw new CliError(`${file} changed while written`);
      writeFileSync(manifestPathOf(file), `${JSON.stringify(manifest, null, 2)}\n`);
      log(`wrote ${manifestPathOf(file)}`);
    } catch (error) {
      abort.abort(); // no dump without its manifest
      await dumped.catch(() => undefined);
      rmSync(file, { force: true });
      throw error;
    } finally {
      await client.query('COMMIT').catch(() => undefined);
      await dumped.catch(() => undefined);
    }
    log('done');
  } finally {
    await target.close();
  }
}

runCli(USAGE, backup);
