/**
 * The benchmark (issue "Performance at scale"):
 *
 *   npm run bench:seed -- --contacts 1000000 --deals 1000000 --tasks 300000
 *   npm run bench            (= nest build, then this file)
 *
 * Boots the built app (node dist/src/main.js, NODE_ENV=production, LOG_LEVEL=warn, rate limits
 * out of the way) on the seeded database, and a bare node:http + pg BASELINE
 * (bench/baseline-server.ts) that runs the same SQL, then drives both with autocannon (library)
 * over loopback at a fixed connection count and duration per scenario. Measures latency
 * p50/p99, req/s, errors and non-2xx, the server's CPU time per request (utime + stime of
 * /proc/<pid>/stat around the measured window, divided by the 2xx answers) and that of its
 * PostgreSQL backends, the app's peak RSS, the bcrypt limit of the machine and the event-loop
 * health under logins; a second app instance runs with the analytics cache off.
 *
 * The endpoints the baseline implements (PAIRS) run app and baseline alternately, --rounds
 * times (baseline first in odd rounds, app first in even ones), and are reported as the median
 * and the spread of the rounds: one ratio of two back-to-back runs moves by a factor of two on
 * a shared machine, the median of alternating rounds and the CPU time per request much less.
 * Finally dumps EXPLAIN (ANALYZE, BUFFERS) plans (bench/explain.ts) and writes the results:
 * bench/results/*.json and the generated section of docs/performance.md.
 *
 * Options: --duration 10 --warmup 2 --connections 32 --rounds 3 --round-duration 8
 *          --database-url URL --search mart
 *          --min-amount 100000 --probe-rate 100 --only <regex of scenario ids>
 *          --no-explain --no-doc --doc docs/performance.md --plans-dir docs/query-plans
 *          --app-env NAME=value,NAME=value (extra environment of the app copies)
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import * as bcrypt from 'bcrypt';
import * as jwt from 'jsonwebtoken';
import { Client } from 'pg';
import { dumpPlans, type PlanSummary } from './explain';
import { gitDescribe } from './lib/report';
import {
  Args,
  BENCH_LOGIN_EMAIL,
  BENCH_PASSWORD,
  BIG_ORG_NAME,
  login,
  type BenchDatabase,
  openBenchDatabase,
  seconds,
  thousands,
  withClient,
} from './lib/common';
import {
  snapshotDist,
  benchAppEnv,
  CLOCK_TICKS,
  freePort,
  processCpu,
  startServer,
  type Server,
} from './lib/processes';

const ROOT = resolve(__dirname, '..');
const API = '/api/v1';
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const BEGIN =
  '<!-- BEGIN GENERATED: npm run bench (do not edit by hand: the next run replaces it) -->';
const END = '<!-- END GENERATED -->';

const log = (message: string): void => console.log(`[bench] ${message}`);

interface Scenario {
  id: string;
  title: string;
  server: Server;
  method?: 'GET' | 'POST' | 'PATCH';
  path: () => string;
  body?: () => string;
  connections: number;
  /** Fixed total request rate (open loop) instead of as-fast-as-possible. */
  rate?: number;
  /** Anonymous request (login). */
  anonymous?: boolean;
  /** Headers instead of the bench user's (another identity: an API key, a custom role). */
  headers?: Record<string, string>;
  /** Whether this run owns the server's RSS window (false for the second of two parallel runs). */
  sampleRss?: boolean;
  warmup?: number;
  duration?: number;
  /** Round of an alternated app/baseline pair (1..--rounds). */
  round?: number;
  /** False when another run drives the same server at the same time: no CPU per request. */
  exclusive?: boolean;
}

interface Measured {
  id: string;
  title: string;
  server: string;
  connections: number;
  rate: number | null;
  durationS: number;
  requests: number;
  ok: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  peakRssMiB: number | null;
  /** Round of an alternated pair, else null. */
  round: number | null;
  /** Server process CPU (user + system) during the measured window per 2xx answer, ms. */
  cpuMsPerRequest: number | null;
  /** The same of its PostgreSQL backends (those with its application_name), ms. */
  pgCpuMsPerRequest: number | null;
  /** Server process CPU during the window / the window's length (1 = one core busy). */
  cpuCores: number | null;
}

/** min / median / max of the rounds of one scenario. */
interface Spread {
  median: number;
  min: number;
  max: number;
}

/** An endpoint the baseline implements too, measured in alternating rounds. */
interface Pair {
  key: string;
  label: string;
  appId: string;
  baselineId: string;
  /** Targets: app throughput >= minThroughput x the baseline's, CPU/request <= maxCpu x. */
  minThroughput: number;
  maxCpu: number;
}

const PAIRS: readonly Pair[] = [
  {
    key: 'contacts-page1',
    label: 'GET /contacts page 1',
    appId: 'contacts-page1',
    baselineId: 'baseline-contacts-page1',
    minThroughput: 0.6,
    maxCpu: 1.6,
  },
  {
    key: 'deals-page1',
    label: 'GET /deals page 1',
    appId: 'deals-page1',
    baselineId: 'baseline-deals-page1',
    minThroughput: 0.6,
    maxCpu: 1.6,
  },
  {
    key: 'tasks-page1',
    label: 'GET /tasks page 1',
    appId: 'tasks-page1',
    baselineId: 'baseline-tasks-page1',
    minThroughput: 0.6,
    maxCpu: 1.6,
  },
  {
    key: 'deal-by-id',
    label: 'GET /deals/{id}',
    appId: 'deal-by-id',
    baselineId: 'baseline-deal-by-id',
    minThroughput: 0.75,
    maxCpu: 1.3,
  },
];

interface Side {
  rps: Spread;
  p99: Spread;
  cpuMsPerRequest: Spread | null;
  pgCpuMsPerRequest: Spread | null;
  cpuCores: Spread | null;
}

interface Comparison {
  key: string;
  label: string;
  rounds: number;
  app: Side;
  baseline: Side;
  /** Median app req/s / median baseline req/s. */
  throughputRatio: number;
  /** App / baseline req/s of each round. */
  roundThroughputRatios: number[];
  /** Median over the rounds of app / baseline CPU per request (null: not measurable). */
  cpuRatio: number | null;
  roundCpuRatios: number[];
  minThroughput: number;
  maxCpu: number;
}

interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

async function main(): Promise<void> {
  const args = new Args();
  const database = await openBenchDatabase(args);
  try {
    await benchmark(args, database);
  } finally {
    await database.close();
  }
  // The whole run (no --only) goes on with the operations benches, each into its own block of
  // docs/performance.md: the cost of metrics and tracing, and three copies behind nginx.
  if (!args.has('only')) {
    for (const script of ['observability.bench.ts', 'scale.bench.ts']) {
      log(`next: bench/${script}`);
      const passOn = args.flag('no-doc') ? ['--no-doc'] : [];
      const child = spawnSync(
        process.execPath,
        ['--require', 'ts-node/register/transpile-only', join('bench', script), ...passOn],
        { cwd: ROOT, stdio: 'inherit' },
      );
      if (child.status !== 0) throw new Error(`bench/${script} failed (${child.status})`);
    }
  }
}

