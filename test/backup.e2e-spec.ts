import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { toolCandidates, type Manifest } from '../src/cli/backup-support';
import { EmbeddedDatabase } from '../src/database/embedded-postgres';
import { databaseUrl, freePort, withAdminClient } from './support/database';
import { migrate, seed } from './support/backup-seed';
import { TEST_ACCESS_SECRET, TEST_REFRESH_SECRET } from './support/test-app';

/**
 * `npm run db:backup` / `npm run db:restore` (docs/operations.md, "Backups"), run as child
 * processes like a user would.
 *
 * pg_dump must be of the server's major version or newer. This machine's client tools may be
 * older than the embedded PostgreSQL 18 of `npm test`, so the backup-and-restore round trip runs
 * on an external PostgreSQL for which a pg_dump fits: TEST_BACKUP_ADMIN_URL, by default the
 * system one at 127.0.0.1:5432 (user postgres, trust). Without it, or without a fitting pg_dump,
 * that part is skipped with a notice, unless REQUIRE_POSTGRES_TOOLS=true makes that an error.
 * The embedded case always runs: a backup works if some pg_dump >= 18 is found, and otherwise
 * must stop with the message saying what to install.
 */
const ADMIN_URL =
  process.env.TEST_BACKUP_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REQUIRED = process.env.REQUIRE_POSTGRES_TOOLS === 'true';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const workDir = mkdtempSync(join(tmpdir(), 'crm-backup-test-'));
chmodSync(workDir, 0o755); // as root, the embedded postgres runs as `postgres` and must reach it

/** Runs `npm run db:<tool>` (same entry point) with DATABASE_URL unset unless given in `env`. */
function cli(
  tool: 'backup' | 'restore',
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    JWT_ACCESS_SECRET: TEST_ACCESS_SECRET,
    JWT_REFRESH_SECRET: TEST_REFRESH_SECRET,
    DATA_DIR: join(workDir, 'data'),
  };
  delete childEnv.DATABASE_URL;
  Object.assign(childEnv, env);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', 'ts-node/register/transpile-only', `src/cli/db-${tool}.ts`, ...args],
      { cwd: process.cwd(), env: childEnv, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Why the external round trip cannot run here (null: it can): the server does not answer, or
 * no pg_dump of its major or newer is on this machine. Synchronous (a child process asks the
 * server), as Jest decides on skipping when it collects the tests.
 */
function probeExternal(): string | null {
  const ask = spawnSync(
    process.execPath,
    [
      '-e',
      `const { Client } = require('pg');
       const c = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
       c.connect().then(() => c.query('SHOW server_version_num'))
         .then((r) => { console.log(r.rows[0].server_version_num); return c.end(); })
         .catch((e) => { console.error(e.message); process.exit(1); });`,
      ADMIN_URL,
    ],
    { encoding: 'utf8', timeout: 15_000 },
  );
  if (ask.status !== 0) {
    return `no PostgreSQL answers at ${new URL(ADMIN_URL).host} (${(ask.stderr || ask.error?.message || '').trim()})`;
  }
  const major = Math.floor(Number(ask.stdout.trim()) / 10_000);
  const dumps = toolCandidates('pg_dump');
  if (!dumps.some((t) => t.major >= major) || !toolCandidates('pg_restore').length) {
    const found = dumps.map((t) => `${t.path} ${t.version}`).join(', ') || 'none';
    return `no pg_dump/pg_restore ${major}+ for the PostgreSQL ${major} at ${new URL(ADMIN_URL).host} (found: ${found})`;
  }
  return null;
}

const externalMissing = probeExternal();
if (externalMissing) {
  if (REQUIRED) {
    throw new Error(`REQUIRE_POSTGRES_TOOLS=true but ${externalMissing}`);
  }
  console.warn(
    `\n!!! backup.e2e-spec: ${externalMissing}: the backup/restore round trip is SKIPPED (set REQUIRE_POSTGRES_TOOLS=true to make this an error)\n`,
  );
}

interface TableFacts {
  rows: number;
  /** md5 of the sorted md5s of the rows: another computation than the tool's. */
  digest: string;
}

/** Every user table's row count and content digest, computed here, independently of the tool. */
async function facts(url: string): Promise<Record<string, TableFacts>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'`);
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    const result: Record<string, TableFacts> = {};
    for (const { name } of tables) {
      const {
        rows: [row],
      } = await client.query<{ rows: string; digest: string }>(
        `SELECT count(*) AS rows, md5(coalesce(string_agg(h, ',' ORDER BY h COLLATE "C"), '')) AS digest
           FROM (SELECT md5(to_jsonb(x)::text) AS h FROM ${name} x) hashed`,
      );
      result[name] = { rows: Number(row.rows), digest: row.digest };
    }
    return result;
  } finally {
    await client.end();
  }
}

