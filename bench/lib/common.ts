/**
 * What the seed, the benchmark, the baseline server and the plan dump share: where the bench
 * database is, who the bench users are, and a tiny argument parser. Never shipped (bench/ is
 * outside tsconfig.build.json).
 */
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { EmbeddedDatabase } from '../../src/database/embedded-postgres';
import { embeddedDatabaseUrl } from '../../src/database/embedded-url';

/** The bench database's name (dropped and re-created by the seed). */
export const BENCH_DATABASE = 'crm_bench';
/** Where the bench's own PostgreSQL keeps its data, and its port. */
const BENCH_PG_DIR = resolve(__dirname, '..', '..', '.data', 'bench-postgres');
const BENCH_PG_PORT = 54331;

/**
 * The settings of the bench's own PostgreSQL: what a host serving this data would be given
 * (docs/decisions/0020). PostgreSQL's defaults are for a small machine: 128 MB of
 * shared_buffers cannot hold a 1.5 GB organization, and every page beyond it is a read()
 * from the OS cache.
 */
export const BENCH_PG_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '2GB', // the whole database fits
  effective_cache_size: '8GB',
  random_page_cost: '1.1', // data in memory (or on SSD): random reads cost about as much as sequential ones
  work_mem: '16MB',
  maintenance_work_mem: '1GB',
  max_wal_size: '8GB', // the seed's bulk load does not force checkpoints
  jit: 'off', // compiling each short query costs more than it saves (OLTP)
  max_connections: '200',
};

export interface BenchDatabase {
  url: string;
  /** What it is, for the report. */
  description: string;
  close(): Promise<void>;
}

/**
 * The bench database: BENCH_DATABASE_URL / --database-url when given (its name must contain
 * "bench"); otherwise a PostgreSQL of the bench's own (the embedded-postgres binaries the app
 * uses, in .data/bench-postgres, with BENCH_PG_SETTINGS), so that the figures do not depend on
 * how some machine's server is configured.
 */
export async function openBenchDatabase(args: Args): Promise<BenchDatabase> {
  const given = args.string('database-url', process.env.BENCH_DATABASE_URL ?? '');
  if (given) return { url: given, description: 'BENCH_DATABASE_URL', close: async () => {} };
  const server = new EmbeddedDatabase({
    dir: BENCH_PG_DIR,
    port: BENCH_PG_PORT,
    persistent: true,
    settings: BENCH_PG_SETTINGS,
    log: (message) => console.log(`[bench:postgres] ${message}`),
  });
  await server.start();
  return {
    url: embeddedDatabaseUrl(BENCH_PG_PORT, BENCH_DATABASE),
    description: `embedded, ${join('.data', 'bench-postgres')}, port ${BENCH_PG_PORT}`,
    close: () => server.stop(),
  };
}

/** The password of every bench user (a letter and a digit, as the password policy wants). */
export const BENCH_PASSWORD = 'bench-password-2026';

/** The large organization the benchmark runs against, and its users (first = owner). */
export const BIG_ORG_NAME = 'Bench Corp';
export const BIG_ORG_USERS: readonly { email: string; name: string; role: string }[] = [
  { email: 'owner@bench-corp.test', name: 'Olivia Owner', role: 'owner' },
  { email: 'admin@bench-corp.test', name: 'Adam Admin', role: 'admin' },
  { email: 'manager@bench-corp.test', name: 'Mona Manager', role: 'manager' },
  { email: 'member1@bench-corp.test', name: 'Mark Member', role: 'member' },
  { email: 'member2@bench-corp.test', name: 'Mia Member', role: 'member' },
  { email: 'member3@bench-corp.test', name: 'Max Member', role: 'member' },
  { email: 'member4@bench-corp.test', name: 'Mila Member', role: 'member' },
  { email: 'member5@bench-corp.test', name: 'Milo Member', role: 'member' },
];
export const BENCH_LOGIN_EMAIL = BIG_ORG_USERS[0].email;

/** The URL of the server's maintenance database, for DROP/CREATE DATABASE. */
export function adminUrlOf(databaseUrl: string): { adminUrl: string; database: string } {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  url.pathname = '/postgres';
  return { adminUrl: url.toString(), database };
}

export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, application_name: 'crm-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** `--name value` / `--name=value` / `--flag` arguments. */
export class Args {
  private readonly values = new Map<string, string>();

  constructor(argv: readonly string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      if (!arg.startsWith('--')) throw new Error(`unexpected argument: ${arg}`);
      const eq = arg.indexOf('=');
      if (eq > 0) {
        this.values.set(arg.slice(2, eq), arg.slice(eq + 1));
      } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
        this.values.set(arg.slice(2), argv[++i]);
      } else {
        this.values.set(arg.slice(2), 'true');
      }
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  string(name: string, fallback: string): string {
    return this.values.get(name) ?? fallback;
  }

  /** A non-negative integer; `1_000_000`, `1e6`, `1m` and `300k` are accepted. */
  count(name: string, fallback: number): number {
    const raw = this.values.get(name);
    if (raw === undefined) return fallback;
    const match = /^(\d+(?:\.\d+)?)(?:e(\d+))?([km]?)$/i.exec(raw.replace(/_/g, ''));
    if (!match) throw new Error(`--${name} must be a count, got ${raw}`);
    const [, base, exp, unit] = match;
    const scale = { '': 1, k: 1e3, m: 1e6 }[unit.toLowerCase()] ?? 1;
    const value = Math.round(Number(base) * 10 ** Number(exp ?? 0) * scale);
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name}: bad count ${raw}`);
    return value;
  }

  flag(name: string): boolean {
    const v = this.values.get(name);
    return v !== undefined && v !== 'false';
  }

  /** Names given that are not in `known`: typos should fail loudly, not be ignored. */
  assertOnly(known: readonly string[]): void {
    const unknown = [...this.values.keys()].filter((k) => !known.includes(k));
    if (unknown.length)
      throw new Error(`unknown option(s): ${unknown.map((u) => `--${u}`).join(', ')}`);
  }
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Thousands with a thin separator: 1,000,000. */
export const thousands = (n: number): string => n.toLocaleString('en-US');

/** Signs in as the benchmark's first user: its access token and the big organization's id. */
export async function login(url: string): Promise<{ accessToken: string; organizationId: string }> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: BENCH_LOGIN_EMAIL, password: BENCH_PASSWORD }),
  });
  if (!res.ok) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as {
    accessToken: string;
    organizations: { id: string; name: string }[];
  };
  const org = body.organizations.find((o) => o.name === BIG_ORG_NAME);
  if (!org) throw new Error(`login: not a member of ${BIG_ORG_NAME}`);
  return { accessToken: body.accessToken, organizationId: org.id };
}