async function benchmark(args: Args, database: BenchDatabase): Promise<void> {
  args.assertOnly([
    'duration',
    'warmup',
    'connections',
    'rounds',
    'round-duration',
    'database-url',
    'search',
    'min-amount',
    'probe-rate',
    'only',
    'no-explain',
    'no-doc',
    'doc',
    'plans-dir',
    'app-env',
  ]);
  const duration = args.count('duration', 10);
  const warmup = args.count('warmup', 2);
  const connections = args.count('connections', 32);
  // Alternated app/baseline rounds: a little shorter each, to keep the whole run ~15 minutes.
  const rounds = Math.max(1, args.count('rounds', 3));
  const roundDuration = args.count('round-duration', Math.min(duration, 8));
  const databaseUrl = database.url;
  const search = args.string('search', 'mart');
  const minAmount = args.string('min-amount', '100000');
  const probeRate = args.count('probe-rate', 100);
  const only = args.has('only') ? new RegExp(args.string('only', '.')) : null;
  const docPath = resolve(ROOT, args.string('doc', 'docs/performance.md'));
  const plansDir = resolve(ROOT, args.string('plans-dir', 'docs/query-plans'));
  // Extra environment of the app copies (e.g. DB_POOL_MAX=20,UV_THREADPOOL_SIZE=8): the
  // measurements behind docs/decisions/ are this benchmark with one setting changed.
  const appExtraEnv = Object.fromEntries(
    args
      .string('app-env', '')
      .split(',')
      .filter(Boolean)
      .map((pair) => {
        const eq = pair.indexOf('=');
        if (eq < 1) throw new Error(`--app-env: expected NAME=value, got ${pair}`);
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
  );
  // The app runs from a private copy of dist/ (inside the repository, so that node_modules
  // resolves): a `nest build` of someone else in the same tree empties dist/ for seconds.
  const distCopy = await snapshotDist(ROOT, 'npm run bench');
  const mainJs = join(distCopy, 'src', 'main.js');
  const startedAt = new Date();
  const loadBefore = loadavg();

  // --- the data -------------------------------------------------------------------------
  const data = await withClient(databaseUrl, async (db) => {
    const org = await db.query<{ id: string }>(`SELECT id FROM organizations WHERE name = $1`, [
      BIG_ORG_NAME,
    ]);
    if (!org.rows[0]) throw new Error('no bench data: run npm run bench:seed first');
    const organizationId = org.rows[0].id;
    const count = async (table: string): Promise<{ org: number; all: number }> => {
      const { rows } = await db.query<{ org: string; all: string }>(
        `SELECT count(*) FILTER (WHERE organization_id = $1)::text AS org, count(*)::text AS all FROM ${table}`,
        [organizationId],
      );
      return { org: Number(rows[0].org), all: Number(rows[0].all) };
    };
    const sizes = {
      contacts: await count('contacts'),
      deals: await count('deals'),
      tasks: await count('tasks'),
      activities: await count('activities'),
      organizations: Number(
        (await db.query<{ n: string }>(`SELECT count(*) AS n FROM organizations`)).rows[0].n,
      ),
      users: Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM users`)).rows[0].n),
      databaseSize: (
        await db.query<{ s: string }>(
          `SELECT pg_size_pretty(pg_database_size(current_database())) AS s`,
        )
      ).rows[0].s,
    };
    const dealIds = (
      await db.query<{ id: string }>(
        `SELECT id FROM deals TABLESAMPLE SYSTEM (10) REPEATABLE (7) WHERE organization_id = $1 LIMIT 20000`,
        [organizationId],
      )
    ).rows.map((r) => r.id);
    // Open deals at the first stage: PATCH {stage: proposal} is a real forward move for each.
    const movable = (
      await db.query<{ id: string }>(
        `SELECT id FROM deals WHERE organization_id = $1 AND stage = 'qualification'
            AND status IN ('new', 'in_progress') LIMIT 200000`,
        [organizationId],
      )
    ).rows.map((r) => r.id);
    const hash = (
      await db.query<{ h: string }>(`SELECT password_hash AS h FROM users WHERE email = $1`, [
        BENCH_LOGIN_EMAIL,
      ])
    ).rows[0].h;
    const pg = await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    const settings = await db.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings WHERE name IN
        ('shared_buffers', 'work_mem', 'effective_cache_size', 'max_connections', 'jit', 'random_page_cost')
       ORDER BY name`,
    );
    const searchMatches = Number(
      (
        await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM contacts WHERE organization_id = $1
              AND lower(name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '')) LIKE $2`,
          [organizationId, `%${search}%`],
        )
      ).rows[0].n,
    );
    // Four-letter beginnings of surnames (a typeahead's searches): varied, none cached for long.
    const searchWords = (
      await db.query<{ w: string }>(
        `SELECT w FROM (SELECT DISTINCT lower(left(split_part(name, ' ', 2), 4)) AS w
                          FROM contacts TABLESAMPLE SYSTEM (1) REPEATABLE (3)
                         WHERE organization_id = $1) s
          WHERE w ~ '^[a-z]{4}$' ORDER BY w LIMIT 60`,
        [organizationId],
      )
    ).rows.map((r) => r.w);
    const filterMatches = Number(
      (
        await db.query<{ n: string }>(
          `SELECT count(*) AS n FROM deals WHERE organization_id = $1 AND status = 'in_progress' AND amount >= $2::numeric`,
          [organizationId, minAmount],
        )
      ).rows[0].n,
    );
    return {
      organizationId,
      sizes,
      dealIds,
      movable,
      hash,
      pgVersion: pg.rows[0].v,
      pgSettings: settings.rows.map((s) => `${s.name}=${s.setting}${s.unit ?? ''}`),
      searchMatches,
      searchWords,
      filterMatches,
    };
  });
  if (!data.dealIds.length) throw new Error('the bench organization has no deals');
  log(
    `data: ${thousands(data.sizes.contacts.org)} contacts, ${thousands(data.sizes.deals.org)} deals, ` +
      `${thousands(data.sizes.tasks.org)} tasks in "${BIG_ORG_NAME}" (${data.sizes.databaseSize})`,
  );
  const seedInfo = readJson(join(RESULTS_DIR, 'seed.json'));

  // --- the bcrypt limit, on an idle machine (no server under load yet) --------------------
  const bcryptLimit = await measureBcrypt(data.hash, 5);
  const bcryptRuns = [bcryptLimit.perSecond];
  const jwtVerify = measureJwtVerify();
  log(
    `jwt verify: ${jwtVerify.stringSecret}/s with a string secret, ${jwtVerify.keyObject}/s with a KeyObject`,
  );
  log(
    `bcrypt limit: ${bcryptLimit.perSecond.toFixed(1)} compares/s (cost ${bcryptLimit.cost}, ${bcryptLimit.threads} threads); one compare ${bcryptLimit.singleMs.toFixed(0)} ms`,
  );

  // --- the servers --------------------------------------------------------------------------
  const dataDir = mkdtempSync(join(tmpdir(), 'crm-bench-data-'));
  const appEnv = benchAppEnv(databaseUrl, dataDir, appExtraEnv);
  const servers: Server[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  };
  const onSignal = (): void => {
    void stopAll().finally(() => {
      rmSync(distCopy, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: Measured[] = [];
  const notes: string[] = [];
  const monitor = new Client({ connectionString: databaseUrl, application_name: 'crm-bench' });
  // A terminated connection (another session restarting the server) must fail the run through
  // its clean-up below, not kill the process with the servers left running.
  monitor.on('error', (e) => log(`monitor connection lost: ${e.message}`));
  await monitor.connect();
  let keyset: { walkMs: number; pages: number; depths: number[] } | null = null;
  let plans: PlanSummary[] = [];
  let appPeakRss = 0;
  let noCachePeakRss = 0;
  try {
    const basePort = await freePort();
    const baseline = await startServer({
      name: 'baseline',
      args: ['--require', 'ts-node/register/transpile-only', join('bench', 'baseline-server.ts')],
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: databaseUrl,
        JWT_ACCESS_SECRET: appEnv(basePort).JWT_ACCESS_SECRET,
        PORT: String(basePort),
        DB_POOL_MIN: '5',
        DB_POOL_MAX: '10',
        TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
      },
      port: basePort,
      readyPath: '/health',
      cwd: ROOT,
      dbApplication: 'crm-bench-baseline',
    });
    servers.push(baseline);
    const appPort = await freePort();
    const app = await startServer({
      name: 'app',
      args: [mainJs],
      env: appEnv(appPort),
      port: appPort,
      readyPath: `${API}/health`,
      cwd: ROOT,
      dbApplication: 'crm-api',
    });
    servers.push(app);
    log(`app pid ${app.pid} on ${app.url}, baseline pid ${baseline.pid} on ${baseline.url}`);

    const session = await login(app.url);
    if (session.organizationId !== data.organizationId)
      throw new Error('login: wrong organization');
    const headers = {
      authorization: `Bearer ${session.accessToken}`,
      'x-organization-id': session.organizationId,
    };

    const rotate = <T>(list: readonly T[]): (() => T) => {
      let i = 0;
      return () => list[i++ % list.length];
    };
    const nextDeal = rotate(data.dealIds);
    let moved = 0;
    const nextMovable = (): string => data.movable[moved++ % Math.max(1, data.movable.length)];
    const runId = randomBytes(4).toString('hex');
    let created = 0;

    const run = async (scenario: Scenario, force = false): Promise<Measured | null> => {
      if (!force && only && !only.test(scenario.id)) return null;
      const measured = await measure(scenario, {
        headers: scenario.headers ?? (scenario.anonymous ? {} : headers),
        duration: scenario.duration ?? duration,
        warmup: scenario.warmup ?? warmup,
        monitor,
      });
      results.push(measured);
      log(formatLine(measured));
      // Requests cut off by the end of a run may still be running in PostgreSQL: let them end.
      const waited = await quiesce(monitor);
      if (waited > 1000) log(`  (waited ${seconds(waited)} for leftover queries)`);
      return measured;
    };

    // Same SQL, app vs bare baseline: alternating rounds (PAIRS).
    const p1 = (server: Server, id: string): Scenario => ({
      id,
      title: 'GET /contacts (page 1, pageSize 20, with total)',
      server,
      path: () => `${API}/contacts`,
      connections,
    });
    const list1 =
      (endpoint: 'deals' | 'tasks') =>
      (server: Server, id: string): Scenario => ({
        id,
        title: `GET /${endpoint} (page 1, pageSize 20, with total)`,
        server,
        path: () => `${API}/${endpoint}`,
        connections,
      });
    const byId = (server: Server, id: string): Scenario => ({
      id,
      title: 'GET /deals/{id} (rotating over sampled ids)',
      server,
      path: () => `${API}/deals/${nextDeal()}`,
      connections,
    });
    const pairScenario: Record<string, (server: Server, id: string) => Scenario> = {
      'contacts-page1': p1,
      'deals-page1': list1('deals'),
      'tasks-page1': list1('tasks'),
      'deal-by-id': byId,
    };
    // A pair runs when --only names either of its ids; each round measures both sides.
    const pairs = PAIRS.filter((p) => !only || only.test(p.appId) || only.test(p.baselineId));
    for (let round = 1; round <= rounds; round++) {
      for (const pair of pairs) {
        const sides: [Server, string][] = [
          [baseline, pair.baselineId],
          [app, pair.appId],
        ];
        if (round % 2 === 0) sides.reverse();
        for (const [server, id] of sides) {
          await run(
            {
              ...pairScenario[pair.key](server, id),
              round,
              duration: roundDuration,
              // The servers are warm after round 1: a short warm-up on the endpoint each time.
              warmup: round === 1 ? warmup : Math.min(warmup, 1),
            },
            true,
          );
        }
      }
    }
    await run({ ...p1(app, 'contacts-page1-1'), connections: 1 });
    await stopServer(servers, baseline);

    // GET /deals/{id} as three identities, alternated per round (issue 16): the bench user's JWT
    // with the built-in owner role, an API key with the owner role, and a user whose custom role
    // reads every deal. The target: the key and the custom role within 10% of the JWT.
    const accessIds = ['deal-by-id-jwt', 'deal-by-id-api-key', 'deal-by-id-custom-role'];
    if (!only || accessIds.some((id) => only.test(id))) {
      const identities = await accessIdentities(app.url, headers, runId);
      for (let round = 1; round <= rounds; round++) {
        const order = (['jwt', 'api-key', 'custom-role'] as const).slice();
        if (round % 2 === 0) order.reverse();
        for (const who of order) {
          await run(
            {
              id: `deal-by-id-${who}`,
              title: `GET /deals/{id} with ${identities[who].label}`,
              server: app,
              path: () => `${API}/deals/${nextDeal()}`,
              connections,
              headers: identities[who].headers,
              round,
              duration: roundDuration,
              warmup: round === 1 ? warmup : Math.min(warmup, 1),
            },
            true,
          );
        }
      }
    }

    await run({
      id: 'contacts-search',
      title: `GET /contacts?search=${search} (${thousands(data.searchMatches)} matches)`,
      server: app,
      path: () => `${API}/contacts?search=${encodeURIComponent(search)}`,
      connections,
    });
    const nextWord = rotate(data.searchWords);
    const variedSearch = (server: Server, id: string): Scenario => ({
      id,
      title: `GET /contacts?search=<one of ${data.searchWords.length} surname beginnings, in turn>`,
      server,
      path: () => `${API}/contacts?search=${nextWord()}`,
      connections,
    });
    await run(variedSearch(app, 'contacts-search-varied'));
    await run({
      id: 'deals-filter',
      title: `GET /deals?status=in_progress&minAmount=${minAmount} (${thousands(data.filterMatches)} matches)`,
      server: app,
      path: () => `${API}/deals?status=in_progress&minAmount=${minAmount}`,
      connections,
    });
    await run({
      id: 'tasks-overdue',
      title: 'GET /tasks?overdue=true',
      server: app,
      path: () => `${API}/tasks?overdue=true`,
      connections,
    });

    // Depth: offset page vs keyset cursor at the same row, and a deeper keyset position.
    const rows = data.sizes.contacts.org;
    const deepRow = Math.min(800_000, Math.floor((rows * 0.8) / 20) * 20);
    const deeperRow = Math.min(900_000, Math.floor((rows * 0.9) / 100) * 100);
    const deepPage = deepRow / 20;
    const deep: Scenario = {
      id: 'contacts-deep-page',
      title: `GET /contacts?page=${deepPage}&pageSize=20 (offset ${thousands(deepRow - 20)})`,
      server: app,
      path: () => `${API}/contacts?page=${deepPage}&pageSize=20`,
      connections,
    };
    await run(deep);
    await run({ ...deep, id: 'contacts-deep-page-1', connections: 1 });
    if (!only || only.test('contacts-keyset')) {
      const walk = await walkCursor(app.url, headers, [deepRow, deeperRow]);
      keyset = { walkMs: walk.ms, pages: walk.pages, depths: [deepRow, deeperRow] };
      log(
        `keyset walk to row ${thousands(deeperRow)}: ${walk.pages} pages of 100 in ${seconds(walk.ms)}`,
      );
      for (const [row, cursor] of walk.cursors) {
        const scenario: Scenario = {
          id: row === deepRow ? 'contacts-keyset-deep' : 'contacts-keyset-deeper',
          title: `GET /contacts?limit=20&cursor=<after row ${thousands(row)}>`,
          server: app,
          path: () => `${API}/contacts?limit=20&cursor=${encodeURIComponent(cursor)}`,
          connections,
        };
        await run(scenario);
        if (row === deeperRow) await run({ ...scenario, id: `${scenario.id}-1`, connections: 1 });
      }
    }

    // Analytics from the cache (the first request fills it).
    for (const endpoint of ['summary', 'funnel'] as const) {
      await run({
        id: `analytics-${endpoint}-cached`,
        title: `GET /analytics/deals/${endpoint} (cached)`,
        server: app,
        path: () => `${API}/analytics/deals/${endpoint}`,
        connections,
      });
      await run({
        id: `analytics-${endpoint}-cached-1`,
        title: `GET /analytics/deals/${endpoint} (cached, 1 connection)`,
        server: app,
        path: () => `${API}/analytics/deals/${endpoint}`,
        connections: 1,
      });
    }

    // Writes.
    await run({
      id: 'deal-patch-stage',
      title: 'PATCH /deals/{id} {stage: proposal} (a new qualification deal each time)',
      server: app,
      method: 'PATCH',
      path: () => `${API}/deals/${nextMovable()}`,
      body: () => '{"stage":"proposal"}',
      connections,
    });
    if (moved > data.movable.length) {
      notes.push(
        `PATCH ran out of distinct deals: ${moved - data.movable.length} requests were no-op repeats.`,
      );
    }
    await run({
      id: 'contact-create',
      title: 'POST /contacts (unique email each)',
      server: app,
      method: 'POST',
      path: () => `${API}/contacts`,
      body: () => {
        created += 1;
        return JSON.stringify({
          name: `Bench Created ${created}`,
          email: `created-${runId}-${created}@bench-post.test`,
          phone: '+1 555 0100',
        });
      },
      connections,
    });

    // Logins: at the connection count, then the event-loop probe.
    const loginScenario = (id: string, conns: number, extra: Partial<Scenario> = {}): Scenario => ({
      id,
      title: 'POST /auth/login (bcrypt cost 12)',
      server: app,
      method: 'POST',
      path: () => `${API}/auth/login`,
      body: () => JSON.stringify({ email: BENCH_LOGIN_EMAIL, password: BENCH_PASSWORD }),
      connections: conns,
      anonymous: true,
      ...extra,
    });
    // The limit again, now (the app idle): neighbours' load changes during a run; the higher
    // of the two measurements is the limit the logins are held to.
    await quiesce(monitor);
    const again = await measureBcrypt(data.hash, 5);
    bcryptRuns.push(again.perSecond);
    if (again.perSecond > bcryptLimit.perSecond) Object.assign(bcryptLimit, again);
    log(
      `bcrypt limit again: ${again.perSecond.toFixed(1)} compares/s (limit used: ${bcryptLimit.perSecond})`,
    );
    // No warm-up (it would leave logins queued in the app) and twice the duration: at a few
    // logins per second, a short window counts too few of them.
    const logins = await run(
      loginScenario('auth-login', connections, { warmup: 0, duration: duration * 2 }),
    );
    if (logins) await drainLogins(connections, bcryptLimit.perSecond);

    const probe = (id: string, sampleRss: boolean, exclusive = true): Scenario => ({
      id,
      title: `GET /deals/{id} at a fixed ${probeRate} req/s (4 connections)`,
      server: app,
      path: () => `${API}/deals/${nextDeal()}`,
      connections: 4,
      rate: probeRate,
      sampleRss,
      exclusive,
    });
    if (!only || only.test('probe')) {
      await run(probe('probe-deal-by-id-idle', true));
      // Logins start first and end last, so the probe runs entirely under them.
      const loginsRun = run(
        loginScenario('probe-logins', 16, {
          warmup: 0,
          duration: duration + 2,
          sampleRss: false,
          exclusive: false,
        }),
      );
      await new Promise((r) => setTimeout(r, 1000));
      await run(probe('probe-deal-by-id-during-logins', true, false));
      await loginsRun;
      await drainLogins(16, bcryptLimit.perSecond);
    }
    appPeakRss = app.rss.peak;
    noteErrors(notes, app);
    await stopServer(servers, app);

    // The analytics cache off: every request computes.
    if (!only || only.test('uncached')) {
      const noCachePort = await freePort();
      const noCache = await startServer({
        name: 'app (caches off)',
        args: [mainJs],
        env: appEnv(noCachePort, {
          ANALYTICS_CACHE_TTL_SECONDS: '0',
          LIST_TOTAL_CACHE_TTL_SECONDS: '0',
        }),
        port: noCachePort,
        readyPath: `${API}/health`,
        cwd: ROOT,
        dbApplication: 'crm-api',
      });
      servers.push(noCache);
      // Every offset page counts its total afresh.
      await run({ ...p1(noCache, 'contacts-page1-uncached'), connections: 1 });
      await run(p1(noCache, 'contacts-page1-uncached-32'));
      await run({ ...variedSearch(noCache, 'contacts-search-varied-uncached'), connections: 1 });
      await run(variedSearch(noCache, 'contacts-search-varied-uncached-32'));
      for (const [endpoint, name] of [
        ['summary', 'analytics-summary'],
        ['funnel', 'analytics-funnel'],
      ] as const) {
        await run({
          id: `${name}-uncached-1`,
          title: `GET /analytics/deals/${endpoint} (cache off, 1 connection)`,
          server: noCache,
          path: () => `${API}/analytics/deals/${endpoint}`,
          connections: 1,
        });
        await run({
          id: `${name}-uncached`,
          title: `GET /analytics/deals/${endpoint} (cache off)`,
          server: noCache,
          path: () => `${API}/analytics/deals/${endpoint}`,
          connections,
        });
      }
      noCachePeakRss = noCache.rss.peak;
      noteErrors(notes, noCache);
      await stopServer(servers, noCache);
    }
  } finally {
    await stopAll();
    await monitor.end();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(distCopy, { recursive: true, force: true });
  }

  if (!args.flag('no-explain')) {
    log(`EXPLAIN (ANALYZE, BUFFERS) of the hot queries -> ${plansDir}`);
    plans = await dumpPlans(databaseUrl, {
      outDir: plansDir,
      search,
      minAmount,
      depth: Math.min(800_000, Math.floor((data.sizes.contacts.org * 0.8) / 20) * 20),
    });
  }

  const machine = {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    postgres: `${data.pgVersion}, ${database.description}`,
    postgresSettings: data.pgSettings,
    loadAverageBefore: loadBefore.map((l) => Number(l.toFixed(2))),
    loadAverageAfter: loadavg().map((l) => Number(l.toFixed(2))),
    commit: gitDescribe(ROOT),
  };
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    seed: seedInfo,
    machine,
    load: {
      tool: `autocannon ${autocannonVersion()} (library, same machine, loopback)`,
      connections,
      durationS: duration,
      warmupS: warmup,
      rounds,
      roundDurationS: roundDuration,
      clockTicks: CLOCK_TICKS,
    },
    data: {
      ...data.sizes,
      searchWord: search,
      searchMatches: data.searchMatches,
      minAmount,
      filterMatches: data.filterMatches,
    },
    bcryptLimit: { ...bcryptLimit, runs: bcryptRuns },
    jwtVerify,
    keyset,
    appPeakRssMiB: round1(appPeakRss),
    noCachePeakRssMiB: round1(noCachePeakRss),
    results,
    notes,
    plans,
  };
  const comparisons = compare(report);
  const targets = evaluate(report, comparisons);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = JSON.stringify({ ...report, comparisons, targets }, null, 2);
  writeFileSync(
    join(RESULTS_DIR, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`),
    json,
  );
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  const markdown = renderMarkdown(report, comparisons, targets);
  if (!args.flag('no-doc')) {
    writeDoc(docPath, markdown);
    log(`results written to ${docPath} and bench/results/latest.json`);
  }
  console.log('\n' + markdown);
}

// --- measuring --------------------------------------------------------------------------------

async function measure(
  scenario: Scenario,
  options: {
    headers: Record<string, string>;
    duration: number;
    warmup: number;
    monitor: Client;
  },
): Promise<Measured> {
  const method = scenario.method ?? 'GET';
  const headers: Record<string, string> = { ...options.headers };
  if (scenario.body) headers['content-type'] = 'application/json';
  const cannon = (seconds: number): Promise<autocannon.Result> =>
    autocannon({
      url: scenario.server.url,
      connections: scenario.connections,
      duration: seconds,
      timeout: 30,
      headers,
      overallRate: scenario.rate,
      // The probe's latencies are its own: no coordinated-omission fill-in.
      ignoreCoordinatedOmission: scenario.rate !== undefined,
      requests: [
        {
          method,
          setupRequest: (request) => ({
            ...request,
            method,
            path: scenario.path(),
            ...(scenario.body ? { body: scenario.body() } : {}),
          }),
        },
      ],
    });
  if (options.warmup > 0) await cannon(options.warmup);
  const sampleRss = scenario.sampleRss ?? true;
  if (sampleRss) scenario.server.rss.window();
  // CPU time of the server and of its PostgreSQL backends around the measured window only.
  const exclusive = scenario.exclusive ?? true;
  const db = exclusive ? scenario.server.dbApplication : null;
  const pgBefore = db ? await backendCpu(options.monitor, db) : null;
  const cpuBefore = exclusive ? scenario.server.cpu() : null;
  const result = await cannon(options.duration);
  const cpuAfter = exclusive ? scenario.server.cpu() : null;
  const pgAfter = db ? await backendCpu(options.monitor, db) : null;
  const peak = sampleRss ? scenario.server.rss.window() : null;
  const ok = result['2xx'];
  const perRequestMs = (s: number | null): number | null =>
    s === null || ok === 0 ? null : Math.round((s * 1e6) / ok) / 1000;
  const cpuS = cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : null;
  const pgS = pgBefore && pgAfter ? backendCpuDelta(pgBefore, pgAfter) : null;
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]),
  );
  const total = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    id: scenario.id,
    title: scenario.title,
    server: scenario.server.name,
    connections: scenario.connections,
    rate: scenario.rate ?? null,
    durationS: result.duration,
    requests: total,
    ok: result['2xx'],
    rps: round1(result['2xx'] / result.duration),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    mean: round1(result.latency.mean),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    peakRssMiB: peak === null ? null : round1(peak),
    round: scenario.round ?? null,
    cpuMsPerRequest: perRequestMs(cpuS),
    pgCpuMsPerRequest: perRequestMs(pgS),
    cpuCores: cpuS === null ? null : Math.round((cpuS / result.duration) * 100) / 100,
  };
}