/** Sequence positions and the indexes and constraints of the public schema. */
async function schemaFacts(url: string): Promise<unknown> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const sequences = await client.query(
      `SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2`,
    );
    const indexes = await client.query(
      `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`,
    );
    const constraints = await client.query(
      `SELECT conrelid::regclass::text AS rel, conname, contype, conkey, confrelid::regclass::text AS ref
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`,
    );
    const extensions = await client.query(`SELECT extname FROM pg_extension ORDER BY 1`);
    return {
      sequences: sequences.rows,
      indexes: indexes.rows,
      constraints: constraints.rows,
      extensions: extensions.rows,
    };
  } finally {
    await client.end();
  }
}

const databaseExists = (name: string): Promise<boolean> =>
  withAdminClient(ADMIN_URL, async (c) =>
    Boolean((await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount),
  );

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

(externalMissing ? describe.skip : describe)(
  'db:backup / db:restore on an external PostgreSQL',
  () => {
    const prefix = `crm_backup_${process.pid}_${randomUUID().slice(0, 8)}`;
    const source = prefix;
    const restored = `${prefix}_restored`;
    const refused = `${prefix}_refused`;
    const mismatched = `${prefix}_mismatch`;
    const created: string[] = [source, restored, refused, mismatched];
    const sourceUrl = databaseUrl(ADMIN_URL, source);
    const dumpFile = join(workDir, 'crm.dump');
    let backup: CliResult;

    beforeAll(async () => {
      await withAdminClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${source}`));
      await migrate(sourceUrl);
      await seed(sourceUrl);
      backup = await cli('backup', ['--database-url', sourceUrl, '--out', dumpFile]);
    }, 180_000);

    afterAll(async () => {
      await withAdminClient(ADMIN_URL, async (c) => {
        for (const name of created) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    });

    it('seeded every table of the app', async () => {
      const seeded = await facts(sourceUrl);
      expect(Object.keys(seeded).length).toBeGreaterThanOrEqual(20);
      const empty = Object.entries(seeded)
        .filter(([, f]) => f.rows === 0)
        .map(([name]) => name);
      expect(empty).toEqual([]);
    });

    it('writes a custom-format dump and a manifest with the checksum and every table', async () => {
      expect(backup.stderr).toBe('');
      expect(backup.code).toBe(0);
      expect(backup.stdout).toContain(`wrote ${dumpFile}`);
      expect(readFileSync(dumpFile).subarray(0, 5).toString()).toBe('PGDMP'); // custom format
      const manifest = JSON.parse(readFileSync(`${dumpFile}.manifest.json`, 'utf8')) as Manifest;
      const sha256 = (await import('node:crypto'))
        .createHash('sha256')
        .update(readFileSync(dumpFile))
        .digest('hex');
      expect(manifest).toMatchObject({
        format: 'crm-api-backup/1',
        database: source,
        dump: { file: 'crm.dump', sha256, bytes: readFileSync(dumpFile).length },
        snapshot: expect.any(String) as string,
      });
      const seeded = await facts(sourceUrl);
      expect(
        Object.fromEntries(manifest.tables.map((t) => [`${t.schema}.${t.table}`, t.rows])),
      ).toEqual(Object.fromEntries(Object.entries(seeded).map(([name, f]) => [name, f.rows])));
    });

    it('restores into a new database with the same rows, checksums, sequences and schema', async () => {
      const result = await cli('restore', [
        dumpFile,
        '--database-url',
        ADMIN_URL,
        '--create',
        restored,
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('sha256 OK');
      expect(result.stdout).toMatch(/OK +public\.contacts: \d+ rows/);
      expect(result.stdout).toContain('restore verified');

      const restoredUrl = databaseUrl(ADMIN_URL, restored);
      const [before, after] = await Promise.all([facts(sourceUrl), facts(restoredUrl)]);
      expect(Object.keys(after)).toEqual(Object.keys(before));
      expect(after).toEqual(before);
      expect(await schemaFacts(restoredUrl)).toEqual(await schemaFacts(sourceUrl));
    });

    it('refuses a corrupted dump before touching anything', async () => {
      const corrupt = join(workDir, 'corrupt.dump');
      copyFileSync(dumpFile, corrupt);
      copyFileSync(`${dumpFile}.manifest.json`, `${corrupt}.manifest.json`);
      const bytes = readFileSync(corrupt);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      writeFileSync(corrupt, bytes);

      const result = await cli('restore', [
        corrupt,
        '--database-url',
        ADMIN_URL,
        '--create',
        refused,
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/corrupt\.dump is corrupted: its sha256 is [0-9a-f]{64}/);
      expect(result.stderr).toContain('nothing was restored');
      expect(await databaseExists(refused)).toBe(false);
    });

    it('refuses a database that is not empty, unless --force', async () => {
      const before = await facts(sourceUrl);
      const result = await cli('restore', [dumpFile, '--database-url', sourceUrl]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/is not empty .*--create <name>.*--force/);
      expect(await facts(sourceUrl)).toEqual(before);

      // --force replaces the dump's objects and verifies the outcome.
      await withAdminClient(sourceUrl, (c) => c.query(`DELETE FROM tasks`));
      const forced = await cli('restore', [dumpFile, '--database-url', sourceUrl, '--force']);
      expect(forced.stderr).toBe('');
      expect(forced.code).toBe(0);
      expect(forced.stdout).toContain('restore verified');
      expect(await facts(sourceUrl)).toEqual(before);
    });

    it('reports the tables whose content differs from the manifest, with exit status 1', async () => {
      const manifest = JSON.parse(readFileSync(`${dumpFile}.manifest.json`, 'utf8')) as Manifest;
      const other = join(workDir, 'other.dump');
      copyFileSync(dumpFile, other);
      const contacts = manifest.tables.find((t) => t.table === 'contacts')!;
      contacts.checksum = '0'.repeat(32);
      const deals = manifest.tables.find((t) => t.table === 'deals')!;
      deals.rows += 1;
      writeFileSync(`${other}.manifest.json`, JSON.stringify(manifest));

      const result = await cli('restore', [
        other,
        '--database-url',
        ADMIN_URL,
        '--create',
        mismatched,
      ]);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(
        /MISMATCH +public\.contacts: \d+ rows, but their content differs/,
      );
      expect(result.stdout).toMatch(/MISMATCH +public\.deals: \d+ rows, the backup had \d+/);
      expect(result.stdout).toMatch(/OK +public\.tasks/);
      expect(result.stderr).toContain('restore verification FAILED: 2 of');
    });
  },
);

describe('db:backup / db:restore arguments', () => {
  it('exits 2 with the usage on a wrong argument', async () => {
    const backup = await cli('backup', ['--bogus']);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain("Unknown option '--bogus'");
    expect(backup.stderr).toContain('usage: npm run db:backup');

    const restore = await cli('restore', []);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain('the dump file is required');
    expect(restore.stderr).toContain('usage: npm run db:restore');

    const url = await cli('restore', ['x.dump', '--database-url', 'mysql://x']);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('--database-url must be a postgres:// URL');
  });

  it('refuses a dump without its manifest', async () => {
    const lonely = join(workDir, 'lonely.dump');
    writeFileSync(lonely, 'PGDMP');
    const result = await cli('restore', [lonely, '--database-url', ADMIN_URL]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no manifest');
  });
});

describe('db:backup of the embedded PostgreSQL 18', () => {
  const dir = join(workDir, 'embedded');
  let port: number;
  let major: number;

  beforeAll(async () => {
    port = await freePort();
    const server = new EmbeddedDatabase({ dir, port, persistent: true, log: () => undefined });
    await server.start(); // initialises the data directory; stopped: the CLI starts it itself
    await server.stop();
    major = Number(readFileSync(join(dir, 'PG_VERSION'), 'utf8').trim());
  }, 120_000);

  const env = (): Record<string, string> => ({
    EMBEDDED_PG_DIR: dir,
    EMBEDDED_PG_PORT: String(port),
  });

  it('backs up with a pg_dump of its version, or stops saying which pg_dump to install', async () => {
    const fitting = toolCandidates('pg_dump').some((t) => t.major >= major);
    const out = join(workDir, 'embedded.dump');
    const result = await cli('backup', ['--out', out], env());
    if (fitting) {
      expect(result.code).toBe(0);
      const restore = await cli('restore', [out, '--create', 'crm_restored'], env());
      expect(restore.code).toBe(0);
      expect(restore.stdout).toContain('restore verified');
    } else {
      console.warn(
        `\nbackup.e2e-spec: no pg_dump ${major}+ here: checking that db:backup of the embedded PostgreSQL ${major} refuses clearly\n`,
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`pg_dump ${major} or newer is needed`);
      expect(result.stderr).toContain(`is PostgreSQL ${major}`);
      expect(result.stderr).toContain(`postgresql-client-${major}`);
      expect(result.stderr).toContain('PG_BIN_DIR');
      expect(existsSync(out)).toBe(false);
    }
    // The server the command started for itself is stopped again.
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false);
  });

  it('names what PG_BIN_DIR holds when it is too old or empty', async () => {
    const empty = join(workDir, 'no-bin');
    const result = await cli('backup', [], { ...env(), PG_BIN_DIR: empty });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`PG_BIN_DIR=${empty} holds no pg_dump`);
  });
});