/**
 * CPU seconds so far of each PostgreSQL backend of one application_name (pid -> seconds), read
 * from /proc: null when the server is not local (no backend's /proc entry is a postgres).
 */
async function backendCpu(
  monitor: Client,
  application: string,
): Promise<Map<number, number> | null> {
  const { rows } = await monitor.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
    [application],
  );
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    const stat = processCpu(pid);
    if (stat && /postgres/.test(stat.name)) cpu.set(pid, stat.seconds);
  }
  return rows.length && !cpu.size ? null : cpu;
}

/**
 * The backends' CPU between two readings: a backend opened in between counts from zero (its
 * start-up belongs to the window); one closed in between is lost (pools keep theirs under load).
 */
function backendCpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, seconds] of after) sum += seconds - (before.get(pid) ?? 0);
  return sum;
}

async function measureBcrypt(
  hash: string,
  durationS: number,
): Promise<{
  perSecond: number;
  singleMs: number;
  cost: number;
  threads: number;
  concurrency: number;
}> {
  const cost = Number(/^\$2[aby]\$(\d+)\$/.exec(hash)?.[1] ?? 0);
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await bcrypt.compare(BENCH_PASSWORD, hash);
  const singleMs = (performance.now() - t0) / 3;
  // Twice as many compares in flight as libuv threads: every thread (and core) stays busy.
  const concurrency = threads * 2;
  let done = 0;
  const start = performance.now();
  const end = start + durationS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await bcrypt.compare(BENCH_PASSWORD, hash);
        done += 1;
      }
    }),
  );
  const perSecond = done / ((performance.now() - start) / 1000);
  return { perSecond: round1(perSecond), singleMs: round1(singleMs), cost, threads, concurrency };
}

/**
 * jsonwebtoken 9 tries createPublicKey() on a string secret (which throws) before falling back
 * to createSecretKey(), on every verify: measured here against a pre-built KeyObject.
 */
function measureJwtVerify(): { stringSecret: number; keyObject: number } {
  const secret = randomBytes(48).toString('base64url');
  const token = jwt.sign({ sub: 'bench', typ: 'access' }, secret, {
    algorithm: 'HS256',
    issuer: 'crm-api',
    expiresIn: 3600,
  });
  const rate = (key: string | ReturnType<typeof createSecretKey>): number => {
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < 1000) {
      jwt.verify(token, key, { algorithms: ['HS256'], issuer: 'crm-api' });
      n += 1;
    }
    return Math.round(n / ((performance.now() - start) / 1000));
  };
  return { stringSecret: rate(secret), keyObject: rate(createSecretKey(Buffer.from(secret))) };
}

/** Follows nextCursor with limit=100 once, keeping the cursors found after the given rows. */
async function walkCursor(
  url: string,
  headers: Record<string, string>,
  rows: number[],
): Promise<{ ms: number; pages: number; cursors: [number, string][] }> {
  const wanted = [...new Set(rows)].sort((a, b) => a - b);
  const cursors: [number, string][] = [];
  let cursor: string | null = null;
  let seen = 0;
  let pages = 0;
  const start = performance.now();
  while (wanted.length) {
    const query = `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await fetch(`${url}${API}/contacts?${query}`, { headers });
    if (!res.ok) throw new Error(`keyset walk: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { items: unknown[]; nextCursor: string | null };
    pages += 1;
    seen += body.items.length;
    cursor = body.nextCursor;
    if (!cursor) break;
    while (wanted.length && seen >= wanted[0]) {
      cursors.push([wanted.shift()!, cursor]);
    }
  }
  return { ms: performance.now() - start, pages, cursors };
}

/** Waits (at most 2 minutes) until no query of the app or the baseline is running. */
async function quiesce(monitor: Client): Promise<number> {
  const start = performance.now();
  let quiet = 0;
  // Twice in a row: a request waiting for a pool connection starts its query right after one ends.
  while (quiet < 2 && performance.now() - start < 120_000) {
    const { rows } = await monitor.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND application_name IN ('crm-api', 'crm-bench-baseline')
          AND state <> 'idle'`,
    );
    quiet = Number(rows[0].n) === 0 ? quiet + 1 : 0;
    await new Promise((r) => setTimeout(r, 200));
  }
  return performance.now() - start;
}

/**
 * Logins still queued in the app when a run stops keep its bcrypt threads (and the CPU) busy
 * for connections / limit seconds: wait them out before the next scenario.
 */
async function drainLogins(connections: number, perSecond: number): Promise<void> {
  const ms = Math.min(60_000, Math.ceil((connections / Math.max(perSecond, 0.5)) * 1200) + 1000);
  log(`waiting ${seconds(ms)} for queued logins to finish`);
  await new Promise((r) => setTimeout(r, ms));
}

function noteErrors(notes: string[], server: Server): void {
  for (const [message, count] of server.errors) {
    notes.push(`${server.name} logged ${count} x "${message}"`);
  }
}

async function stopServer(servers: Server[], server: Server): Promise<void> {
  const i = servers.indexOf(server);
  if (i >= 0) servers.splice(i, 1);
  await server.stop();
}

// --- reporting --------------------------------------------------------------------------------

type Report = {
  startedAt: string;
  command: string;
  seed: Record<string, unknown> | null;
  machine: {
    nproc: number;
    cpu: string;
    memoryGiB: number;
    node: string;
    postgres: string;
    postgresSettings: string[];
    loadAverageBefore: number[];
    loadAverageAfter: number[];
    commit: string;
  };
  load: {
    tool: string;
    connections: number;
    durationS: number;
    warmupS: number;
    rounds: number;
    roundDurationS: number;
    clockTicks: number;
  };
  data: {
    organizations: number;
    users: number;
    databaseSize: string;
    searchWord: string;
    searchMatches: number;
    minAmount: string;
    filterMatches: number;
    contacts: { org: number; all: number };
    deals: { org: number; all: number };
    tasks: { org: number; all: number };
    activities: { org: number; all: number };
  };
  bcryptLimit: {
    perSecond: number;
    singleMs: number;
    cost: number;
    threads: number;
    concurrency: number;
    runs: number[];
  };
  jwtVerify?: { stringSecret: number; keyObject: number };
  keyset: { walkMs: number; pages: number; depths: number[] } | null;
  appPeakRssMiB: number;
  noCachePeakRssMiB: number;
  results: Measured[];
  notes: string[];
  plans: PlanSummary[];
};

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** Spread of a nullable field over rounds (null when any round could not measure it). */
function spreadOf(runs: readonly Measured[], pick: (m: Measured) => number | null): Spread | null {
  const values = runs.map(pick).filter((v): v is number => v !== null);
  return values.length && values.length === runs.length ? spread(values) : null;
}

/**
 * One scenario's figures: the run itself, or for the rounds of an alternated pair their
 * medians (req/s, latencies, CPU) with errors summed and maxima kept.
 */
function summarize(runs: readonly Measured[]): Measured | undefined {
  if (runs.length <= 1) return runs[0];
  const med = (pick: (m: Measured) => number): number => round1(median(runs.map(pick)));
  const medOrNull = (pick: (m: Measured) => number | null): number | null => {
    const s = spreadOf(runs, pick);
    return s === null ? null : Math.round(s.median * 1000) / 1000;
  };
  const sum = (pick: (m: Measured) => number): number => runs.reduce((a, m) => a + pick(m), 0);
  const statusCodes: Record<string, number> = {};
  for (const m of runs)
    for (const [code, n] of Object.entries(m.statusCodes))
      statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const rss = runs.map((m) => m.peakRssMiB).filter((v): v is number => v !== null);
  return {
    ...runs[0],
    durationS: round1(sum((m) => m.durationS)),
    requests: sum((m) => m.requests),
    ok: sum((m) => m.ok),
    rps: med((m) => m.rps),
    p50: med((m) => m.p50),
    p90: med((m) => m.p90),
    p99: med((m) => m.p99),
    max: Math.max(...runs.map((m) => m.max)),
    mean: med((m) => m.mean),
    errors: sum((m) => m.errors),
    timeouts: sum((m) => m.timeouts),
    non2xx: sum((m) => m.non2xx),
    statusCodes,
    peakRssMiB: rss.length ? Math.max(...rss) : null,
    round: null,
    cpuMsPerRequest: medOrNull((m) => m.cpuMsPerRequest),
    pgCpuMsPerRequest: medOrNull((m) => m.pgCpuMsPerRequest),
    cpuCores: medOrNull((m) => m.cpuCores),
  };
}

/** The scenarios of a report in order of first run, each with its runs (several: rounds). */
function grouped(results: readonly Measured[]): Measured[][] {
  const groups = new Map<string, Measured[]>();
  for (const m of results) groups.set(m.id, [...(groups.get(m.id) ?? []), m]);
  return [...groups.values()];
}

/** App vs baseline per alternated pair: medians and spreads of the rounds, and the ratios. */
function compare(report: Report): Comparison[] {
  const comparisons: Comparison[] = [];
  const side = (runs: Measured[]): Side => ({
    rps: spread(runs.map((m) => m.rps)),
    p99: spread(runs.map((m) => m.p99)),
    cpuMsPerRequest: spreadOf(runs, (m) => m.cpuMsPerRequest),
    pgCpuMsPerRequest: spreadOf(runs, (m) => m.pgCpuMsPerRequest),
    cpuCores: spreadOf(runs, (m) => m.cpuCores),
  });
  for (const pair of PAIRS) {
    const app = report.results.filter((m) => m.id === pair.appId && m.round !== null);
    const base = report.results.filter((m) => m.id === pair.baselineId && m.round !== null);
    if (!app.length || !base.length) continue;
    const both = app
      .map((a) => [a, base.find((b) => b.round === a.round)] as const)
      .filter((ab): ab is readonly [Measured, Measured] => ab[1] !== undefined);
    const roundThroughputRatios = both.map(([a, b]) => round3(a.rps / Math.max(b.rps, 1e-9)));
    const roundCpuRatios = both
      .filter(([a, b]) => a.cpuMsPerRequest !== null && b.cpuMsPerRequest)
      .map(([a, b]) => round3(a.cpuMsPerRequest! / b.cpuMsPerRequest!));
    const appSide = side(app);
    const baseSide = side(base);
    comparisons.push({
      key: pair.key,
      label: pair.label,
      rounds: both.length,
      app: appSide,
      baseline: baseSide,
      throughputRatio: round3(appSide.rps.median / Math.max(baseSide.rps.median, 1e-9)),
      roundThroughputRatios,
      cpuRatio: roundCpuRatios.length ? round3(median(roundCpuRatios)) : null,
      roundCpuRatios,
      minThroughput: pair.minThroughput,
      maxCpu: pair.maxCpu,
    });
  }
  return comparisons;
}

function evaluate(report: Report, comparisons: readonly Comparison[]): Target[] {
  const runsOf = (id: string): Measured[] => report.results.filter((m) => m.id === id);
  const r = (id: string): Measured | undefined => summarize(runsOf(id));
  const targets: Target[] = [];
  const add = (target: string, measured: string, met: boolean | null): void => {
    targets.push({ target, measured, met });
  };
  for (const c of comparisons) {
    const rounds = `median of ${c.rounds} alternating round${c.rounds === 1 ? '' : 's'}`;
    add(
      `${c.label}: throughput >= ${pct(c.minThroughput)} of the bare baseline (${rounds})`,
      `${c.app.rps.median} vs ${c.baseline.rps.median} req/s = ${pct(c.throughputRatio)} (rounds: ${c.roundThroughputRatios.map(pct).join(', ')})`,
      c.throughputRatio >= c.minThroughput,
    );
    add(
      `${c.label}: server CPU per request <= ${c.maxCpu}x the baseline's (${rounds})`,
      c.cpuRatio === null || !c.app.cpuMsPerRequest || !c.baseline.cpuMsPerRequest
        ? 'not measurable (no /proc)'
        : `${ms3(c.app.cpuMsPerRequest.median)} vs ${ms3(c.baseline.cpuMsPerRequest.median)} ms = ${c.cpuRatio.toFixed(2)}x (rounds: ${c.roundCpuRatios.map((x) => `${x.toFixed(2)}x`).join(', ')})`,
      c.cpuRatio === null ? null : c.cpuRatio <= c.maxCpu,
    );
  }
  const p99 = (ids: string[], limit: number, what: string): void => {
    for (const id of ids) {
      const runs = runsOf(id);
      const m = summarize(runs);
      if (m)
        add(
          `${what} p99 < ${limit} ms (${id})`,
          runs.length > 1
            ? `p99 ${m.p99} ms (median of ${runs.length} rounds: ${Math.min(...runs.map((x) => x.p99))}-${Math.max(...runs.map((x) => x.p99))})`
            : `p99 ${m.p99} ms`,
          m.p99 < limit && m.errors + m.non2xx === 0,
        );
    }
  };
  p99(['deal-by-id'], 50, 'read by id');
  const byJwt = r('deal-by-id-jwt');
  for (const who of ['api-key', 'custom-role'] as const) {
    const other = r(`deal-by-id-${who}`);
    if (!byJwt || !other) continue;
    const ratio = other.rps / byJwt.rps;
    add(
      `GET /deals/{id} with ${who === 'api-key' ? 'an API key' : 'a custom role'}: throughput within 10% of a JWT with a built-in role`,
      `${thousands(Math.round(other.rps))} vs ${thousands(Math.round(byJwt.rps))} req/s (${(ratio * 100).toFixed(0)}%; p99 ${other.p99} vs ${byJwt.p99} ms; median of ${runsOf(`deal-by-id-${who}`).length} alternated rounds)`,
      ratio >= 0.9 && other.errors + other.non2xx === 0,
    );
  }
  const baseById = r('baseline-deal-by-id');
  if (baseById)
    add(
      'reference (no target): the bare baseline, GET /deals/{id} p99 < 50 ms',
      `p99 ${baseById.p99} ms${runsOf('baseline-deal-by-id').length > 1 ? ' (median of rounds)' : ''}`,
      null,
    );
  p99(
    [
      'contacts-page1',
      'deals-page1',
      'tasks-page1',
      'contacts-search',
      'contacts-search-varied',
      'deals-filter',
      'tasks-overdue',
    ],
    100,
    'list/filter/search',
  );
  for (const id of [
    'contacts-page1-uncached',
    'contacts-page1-uncached-32',
    'contacts-search-varied-uncached',
    'contacts-search-varied-uncached-32',
  ]) {
    const m = r(id);
    if (m)
      add(
        `for comparison (no target): ${id}, every total counted (${m.connections} conn.)`,
        `p50 ${m.p50} ms, p99 ${m.p99} ms, ${m.rps} req/s`,
        null,
      );
  }
  p99(['deal-patch-stage', 'contact-create'], 150, 'write');
  const page1 = r('contacts-page1');
  for (const id of ['contacts-keyset-deep', 'contacts-keyset-deeper', 'contacts-deep-page']) {
    const k = r(id);
    if (page1 && k)
      add(
        id === 'contacts-deep-page'
          ? 'for comparison (no target): the offset page at the same depth vs page 1'
          : `${id} within 2x of page 1 (p50 latency)`,
        `p50 ${k.p50} vs ${page1.p50} ms (${(k.p50 / Math.max(page1.p50, 1)).toFixed(2)}x); ${k.rps} vs ${page1.rps} req/s`,
        id === 'contacts-deep-page' ? null : k.p50 <= 2 * Math.max(page1.p50, 1),
      );
  }
  const single = r('contacts-page1-1');
  for (const id of ['contacts-keyset-deeper-1', 'contacts-deep-page-1']) {
    const k = r(id);
    if (single && k)
      add(
        id === 'contacts-deep-page-1'
          ? 'for comparison (no target): offset page at that depth vs page 1, 1 connection'
          : `${id} within 2x of page 1, 1 connection (p50 latency)`,
        `p50 ${k.p50} vs ${single.p50} ms (${(k.p50 / Math.max(single.p50, 1)).toFixed(2)}x)`,
        id === 'contacts-deep-page-1' ? null : k.p50 <= 2 * Math.max(single.p50, 1),
      );
  }
  for (const id of [
    'analytics-summary-cached',
    'analytics-funnel-cached',
    'analytics-summary-cached-1',
    'analytics-funnel-cached-1',
  ]) {
    const m = r(id);
    if (m)
      add(
        `analytics cached p99 < 10 ms (${id}, ${m.connections} conn.)`,
        `p99 ${m.p99} ms`,
        m.p99 < 10,
      );
  }
  for (const id of [
    'analytics-summary-uncached-1',
    'analytics-funnel-uncached-1',
    'analytics-summary-uncached',
    'analytics-funnel-uncached',
  ]) {
    const m = r(id);
    if (m)
      add(
        `analytics uncached p50 < 300 ms (${id}, ${m.connections} conn.)`,
        `p50 ${m.p50} ms`,
        m.p50 < 300,
      );
  }
  const limit = report.bcryptLimit.perSecond;
  const logins = r('auth-login');
  if (logins)
    add(
      `logins >= 80% of the bcrypt limit (${logins.connections} conn.)`,
      `${logins.rps} vs ${limit} /s = ${pct(logins.rps / limit)}`,
      logins.rps >= 0.8 * limit,
    );
  const idle = r('probe-deal-by-id-idle');
  const busy = r('probe-deal-by-id-during-logins');
  const probeLogins = r('probe-logins');
  if (idle && busy && probeLogins) {
    add(
      'logins >= 80% of the bcrypt limit while GET /deals/{id} is probed',
      `${probeLogins.rps} vs ${limit} /s = ${pct(probeLogins.rps / limit)}`,
      probeLogins.rps >= 0.8 * limit,
    );
    add(
      'GET /deals/{id} p99 during logins < 2x idle',
      `p99 ${busy.p99} vs ${idle.p99} ms idle (${(busy.p99 / Math.max(idle.p99, 1)).toFixed(1)}x)`,
      busy.p99 < 2 * Math.max(idle.p99, 1),
    );
  }
  const rss = Math.max(report.appPeakRssMiB, report.noCachePeakRssMiB);
  if (rss) add('app RSS < 300 MB', `peak ${rss} MiB`, rss < (300 * 1e6) / 2 ** 20);
  return targets;
}

function renderMarkdown(
  report: Report,
  comparisons: readonly Comparison[],
  targets: Target[],
): string {
  const m = report.machine;
  const d = report.data;
  const seed = report.seed as { command?: string; seconds?: number } | null;
  const lines: string[] = [
    `#### Run of ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- Command: \`${seed?.command ?? 'npm run bench:seed -- …'}\` (seeded in ${seed?.seconds ?? '?'} s), then \`${report.command}\``,
    `- Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, PostgreSQL ${m.postgres} (${m.postgresSettings.join(', ')}); load average before/after ${m.loadAverageBefore.join(' ')} / ${m.loadAverageAfter.join(' ')}; commit ${m.commit}`,
    `- Data (bench org / all orgs): contacts ${thousands(d.contacts.org)} / ${thousands(d.contacts.all)}, deals ${thousands(d.deals.org)} / ${thousands(d.deals.all)}, tasks ${thousands(d.tasks.org)} / ${thousands(d.tasks.all)}, activities ${thousands(d.activities.org)} / ${thousands(d.activities.all)}; ${d.organizations} organizations, ${d.users} users; database ${d.databaseSize}`,
    `- Load: ${report.load.tool}; ${report.load.connections} connections, ${report.load.durationS} s per scenario after ${report.load.warmupS} s of warm-up; latencies of 2xx answers, 1 ms resolution. The endpoints the baseline implements run app and baseline alternately, ${report.load.rounds} rounds of ${report.load.roundDurationS} s each (the baseline first in odd rounds, the app first in even ones; ${report.load.warmupS} s of warm-up in round 1, then ${Math.min(report.load.warmupS, 1)} s): their rows are medians of the rounds`,
    `- CPU per request: utime + stime of the server process (/proc/<pid>/stat, all threads, ${report.load.clockTicks} ticks/s) read just before and just after the measured window (warm-up excluded), divided by the 2xx answers of the window; PostgreSQL: the same of the backends with the server's application_name (context: the baseline runs the same SQL, so the two should match)`,
    `- bcrypt limit: **${report.bcryptLimit.perSecond} compares/s** (the higher of ${report.bcryptLimit.runs.join(' and ')}/s, measured before the servers started and again just before the logins; cost ${report.bcryptLimit.cost}, ${report.bcryptLimit.concurrency} in flight on ${report.bcryptLimit.threads} libuv threads; one compare alone ${report.bcryptLimit.singleMs} ms)`,
    ...(report.jwtVerify
      ? [
          `- JWT verify (jsonwebtoken, HS256, one thread): ${report.jwtVerify.stringSecret}/s with the secret as a string (as passport-jwt in the app and the baseline pass it), ${report.jwtVerify.keyObject}/s with a KeyObject`,
        ]
      : []),
    report.keyset
      ? `- Keyset walk (limit=100) to row ${thousands(report.keyset.depths[1])}: ${report.keyset.pages} pages in ${seconds(report.keyset.walkMs)} (${(report.keyset.walkMs / report.keyset.pages).toFixed(1)} ms per page, one client)`
      : '- Keyset walk: not run',
    `- Peak RSS: app ${report.appPeakRssMiB} MiB, app with the analytics cache off ${report.noCachePeakRssMiB} MiB`,
    ...report.notes.map((n) => `- Note: ${n}`),
    '',
    '| scenario | what | server | conns | req/s (2xx) | p50 ms | p99 ms | max ms | errors | non-2xx | CPU ms/req (server) | CPU ms/req (PostgreSQL) | peak RSS MiB |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...grouped(report.results)
      .map((runs) => [runs.length, summarize(runs)!] as const)
      .map(
        ([n, r]) =>
          `| ${r.id}${n > 1 ? ` (median of ${n} rounds)` : ''} | ${r.title.replace(/\|/g, '\\|')} | ${r.server} | ${r.connections}${r.rate ? ` @${r.rate}/s` : ''} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.max} | ${r.errors + r.timeouts} | ${r.non2xx}${
            r.non2xx
              ? ` (${Object.entries(r.statusCodes)
                  .filter(([c]) => !c.startsWith('2'))
                  .map(([c, n]) => `${c}: ${n}`)
                  .join(', ')})`
              : ''
          } | ${r.cpuMsPerRequest === null ? '—' : ms3(r.cpuMsPerRequest)} | ${r.pgCpuMsPerRequest === null ? '—' : ms3(r.pgCpuMsPerRequest)} | ${r.peakRssMiB ?? '—'} |`,
      ),
    ...(comparisons.length
      ? [
          '',
          `App vs the bare baseline (same SQL), ${report.load.rounds} alternating rounds: median (min-max) of the rounds; the throughput ratio is of the medians, the CPU ratio the median of the rounds' ratios.`,
          '',
          '| endpoint | app req/s | baseline req/s | throughput ratio (rounds) | app p99 ms | baseline p99 ms | app CPU ms/req | baseline CPU ms/req | CPU ratio (rounds) | PostgreSQL CPU ms/req app / baseline |',
          '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
          ...comparisons.map((c) => {
            const cpu = (x: Spread | null): string => (x ? spreadText(x, ms3) : '—');
            return `| ${c.label} | ${spreadText(c.app.rps)} | ${spreadText(c.baseline.rps)} | **${pct(c.throughputRatio)}** (${c.roundThroughputRatios.map(pct).join(', ')}) | ${spreadText(c.app.p99)} | ${spreadText(c.baseline.p99)} | ${cpu(c.app.cpuMsPerRequest)} | ${cpu(c.baseline.cpuMsPerRequest)} | ${c.cpuRatio === null ? '—' : `**${c.cpuRatio.toFixed(2)}x** (${c.roundCpuRatios.map((x) => `${x.toFixed(2)}x`).join(', ')})`} | ${c.app.pgCpuMsPerRequest ? ms3(c.app.pgCpuMsPerRequest.median) : '—'} / ${c.baseline.pgCpuMsPerRequest ? ms3(c.baseline.pgCpuMsPerRequest.median) : '—'} |`;
          }),
        ]
      : []),
    '',
    '| target | measured | met |',
    '|---|---|---|',
    ...targets.map(
      (t) => `| ${t.target} | ${t.measured} | ${t.met === null ? '—' : t.met ? 'yes' : '**no**'} |`,
    ),
  ];
  if (report.plans.length) {
    lines.push(
      '',
      'Server-side time of the same queries (EXPLAIN ANALYZE, warm; plans in `docs/query-plans/`):',
      '',
      '| plan | queries (execution ms) |',
      '|---|---|',
      ...report.plans.map(
        (p) =>
          `| [${p.file}](query-plans/${p.file}) | ${p.queries.map((q) => `${q.label}: ${q.executionMs}`).join('; ')} |`,
      ),
    );
  }
  return lines.join('\n');
}

/** Replaces the generated section of the doc (or creates the doc with it). */
function writeDoc(path: string, markdown: string): void {
  const section = `${BEGIN}\n${markdown}\n${END}`;
  let text: string;
  if (existsSync(path)) {
    const current = readFileSync(path, 'utf8');
    const a = current.indexOf(BEGIN);
    const b = current.indexOf(END);
    text =
      a >= 0 && b > a
        ? current.slice(0, a) + section + current.slice(b + END.length)
        : `${current.trimEnd()}\n\n## Latest measured run\n\n${section}\n`;
  } else {
    text = `# Performance at scale\n\n## Latest measured run\n\n${section}\n`;
  }
  writeFileSync(path, text);
}

function formatLine(m: Measured): string {
  const id = m.round === null ? m.id : `${m.id} r${m.round}`;
  return `${id.padEnd(34)} ${String(m.rps).padStart(8)} req/s  p50 ${String(m.p50).padStart(5)} ms  p99 ${String(m.p99).padStart(5)} ms  cpu ${m.cpuMsPerRequest ?? '-'} ms/req (${m.cpuCores ?? '-'} cores), pg ${m.pgCpuMsPerRequest ?? '-'} ms/req  err ${m.errors + m.timeouts}  non2xx ${m.non2xx}  rss ${m.peakRssMiB ?? '-'} MiB`;
}

function autocannonVersion(): string {
  const version = readJson(join(ROOT, 'node_modules', 'autocannon', 'package.json'))?.version;
  return typeof version === 'string' ? version : '?';
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;
/** Milliseconds of CPU with 3 significant-enough decimals. */
const ms3 = (n: number): string => n.toFixed(3);
const spreadText = (x: Spread, format: (n: number) => string = String): string =>
  x.min === x.max ? format(x.median) : `${format(x.median)} (${format(x.min)}-${format(x.max)})`;
const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;

main().catch((e: unknown) => {
  console.error('[bench] failed:', e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});

/**
 * The identities of the access comparison: the bench user's JWT (built-in owner), an API key
 * with the owner role, and a new member whose custom role reads every deal (created through the
 * API, once per run).
 */
async function accessIdentities(
  url: string,
  owner: Record<string, string>,
  runId: string,
): Promise<
  Record<'jwt' | 'api-key' | 'custom-role', { label: string; headers: Record<string, string> }>
> {
  const call = async (
    method: string,
    path: string,
    body: object,
    headers = owner,
  ): Promise<Response> =>
    fetch(`${url}${API}${path}`, {
      method,
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const key = await call('POST', '/api-keys', { name: `bench ${runId}`, role: 'owner' });
  if (key.status !== 201) throw new Error(`api key: ${key.status} ${await key.text()}`);
  const role = await call('POST', '/roles', {
    key: 'bench_reader',
    name: 'Bench deal reader',
    permissions: [{ resource: 'deals', actions: ['read'], scope: 'all' }],
  });
  if (role.status !== 201 && role.status !== 400) throw new Error(`role: ${role.status}`);
  const email = `bench-reader-${runId}@example.com`;
  const registered = await call(
    'POST',
    '/auth/register',
    { email, password: BENCH_PASSWORD, name: 'Bench reader', organizationName: 'Bench reader org' },
    {},
  );
  if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
  const added = await call('POST', '/organizations/current/members', {
    email,
    role: 'bench_reader',
  });
  if (added.status !== 201) throw new Error(`member: ${added.status} ${await added.text()}`);
  const reader = (await registered.json()) as { accessToken: string };
  return {
    jwt: { label: 'a JWT, built-in owner role', headers: owner },
    'api-key': {
      label: 'an API key (owner role)',
      headers: { authorization: `Bearer ${((await key.json()) as { key: string }).key}` },
    },
    'custom-role': {
      label: 'a JWT, custom role (deals: read all)',
      headers: { ...owner, authorization: `Bearer ${reader.accessToken}` },
    },
  };
}
