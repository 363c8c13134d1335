/**
 * Webhooks benchmark (issue 14, API.md section 13, docs/decisions/0036):
 *
 *   npm run bench:seed -- --contacts 1000000 --deals 1000000 --tasks 300000   (once)
 *   npm run bench:webhooks     (= nest build, then this file)
 *
 * Needs the bench database (bench/lib/common.ts). The built app (dist/src/main.js, run from a
 * private copy, .data/bench-dist-<pid>) delivers to receivers of this process: one node:http
 * server per endpoint on 127.0.0.1 (WEBHOOK_ALLOW_HTTP and WEBHOOK_ALLOW_PRIVATE are set), which
 * count the requests, verify the signature of a sample with the `standardwebhooks` package (the
 * first request of each endpoint and every --verify-every-th) and answer 200 at once, or never
 * (a hanging endpoint). The endpoints are created through the API (POST /webhooks, events
 * `contact.created`), and so are the events (POST /contacts): nothing is inserted behind the
 * app's back. Three measurements:
 *
 * 1. Throughput (target >= 1,000 deliveries/s). App copy with WEBHOOK_TIMEOUT_MS=60000. The
 *    receivers hold their first request (a gate): each endpoint's lane waits on it, so the
 *    dispatcher sends nothing else while --backlog contacts are created by autocannon at full
 *    speed and the webhooks consumer writes their deliveries (backlog x --endpoints rows). Then
 *    the gate opens (the held requests are answered 200, every later one at once) and the
 *    dispatcher drains the backlog alone. Deliveries/s = the receipts between the 10th and the
 *    90th percentile of their arrival times / that time (steady state; first to last is shown
 *    too); CPU of the app and of the whole bench PostgreSQL per delivery from /proc. Once per
 *    backlog size of --backlog; the deliveries are deleted and the table vacuumed after each.
 * 2. Commit-to-receipt latency (target p99 < 500 ms). New app copy (WEBHOOK_TIMEOUT_MS from
 *    --timeout-ms, default the app's 10 s). POST /contacts paced at --rate req/s (open loop) for
 *    --duration s; per delivery, receipt time at the receiver (wall clock of this process) minus
 *    the event's `created_at` (events table; taken in the writing transaction, before its commit,
 *    so the figure includes the commit) and minus the time the POST's answer arrived (may be
 *    negative: a delivery can arrive before the answer). Also per event: until its last endpoint
 *    got it.
 * 3. Isolation (target: p99s move by at most 20%). GET /deals/{id} by autocannon
 *    (--read-connections, --read-duration, ids sampled from the bench organization as bench.ts
 *    does) on the same copy: before --hang more endpoints, subscribed to the same events since
 *    before window 2 and answering until now, start to hang every attempt until the timeout,
 *    then --read-rounds rounds of (while they hang; after they are disabled by PATCH and their
 *    last attempts ended; enabled again). Before the rounds the latency window is repeated while
 *    they hang, so both latency windows write the same deliveries and differ only in the hanging.
 *    Reported: the median GET p99 with against without, and the healthy endpoints' latency p99
 *    (whole, and the dispatcher's stage alone) with the hanging ones against window 2. A 10 s
 *    paced warm-up (--warmup) precedes window 2 (the first seconds of a new copy are slower).
 *
 * Afterwards the bench database is as before: the endpoints of the run (and, by cascade, their
 * deliveries and attempts), the contacts created, their events and consumer messages are
 * deleted. Migrations the build has and the bench database had not are applied at start-up (as
 * bench.ts does) and reverted at the end with the build's own down() (unless --keep-migrations):
 * migrations still being edited in place would otherwise stay applied in an old form. Prints a Markdown report and writes it into the generated block of the
 * section "Webhooks: deliveries per second, commit-to-receipt latency, isolation" of
 * docs/performance.md (created after the domain events relay section if missing).
 *
 * Options: --endpoints 10 --backlog 1000,2500 (contacts; x endpoints deliveries; one drain each)
 *          --rate 100
 *          --duration 20 --warmup 10 --hang 5 --timeout-ms 10000 --read-connections 4
 *          --read-duration 10 --read-rounds 3 --verify-every 25 --skip-throughput --skip-isolation
 *          --keep-migrations (leave the migrations the app applied; by default they are reverted)
 *          --database-url URL --no-doc --doc docs/performance.md
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { Client } from 'pg';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { pacedPosts } from './lib/paced';
import { gitDescribe, writeDocBlock } from './lib/report';
import {
  Args,
  BIG_ORG_NAME,
  type BenchDatabase,
  login,
  openBenchDatabase,
  thousands,
} from './lib/common';
import {
  benchAppEnv,
  CLOCK_TICKS,
  freePort,
  snapshotDist,
  startServer,
  type Server,
} from './lib/processes';

const ROOT = resolve(__dirname, '..');
const API = '/api/v1';
const EVENT_TYPE = 'crm.contact.created.v1';
const SECTION = '## Webhooks: deliveries per second, commit-to-receipt latency, isolation';
const AFTER_SECTION = '## Domain events: relay throughput and commit-to-confirm latency';
const BEGIN = '<!-- BEGIN GENERATED: npm run bench:webhooks (the next run replaces this block) -->';
const END = '<!-- END GENERATED: npm run bench:webhooks -->';
const THROUGHPUT_TARGET = 1000;
const LATENCY_TARGET_MS = 500;
const ISOLATION_TOLERANCE = 0.2;
/** The held first requests of the throughput run must be answered before this (ms). */
const GATE_TIMEOUT_MS = 60_000;
/** At most this many webhooks per organization (API.md section 13). */
const MAX_WEBHOOKS = 20;

const log = (message: string): void => console.log(`[bench:webhooks] ${message}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round1 = (n: number): number => Math.round(n * 10) / 10;
/** Wall-clock milliseconds with sub-millisecond resolution (comparable to PostgreSQL's now()). */
const wallMs = (): number => performance.timeOrigin + performance.now();

// --- receivers --------------------------------------------------------------------------------

interface Receipt {
  endpoint: number;
  /** Wall-clock ms when the request's body had arrived. */
  at: number;
  eventId: string;
  /** The contact id of the envelope's subject (`contacts/<id>`). */
  contactId: string | null;
}

interface Endpoint {
  index: number;
  url: string;
  /** One of the endpoints that hang in the isolation window (until then they answer 200). */
  hang: boolean;
  /** Whether it answers now; set to false for the hanging ones in the isolation window. */
  answering: boolean;
  secret: string | null;
  webhookId: string | null;
  requests: number;
  seen: Set<string>;
  duplicates: number;
}

/**
 * One node:http server per endpoint on 127.0.0.1. A healthy endpoint answers 200 at once (or,
 * while `gated`, holds the request until `openGate()`); a hanging one reads the request and never
 * answers (the sender's timeout ends it). Receipts of healthy endpoints are kept while `recording`.
 */
class Receivers {
  readonly endpoints: Endpoint[] = [];
  receipts: Receipt[] = [];
  recording = false;
  gated = false;
  verified = 0;
  verifyFailures: string[] = [];
  /** Requests of hanging endpoints in flight now, and the most at once. */
  hangingOpen = 0;
  hangingPeak = 0;
  private readonly servers: HttpServer[] = [];
  private held: ServerResponse[] = [];
  private readonly hangingResponses = new Set<ServerResponse>();

  constructor(private readonly verifyEvery: number) {}

  async add(hang: boolean): Promise<Endpoint> {
    const endpoint: Endpoint = {
      index: this.endpoints.length,
      url: '',
      hang,
      answering: true,
      secret: null,
      webhookId: null,
      requests: 0,
      seen: new Set(),
      duplicates: 0,
    };
    const server = createServer((req, res) => this.handle(endpoint, req, res));
    // Longer than the sender's idle sockets live: no reuse of a socket the receiver just closed.
    server.keepAliveTimeout = 120_000;
    server.headersTimeout = 121_000;
    server.requestTimeout = 0;
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    endpoint.url = `http://127.0.0.1:${port}/hooks/${hang ? 'hanging' : 'healthy'}-${endpoint.index}`;
    this.servers.push(server);
    this.endpoints.push(endpoint);
    return endpoint;
  }

  get healthy(): Endpoint[] {
    return this.endpoints.filter((e) => !e.hang);
  }

  get hanging(): Endpoint[] {
    return this.endpoints.filter((e) => e.hang);
  }

  /** Receipts of healthy endpoints kept so far (recording). */
  get count(): number {
    return this.receipts.length;
  }

  openGate(): number {
    this.gated = false;
    const held = this.held;
    this.held = [];
    for (const res of held) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return held.length;
  }

  get heldCount(): number {
    return this.held.length;
  }

  async close(): Promise<void> {
    this.openGate();
    for (const res of this.hangingResponses) res.destroy();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((done) => {
            s.closeAllConnections();
            s.close(() => done());
          }),
      ),
    );
  }

  private handle(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = wallMs();
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string): string => {
        const v = req.headers[name];
        return Array.isArray(v) ? v.join(',') : (v ?? '');
      };
      const eventId = header('webhook-id');
      endpoint.requests += 1;
      if (endpoint.seen.has(eventId)) endpoint.duplicates += 1;
      else endpoint.seen.add(eventId);
      if (
        endpoint.secret &&
        (endpoint.requests === 1 || endpoint.requests % this.verifyEvery === 0)
      )
        this.verify(endpoint, body, {
          'webhook-id': eventId,
          'webhook-timestamp': header('webhook-timestamp'),
          'webhook-signature': header('webhook-signature'),
        });
      if (!endpoint.answering) {
        this.hangingOpen += 1;
        this.hangingPeak = Math.max(this.hangingPeak, this.hangingOpen);
        this.hangingResponses.add(res);
        res.on('close', () => {
          this.hangingOpen -= 1;
          this.hangingResponses.delete(res);
        });
        return; // never answered
      }
      if (this.recording && !endpoint.hang) {
        const subject = /"subject":"contacts\/([0-9a-f-]{36})"/.exec(body);
        this.receipts.push({
          endpoint: endpoint.index,
          at,
          eventId,
          contactId: subject ? subject[1] : null,
        });
      }
      if (this.gated) this.held.push(res);
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  }

  private verify(endpoint: Endpoint, body: string, headers: Record<string, string>): void {
    try {
      new StandardWebhook(endpoint.secret!).verify(body, headers);
      this.verified += 1;
    } catch (error) {
      if (this.verifyFailures.length < 5)
        this.verifyFailures.push(`endpoint ${endpoint.index}: ${(error as Error).message}`);
      else this.verifyFailures.push('');
    }
  }
}

// --- results ----------------------------------------------------------------------------------

interface Throughput {
  endpoints: number;
  contacts: number;
  writesPerS: number;
  /** From the first POST to the last delivery row written by the webhooks consumer. */
  backlogS: number;
  deliveries: number;
  heldAtGate: number;
  received: number;
  /** Steady state: receipts between the 10th and 90th percentile of arrival / that time. */
  perSecond: number;
  /** All receipts after the gate opened / gate to last receipt. */
  overallPerSecond: number;
  drainS: number;
  perEndpoint: { min: number; max: number };
  duplicates: number;
  statuses: Record<string, number>;
  attempts: number;
  /** The request part of an attempt (webhook_delivery_attempts.duration_ms), p50 / p99. */
  requestMs: { p50: number; p99: number };
  /** Time a lane spends per delivery: endpoints / deliveries per second (ms). */
  laneMsPerDelivery: number;
  cpu: CpuWindow | null;
  complete: boolean;
}

interface Latency {
  id: string;
  title: string;
  healthyEndpoints: number;
  hangingEndpoints: number;
  driven: Driven;
  events: number;
  expected: number;
  received: number;
  /** created_at -> receipt, per delivery. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** created_at -> receipt at the last of the event's endpoints. */
  eventP99: number;
  eventMax: number;
  /** The POST's answer -> receipt, per delivery (negative: the delivery came first). */
  answerP50: number;
  answerP99: number;
  /** The stages: event created_at -> delivery row created_at (the webhooks consumer), and
   * delivery row created_at -> receipt (the dispatcher), p50 / p99. */
  consumerP50: number;
  consumerP99: number;
  dispatchP50: number;
  dispatchP99: number;
  /** Attempts of the hanging endpoints during the window, and the most in flight at once. */
  hangingAttempts: number;
  hangingPeak: number;
  cpu: CpuWindow | null;
}

interface Reads {
  id: string;
  title: string;
  connections: number;
  durationS: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
  /** Requests of hanging endpoints in flight at the start and at the end of the window. */
  hangingInFlight: [number, number];
  cpu: CpuWindow | null;
}

async function main(): Promise<void> {
  const args = new Args();
  args.assertOnly([
    'endpoints',
    'backlog',
    'rate',
    'duration',
    'warmup',
    'hang',
    'timeout-ms',
    'read-connections',
    'read-duration',
    'read-rounds',
    'verify-every',
    'skip-throughput',
    'skip-isolation',
    'keep-migrations',
    'database-url',
    'no-doc',
    'doc',
  ]);
  const database = await openBenchDatabase(args);
  try {
    await benchmark(args, database);
  } finally {
    await database.close();
  }
}

async function benchmark(args: Args, database: BenchDatabase): Promise<void> {
  const endpointCount = args.count('endpoints', 10);
  const backlogs = args
    .string('backlog', '1000,2500')
    .split(',')
    .filter(Boolean)
    .map((b) => {
      const n = Number(b);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--backlog: bad count ${b}`);
      return n;
    });
  const rate = args.count('rate', 100);
  const duration = args.count('duration', 20);
  const warmup = args.count('warmup', 10);
  const hang = args.has('skip-isolation') ? 0 : args.count('hang', 5);
  const timeoutMs = args.count('timeout-ms', 10_000);
  const readConnections = args.count('read-connections', 4);
  const readDuration = args.count('read-duration', 10);
  const readRounds = Math.max(1, args.count('read-rounds', 3));
  const verifyEvery = Math.max(1, args.count('verify-every', 25));
  const docPath = resolve(ROOT, args.string('doc', 'docs/performance.md'));
  if (endpointCount < 1) throw new Error('--endpoints must be at least 1');
  if (timeoutMs < 100 || timeoutMs > 60_000) throw new Error('--timeout-ms: 100 to 60000');
  const startedAt = new Date();
  const loadBefore = loadavg();
  const runId = randomBytes(4).toString('hex');
  const emailPrefix = `webhooks-bench-${runId}-`;

  const monitor = new Client({ connectionString: database.url, application_name: 'crm-bench' });
  // An error of the monitor (the server stopping after a failure) must not hide the failure.
  monitor.on('error', (e) => log(`monitor connection: ${e.message}`));
  await monitor.connect();
  const data = await benchData(monitor);
  if (data.webhooks + endpointCount + hang > MAX_WEBHOOKS)
    throw new Error(
      `the bench organization has ${data.webhooks} webhooks already; ${endpointCount} + ${hang} more exceed the limit of ${MAX_WEBHOOKS}`,
    );
  log(
    `bench org ${data.organizationId}: ${thousands(data.contacts)} contacts, ${thousands(data.dealIds.length)} deal ids sampled; ` +
      `${data.webhooks} webhooks before the run; PostgreSQL ${data.pgVersion}`,
  );
  const postmaster = await postmasterOf(monitor);

  const receivers = new Receivers(verifyEvery);
  for (let i = 0; i < endpointCount; i++) await receivers.add(false);
  for (let i = 0; i < hang; i++) await receivers.add(true);

  // The app runs from a private copy of dist/: another `nest build` in this tree empties dist/.
  const distCopy = await snapshotDist(ROOT, 'npm run bench:webhooks');
  // The commit of the build measured (read now: someone may commit while the benchmark runs).
  const commit = gitDescribe(ROOT);
  const mainJs = join(distCopy, 'src', 'main.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'crm-bench-webhooks-'));
  const appEnv = benchAppEnv(database.url, dataDir, {
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  const notes: string[] = [];
  const migrationsBefore = await migrationNames(monitor);
  let app: Server | undefined;
  const startApp = async (extra: NodeJS.ProcessEnv): Promise<Server> => {
    const port = await freePort();
    app = await startServer({
      name: 'app',
      args: [mainJs],
      env: appEnv(port, extra),
      port,
      readyPath: `${API}/health`,
      cwd: ROOT,
      dbApplication: 'crm-api',
    });
    return app;
  };
  const stopApp = async (): Promise<void> => {
    const running = app;
    app = undefined;
    if (!running) return;
    for (const [message, count] of running.errors) notes.push(`app logged ${count} x "${message}"`);
    await running.stop();
  };
  let cleaned = false;
  let migrationsApplied: string[] = [];
  const webhookIds = (): string[] =>
    receivers.endpoints.map((e) => e.webhookId).filter((id): id is string => id !== null);
  const cleanUp = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await stopApp();
    await receivers.close();
    // Leave the bench database as it was: no endpoints, deliveries, contacts or events of this run.
    const { rows: hasTables } = await monitor.query<{ ok: boolean }>(
      `SELECT to_regclass('webhook_deliveries') IS NOT NULL AS ok`,
    );
    const eventIds = (
      await monitor.query<{ id: string }>(
        `SELECT id FROM events WHERE seq > $1 AND organization_id = $2 AND type = $3
            AND envelope -> 'data' -> 'contact' ->> 'email' LIKE $4`,
        [data.maxSeq, data.organizationId, EVENT_TYPE, `${emailPrefix}%`],
      )
    ).rows.map((r) => r.id);
    const removed = { webhooks: 0, deliveries: 0, messages: 0, events: 0, contacts: 0 };
    if (hasTables[0].ok) {
      removed.deliveries =
        (
          await monitor.query(
            'DELETE FROM webhook_deliveries WHERE webhook_id = ANY($1::uuid[]) OR event_id = ANY($2::uuid[])',
            [webhookIds(), eventIds],
          )
        ).rowCount ?? 0;
      removed.webhooks =
        (await monitor.query('DELETE FROM webhooks WHERE id = ANY($1::uuid[])', [webhookIds()]))
          .rowCount ?? 0;
    }
    removed.messages =
      (
        await monitor.query('DELETE FROM consumer_messages WHERE event_id = ANY($1::uuid[])', [
          eventIds,
        ])
      ).rowCount ?? 0;
    removed.events =
      (await monitor.query('DELETE FROM events WHERE id = ANY($1::uuid[])', [eventIds])).rowCount ??
      0;
    removed.contacts =
      (
        await monitor.query(`DELETE FROM contacts WHERE organization_id = $1 AND email LIKE $2`, [
          data.organizationId,
          `${emailPrefix}%`,
        ])
      ).rowCount ?? 0;
    const tables = ['events', 'consumer_messages'];
    if (hasTables[0].ok) tables.push('webhook_deliveries', 'webhook_delivery_attempts');
    await monitor.query(`VACUUM (ANALYZE) ${tables.join(', ')}`);
    log(
      `clean-up: ${removed.webhooks} webhooks, ${thousands(removed.deliveries)} deliveries (and their attempts), ` +
        `${thousands(removed.contacts)} contacts, ${thousands(removed.events)} events and ` +
        `${thousands(removed.messages)} consumer messages of this run deleted`,
    );
    // Migrations this run's app applied are reverted with that build's own down(): the bench
    // database gets the schema of the tree as it is at the next run, even where a migration not
    // yet committed was edited in place since (it would otherwise stay applied in its old form).
    migrationsApplied = (await migrationNames(monitor)).filter(
      (m) => !migrationsBefore.includes(m),
    );
    if (migrationsApplied.length && !args.flag('keep-migrations')) {
      const reverted = await revertMigrations(monitor, distCopy, migrationsApplied);
      log(`migrations of this run reverted: ${reverted.join(', ')}`);
    }
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(distCopy, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    void cleanUp()
      .catch((e: unknown) => console.error(e))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let created = 0;
  const contactBody = (): string => {
    created += 1;
    return JSON.stringify({
      name: `Webhooks Bench ${created}`,
      email: `${emailPrefix}${created}@bench-post.test`,
      phone: '+1 555 0100',
    });
  };
  const throughput: Throughput[] = [];
  const latency: Latency[] = [];
  const reads: Reads[] = [];
  try {
    // --- 1. throughput -----------------------------------------------------------------------
    let server = await startApp({ WEBHOOK_TIMEOUT_MS: String(GATE_TIMEOUT_MS) });
    migrationsApplied = (await migrationNames(monitor)).filter(
      (m) => !migrationsBefore.includes(m),
    );
    if (migrationsApplied.length)
      log(
        `the app applied migrations the bench database did not have: ${migrationsApplied.join(', ')}`,
      );
    let session = await login(server.url);
    let headers = {
      authorization: `Bearer ${session.accessToken}`,
      'x-organization-id': session.organizationId,
    };
    for (const endpoint of receivers.healthy) {
      const webhook = await createWebhook(server.url, headers, endpoint.url);
      endpoint.webhookId = webhook.id;
      endpoint.secret = webhook.secret;
    }
    log(`${receivers.healthy.length} endpoints created (contact.created), receivers on 127.0.0.1`);
    for (const backlog of args.has('skip-throughput') ? [] : backlogs) {
      const ids = receivers.healthy.map((e) => e.webhookId!);
      receivers.gated = true;
      receivers.recording = true;
      receivers.receipts = [];
      const written = performance.now();
      const posted = await cannon(server.url, headers, 16, backlog, contactBody);
      const expected = posted.ok * ids.length;
      log(
        `backlog: ${thousands(posted.ok)} contacts created at ${posted.rps} writes/s (${posted.errors} errors, ${posted.non2xx} non-2xx); ` +
          `waiting for their ${thousands(expected)} deliveries to be written`,
      );
      const deadline = performance.now() + GATE_TIMEOUT_MS - 10_000;
      let rows = 0;
      for (;;) {
        rows = await deliveryCount(monitor, ids);
        if (rows >= expected || performance.now() > deadline) break;
        await sleep(100);
      }
      const backlogS = round1((performance.now() - written) / 1000);
      if (rows < expected)
        notes.push(
          `throughput: only ${thousands(rows)} of ${thousands(expected)} deliveries were written before the gate had to open`,
        );
      log(
        `${thousands(rows)} deliveries written ${backlogS} s after the first POST; opening the gate`,
      );
      // Drain: the dispatcher alone.
      const cpuStart = cpuSnapshot(server.pid, postmaster);
      const gateAt = wallMs();
      const heldAtGate = receivers.openGate();
      const stallLimit = 15_000;
      let last = receivers.count;
      let lastProgress = performance.now();
      while (receivers.count < expected) {
        await sleep(20);
        if (receivers.count !== last) {
          last = receivers.count;
          lastProgress = performance.now();
        } else if (performance.now() - lastProgress > stallLimit) break;
      }
      const cpuEnd = cpuSnapshot(server.pid, postmaster);
      receivers.recording = false;
      await sleep(500); // the last attempts' records
      const statuses = await deliveryStatuses(monitor, ids);
      const attemptInfo = await attemptStats(monitor, ids);
      const attempts = attemptInfo.n;
      const times = receivers.receipts.filter((r) => r.at >= gateAt).map((r) => r.at);
      times.sort((a, b) => a - b);
      const q = (p: number): number =>
        times[Math.min(times.length - 1, Math.floor(p * times.length))];
      const steadySpan = times.length > 10 ? (q(0.9) - q(0.1)) / 1000 : 0;
      const steadyCount =
        times.length > 10 ? Math.floor(0.9 * times.length) - Math.floor(0.1 * times.length) : 0;
      const drainS = times.length ? (times[times.length - 1] - gateAt) / 1000 : 0;
      const perEndpoint = receivers.healthy.map(
        (e) => receivers.receipts.filter((r) => r.endpoint === e.index).length,
      );
      const cpu = cpuWindow(cpuStart, cpuEnd, receivers.count - heldAtGate);
      const t: Throughput = {
        endpoints: ids.length,
        contacts: posted.ok,
        writesPerS: posted.rps,
        backlogS,
        deliveries: rows,
        heldAtGate,
        received: receivers.count,
        perSecond: steadySpan > 0 ? Math.round(steadyCount / steadySpan) : 0,
        overallPerSecond: drainS > 0 ? Math.round(times.length / drainS) : 0,
        drainS: round1(drainS),
        perEndpoint: { min: Math.min(...perEndpoint), max: Math.max(...perEndpoint) },
        duplicates: receivers.healthy.reduce((a, e) => a + e.duplicates, 0),
        statuses,
        attempts,
        requestMs: { p50: attemptInfo.p50, p99: attemptInfo.p99 },
        laneMsPerDelivery:
          steadyCount > 0 ? round1((ids.length * steadySpan * 1000) / steadyCount) : 0,
        cpu,
        complete: receivers.count >= expected && (statuses.succeeded ?? 0) === rows,
      };
      log(
        `throughput, backlog ${thousands(rows)}: ${thousands(t.perSecond)} deliveries/s steady (${thousands(t.overallPerSecond)} gate to last, ` +
          `${t.drainS} s for ${thousands(times.length)}); received ${thousands(t.received)} of ${thousands(expected)} ` +
          `(per endpoint ${t.perEndpoint.min}-${t.perEndpoint.max}, ${t.duplicates} duplicates); ` +
          `statuses ${JSON.stringify(statuses)}, ${thousands(attempts)} attempts (request p50 ${attemptInfo.p50} / p99 ${attemptInfo.p99} ms); ${formatCpu(cpu)}`,
      );
      throughput.push(t);
      if (!t.complete)
        notes.push(
          `throughput (backlog ${backlog}): not every delivery was received and succeeded`,
        );
      // The next windows start from an empty delivery table for these endpoints.
      await monitor.query('DELETE FROM webhook_deliveries WHERE webhook_id = ANY($1::uuid[])', [
        ids,
      ]);
      // Without their dead versions too (the claim reads the whole table: see the reading).
      await monitor.query('VACUUM (ANALYZE) webhook_deliveries, webhook_delivery_attempts');
      for (const e of receivers.healthy) e.seen.clear();
    }
    await stopApp();

    // --- 2. latency, and GET /deals/{id} without hanging endpoints -------------------------
    server = await startApp({ WEBHOOK_TIMEOUT_MS: String(timeoutMs) });
    session = await login(server.url);
    headers = {
      authorization: `Bearer ${session.accessToken}`,
      'x-organization-id': session.organizationId,
    };
    const nextDeal = rotate(data.dealIds);
    const window = async (id: string, title: string): Promise<Latency> => {
      const lo = await maxSeq(monitor);
      const hangingBefore = receivers.hanging.reduce((a, e) => a + e.requests, 0);
      receivers.hangingPeak = receivers.hangingOpen;
      receivers.receipts = [];
      receivers.recording = true;
      const cpuStart = cpuSnapshot(server.pid, postmaster);
      const driven = await paced(server.url, headers, rate, duration, contactBody);
      const cpuEnd = cpuSnapshot(server.pid, postmaster);
      const hi = await maxSeq(monitor);
      const events = await eventTimes(monitor, data.organizationId, lo, hi, emailPrefix);
      const healthy = receivers.healthy.length;
      const expected = events.size * healthy;
      const deadline = performance.now() + 60_000;
      while (performance.now() < deadline) {
        const got = receivers.receipts.filter((r) => events.has(r.eventId)).length;
        if (got >= expected) break;
        await sleep(50);
      }
      receivers.recording = false;
      const hangingAttempts = receivers.hanging.reduce((a, e) => a + e.requests, 0) - hangingBefore;
      const written = await deliveryTimes(
        monitor,
        [...events.keys()],
        receivers.healthy.map((e) => e.webhookId!),
      );
      const delays: number[] = [];
      const fromAnswer: number[] = [];
      const consumerStage: number[] = [];
      const dispatchStage: number[] = [];
      const lastPerEvent = new Map<string, number>();
      for (const r of receivers.receipts) {
        const createdAt = events.get(r.eventId);
        if (createdAt === undefined) continue;
        const d = r.at - createdAt;
        delays.push(d);
        const row = written.get(`${r.eventId}|${receivers.endpoints[r.endpoint].webhookId}`);
        if (row !== undefined) {
          consumerStage.push(row - createdAt);
          dispatchStage.push(r.at - row);
        }
        lastPerEvent.set(r.eventId, Math.max(lastPerEvent.get(r.eventId) ?? -Infinity, d));
        const answered = r.contactId ? driven.answeredAt.get(r.contactId) : undefined;
        if (answered !== undefined) fromAnswer.push(r.at - answered);
      }
      // Events some endpoint never got count as infinitely late in the per-event figures.
      const perEvent = [...events.keys()].map((e) =>
        receivers.receipts.filter((r) => r.eventId === e).length >= healthy
          ? lastPerEvent.get(e)!
          : Infinity,
      );
      const m: Latency = {
        id,
        title,
        healthyEndpoints: healthy,
        hangingEndpoints: receivers.hanging.filter((e) => e.webhookId).length,
        driven: { ...driven, answeredAt: new Map() },
        events: events.size,
        expected,
        received: delays.length,
        p50: pct(delays, 0.5),
        p95: pct(delays, 0.95),
        p99: pct(delays, 0.99),
        max: pct(delays, 1),
        eventP99: pct(perEvent, 0.99),
        eventMax: pct(perEvent, 1),
        answerP50: pct(fromAnswer, 0.5),
        answerP99: pct(fromAnswer, 0.99),
        consumerP50: pct(consumerStage, 0.5),
        consumerP99: pct(consumerStage, 0.99),
        dispatchP50: pct(dispatchStage, 0.5),
        dispatchP99: pct(dispatchStage, 0.99),
        hangingAttempts,
        hangingPeak: receivers.hangingPeak,
        cpu: cpuWindow(cpuStart, cpuEnd, delays.length),
      };
      latency.push(m);
      log(
        `${id}: ${m.driven.rps} writes/s (request p50 ${m.driven.reqP50} / p99 ${m.driven.reqP99} ms, ${m.driven.errors} errors, ${m.driven.non2xx} non-2xx); ` +
          `${thousands(m.received)} of ${thousands(m.expected)} deliveries received; commit-to-receipt p50 ${m.p50} / p95 ${m.p95} / p99 ${m.p99} / max ${m.max} ms ` +
          `(per event, last endpoint: p99 ${m.eventP99} / max ${m.eventMax}); from the POST's answer p50 ${m.answerP50} / p99 ${m.answerP99} ms; stages: event -> delivery row (consumer) p50 ${m.consumerP50} / p99 ${m.consumerP99}, row -> receipt (dispatcher) p50 ${m.dispatchP50} / p99 ${m.dispatchP99} ms` +
          (m.hangingEndpoints
            ? `; hanging endpoints: ${m.hangingAttempts} attempts, ${m.hangingPeak} in flight at most`
            : '') +
          `; ${formatCpu(m.cpu)}`,
      );
      if (m.received < m.expected)
        notes.push(
          `${id}: ${thousands(m.expected - m.received)} deliveries not received within 60 s after the load`,
        );
      return m;
    };
    const readWindow = async (id: string, title: string, warm: number): Promise<Reads> => {
      if (warm > 0) await getDeals(server.url, headers, readConnections, warm, nextDeal);
      const inFlightStart = receivers.hangingOpen;
      const cpuStart = cpuSnapshot(server.pid, postmaster);
      const result = await getDeals(server.url, headers, readConnections, readDuration, nextDeal);
      const cpuEnd = cpuSnapshot(server.pid, postmaster);
      const r: Reads = {
        id,
        title,
        connections: readConnections,
        durationS: result.duration,
        rps: round1(result['2xx'] / result.duration),
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
        errors: result.errors + result.timeouts,
        non2xx: result.non2xx,
        hangingInFlight: [inFlightStart, receivers.hangingOpen],
        cpu: cpuWindow(cpuStart, cpuEnd, result['2xx']),
      };
      reads.push(r);
      log(
        `${id}: GET /deals/{id} ${r.rps} req/s, p50 ${r.p50} / p90 ${r.p90} / p99 ${r.p99} / max ${r.max} ms ` +
          `(${r.errors} errors, ${r.non2xx} non-2xx); hanging requests in flight ${r.hangingInFlight.join(' -> ')}; ${formatCpu(r.cpu)}`,
      );
      return r;
    };

    if (warmup > 0) {
      receivers.recording = false;
      await paced(server.url, headers, rate, warmup, contactBody);
      await sleep(2000);
    }
    // The endpoints that will hang are subscribed from the start and answer 200 until the
    // isolation window: both latency windows then write the same deliveries, and the only
    // difference between them is that 5 endpoints stop answering.
    for (const endpoint of receivers.hanging) {
      const webhook = await createWebhook(server.url, headers, endpoint.url);
      endpoint.webhookId = webhook.id;
      endpoint.secret = webhook.secret;
    }
    await window(
      'latency',
      `POST /contacts paced at ${rate}/s, ${receivers.healthy.length} endpoints measured (${receivers.endpoints.length} subscribed, all answering)`,
    );
    if (hang > 0) {
      await sleep(1000);
      await readWindow('reads-without-0', 'before the hanging endpoints hang', 2);
      // --- 3. isolation ----------------------------------------------------------------------
      for (const endpoint of receivers.hanging) endpoint.answering = false;
      log(`${hang} endpoints hang from now on (contact.created); WEBHOOK_TIMEOUT_MS ${timeoutMs}`);
      await window(
        'latency-hanging',
        `the same, while ${hang} of them hang (WEBHOOK_TIMEOUT_MS ${timeoutMs})`,
      );
      // Alternating rounds (a neighbour's load during one window must not decide the comparison):
      // with the hanging endpoints enabled, then disabled once their attempts in flight ended.
      const setHanging = async (enabled: boolean): Promise<void> => {
        for (const endpoint of receivers.hanging) {
          await patchWebhook(server.url, headers, endpoint.webhookId!, { enabled });
        }
        const until = performance.now() + (enabled ? 5000 : timeoutMs + 5000);
        const settled = (): boolean =>
          enabled ? receivers.hangingOpen >= hang : receivers.hangingOpen === 0;
        while (!settled() && performance.now() < until) await sleep(100);
        await sleep(500);
      };
      for (let round = 1; round <= readRounds; round++) {
        if (round > 1) await setHanging(true);
        await readWindow(
          `reads-hanging-${round}`,
          `round ${round}: while ${hang} endpoints hang`,
          1,
        );
        await setHanging(false);
        await readWindow(
          `reads-without-${round}`,
          `round ${round}: hanging endpoints disabled, their last attempts ended`,
          1,
        );
      }
    }
    await stopApp();
  } finally {
    await cleanUp();
    await monitor.end();
  }

  const verifyFailures = receivers.verifyFailures.length;
  if (verifyFailures)
    notes.push(
      `${verifyFailures} sampled signatures did not verify: ${receivers.verifyFailures.filter(Boolean).join('; ')}`,
    );
  const report: Report = {
    startedAt: startedAt.toISOString(),
    command: `npm run bench:webhooks${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: {
      nproc: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
      node: process.version,
      postgres: `${data.pgVersion}, ${database.description}`,
      loadAverageBefore: loadBefore.map((l) => Number(l.toFixed(2))),
      loadAverageAfter: loadavg().map((l) => Number(l.toFixed(2))),
      commit,
    },
    contacts: data.contacts,
    settings: {
      endpoints: endpointCount,
      hang,
      rate,
      duration,
      timeoutMs,
      readConnections,
      readDuration,
      readRounds,
    },
    verified: receivers.verified,
    verifyFailures,
    migrationsApplied,
    throughput,
    latency,
    reads,
    notes,
  };
  const markdown = renderMarkdown(report);
  console.log(`\n${markdown}\n`);
  if (!args.flag('no-doc')) {
    writeDocBlock(docPath, markdown, {
      begin: BEGIN,
      end: END,
      section: SECTION,
      afterSection: AFTER_SECTION,
    });
    log(`written to ${docPath}`);
  }
}

// --- the app's API --------------------------------------------------------------------------

async function apiCall<T>(
  url: string,
  headers: Record<string, string>,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${url}${API}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

const createWebhook = (
  url: string,
  headers: Record<string, string>,
  target: string,
): Promise<{ id: string; secret: string }> =>
  apiCall(url, headers, 'POST', '/webhooks', {
    url: target,
    events: ['contact.created'],
    description: 'bench:webhooks',
  });

const patchWebhook = (
  url: string,
  headers: Record<string, string>,
  id: string,
  body: Record<string, unknown>,
): Promise<unknown> => apiCall(url, headers, 'PATCH', `/webhooks/${id}`, body);

// --- the data ---------------------------------------------------------------------------------

interface BenchData {
  organizationId: string;
  contacts: number;
  dealIds: string[];
  webhooks: number;
  maxSeq: string;
  pgVersion: string;
}

async function benchData(db: Client): Promise<BenchData> {
  const org = await db.query<{ id: string }>(`SELECT id FROM organizations WHERE name = $1`, [
    BIG_ORG_NAME,
  ]);
  if (!org.rows[0]) throw new Error('no bench data: run npm run bench:seed first');
  const organizationId = org.rows[0].id;
  const contacts = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM contacts WHERE organization_id = $1`,
    [organizationId],
  );
  // As bench.ts samples them.
  const deals = await db.query<{ id: string }>(
    `SELECT id FROM deals TABLESAMPLE SYSTEM (10) REPEATABLE (7) WHERE organization_id = $1 LIMIT 20000`,
    [organizationId],
  );
  if (!deals.rows.length) throw new Error('the bench organization has no deals');
  // The webhooks table exists once the app has applied its migration.
  const table = await db.query<{ ok: boolean }>(`SELECT to_regclass('webhooks') IS NOT NULL AS ok`);
  const hooks = table.rows[0].ok
    ? await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM webhooks WHERE organization_id = $1`,
        [organizationId],
      )
    : { rows: [{ n: '0' }] };
  const pg = await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  return {
    organizationId,
    contacts: Number(contacts.rows[0].n),
    dealIds: deals.rows.map((r) => r.id),
    webhooks: Number(hooks.rows[0].n),
    maxSeq: await maxSeq(db),
    pgVersion: pg.rows[0].v,
  };
}

async function migrationNames(db: Client): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>('SELECT name FROM migrations ORDER BY id');
  return rows.map((r) => r.name);
}

/**
 * Reverts `names` (applied by this run's app), newest first, with the down() of the build in
 * `distCopy`, in one transaction. Returns the names reverted.
 */
async function revertMigrations(db: Client, distCopy: string, names: string[]): Promise<string[]> {
  type Migration = {
    name?: string;
    down(runner: { query(sql: string, parameters?: unknown[]): Promise<unknown> }): Promise<void>;
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const built = require(join(distCopy, 'migrations', 'index.js')) as {
    MIGRATIONS: (new () => Migration)[];
  };
  const byName = new Map(built.MIGRATIONS.map((M) => [new M().name ?? M.name, M]));
  const order = await migrationNames(db);
  const targets = order.filter((n) => names.includes(n)).reverse();
  await db.query('BEGIN');
  try {
    for (const name of targets) {
      const M = byName.get(name);
      if (!M) throw new Error(`migration ${name} is not in the build`);
      await new M().down({ query: (sql, parameters) => db.query(sql, parameters) });
      await db.query('DELETE FROM migrations WHERE name = $1', [name]);
    }
    await db.query('COMMIT');
  } catch (error) {
    await db.query('ROLLBACK');
    throw error;
  }
  return targets;
}

async function maxSeq(db: Client): Promise<string> {
  const { rows } = await db.query<{ max: string }>(
    'SELECT coalesce(max(seq), 0)::text AS max FROM events',
  );
  return rows[0].max;
}

async function deliveryCount(db: Client, webhookIds: string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = ANY($1::uuid[])',
    [webhookIds],
  );
  return rows[0].n;
}

async function deliveryStatuses(db: Client, webhookIds: string[]): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM webhook_deliveries
      WHERE webhook_id = ANY($1::uuid[]) GROUP BY status ORDER BY status`,
    [webhookIds],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** The attempts of these endpoints' deliveries, and their request time (duration_ms) p50 / p99. */
async function attemptStats(
  db: Client,
  webhookIds: string[],
): Promise<{ n: number; p50: number; p99: number }> {
  const { rows } = await db.query<{ n: number; p: number[] | null }>(
    `SELECT count(*)::int AS n,
            percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY a.duration_ms) AS p
       FROM webhook_delivery_attempts a
       JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = ANY($1::uuid[])`,
    [webhookIds],
  );
  const p = rows[0].p ?? [0, 0];
  return { n: rows[0].n, p50: round1(p[0]), p99: round1(p[1]) };
}

/** When the webhooks consumer wrote each delivery (`created_at`, wall-clock ms) by event|webhook. */
async function deliveryTimes(
  db: Client,
  eventIds: string[],
  webhookIds: string[],
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ key: string; ms: number }>(
    `SELECT event_id || '|' || webhook_id AS key, extract(epoch FROM created_at)::float8 * 1000 AS ms
       FROM webhook_deliveries WHERE event_id = ANY($1::uuid[]) AND webhook_id = ANY($2::uuid[])`,
    [eventIds, webhookIds],
  );
  return new Map(rows.map((r) => [r.key, r.ms]));
}

/** The contact.created events of this run in (lo, hi]: event id -> created_at (wall-clock ms). */
async function eventTimes(
  db: Client,
  organizationId: string,
  lo: string,
  hi: string,
  emailPrefix: string,
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ id: string; ms: number }>(
    `SELECT id, extract(epoch FROM created_at)::float8 * 1000 AS ms FROM events
      WHERE seq > $1 AND seq <= $2 AND organization_id = $3 AND type = $4
        AND envelope -> 'data' -> 'contact' ->> 'email' LIKE $5`,
    [lo, hi, organizationId, EVENT_TYPE, `${emailPrefix}%`],
  );
  return new Map(rows.map((r) => [r.id, r.ms]));
}

const rotate = <T>(list: readonly T[]): (() => T) => {
  let i = 0;
  return () => list[i++ % list.length];
};

/** The q-quantile (nearest rank) of `values`, rounded to 0.1; Infinity stays (missing). */
function pct(values: number[], q: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return Number.isFinite(v) ? round1(v) : v;
}

// --- CPU (from /proc) -------------------------------------------------------------------------

interface CpuSnapshot {
  at: number;
  app: number | null;
  postgres: number | null;
  bench: number;
  machineBusy: number;
  machineTotal: number;
}

interface CpuWindow {
  /** % of one core over the window. */
  app: number | null;
  postgres: number | null;
  bench: number;
  /** % of one core used by everything else on the machine (other sessions' tests...). */
  other: number | null;
  /** % of the whole machine (all cores) busy. */
  machine: number;
  /** CPU ms per unit of work (a delivery, a request) of the app and of PostgreSQL. */
  appMsPer: number | null;
  postgresMsPer: number | null;
}

function procStat(pid: number | string): { ppid: number; own: number; children: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(fields[1]),
      own: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
      children: (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS,
    };
  } catch {
    return null;
  }
}

/** CPU seconds so far: the app, the whole bench PostgreSQL, this process, the machine. */
function cpuSnapshot(appPid: number, postmasterPid: number | null): CpuSnapshot {
  let postgres: number | null = null;
  if (postmasterPid !== null) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const st = procStat(entry);
      if (!st) continue;
      if (Number(entry) === postmasterPid) postgres = (postgres ?? 0) + st.own + st.children;
      else if (st.ppid === postmasterPid) postgres = (postgres ?? 0) + st.own;
    }
  }
  const [cpuLine] = readFileSync('/proc/stat', 'utf8').split('\n');
  const ticks = cpuLine.trim().split(/\s+/).slice(1).map(Number);
  const idle = ticks[3] + (ticks[4] ?? 0);
  const total = ticks.slice(0, 8).reduce((x, y) => x + y, 0);
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    app: procStat(appPid)?.own ?? null,
    postgres,
    bench: (self.user + self.system) / 1e6,
    machineBusy: (total - idle) / CLOCK_TICKS,
    machineTotal: total / CLOCK_TICKS,
  };
}

function cpuWindow(a: CpuSnapshot, b: CpuSnapshot, units: number): CpuWindow | null {
  const wall = (b.at - a.at) / 1000;
  if (wall <= 0.2) return null;
  const delta = (x: number | null, y: number | null): number | null =>
    x === null || y === null ? null : y - x;
  const share = (d: number | null): number | null =>
    d === null ? null : Math.round((d / wall) * 100);
  const per = (d: number | null): number | null =>
    d === null || units <= 0 ? null : Math.round((d * 1e6) / units) / 1000;
  const app = delta(a.app, b.app);
  const postgres = delta(a.postgres, b.postgres);
  return {
    app: share(app),
    postgres: share(postgres),
    bench: share(b.bench - a.bench) ?? 0,
    other:
      app === null || postgres === null
        ? null
        : Math.max(
            0,
            Math.round(
              ((b.machineBusy - a.machineBusy - app - postgres - (b.bench - a.bench)) / wall) * 100,
            ),
          ),
    machine: Math.round(
      ((b.machineBusy - a.machineBusy) / (b.machineTotal - a.machineTotal)) * 100,
    ),
    appMsPer: per(app),
    postgresMsPer: per(postgres),
  };
}

/** The PostgreSQL server's main process, when it runs on this machine. */
async function postmasterOf(db: Client): Promise<number | null> {
  const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const st = procStat(rows[0].pid);
  return st ? st.ppid : null;
}

const formatCpu = (c: CpuWindow | null): string =>
  c
    ? `CPU % of a core: app ${c.app ?? '?'}, PostgreSQL ${c.postgres ?? '?'}, bench ${c.bench}, other ${c.other ?? '?'}; machine ${c.machine}%; ` +
      `per unit: app ${c.appMsPer ?? '?'} ms, PostgreSQL ${c.postgresMsPer ?? '?'} ms`
    : 'CPU —';

// --- load -------------------------------------------------------------------------------------

interface Driven {
  durationS: number;
  sent: number;
  ok: number;
  errors: number;
  non2xx: number;
  rps: number;
  reqP50: number;
  reqP99: number;
  reqMax: number;
  /** Contact id -> wall-clock ms its POST's answer arrived (paced only). */
  answeredAt: Map<string, number>;
}

/** POST /contacts paced at `rate` (bench/lib/paced.ts), with when each contact's answer arrived. */
async function paced(
  url: string,
  headers: Record<string, string>,
  rate: number,
  durationS: number,
  body: () => string,
): Promise<Driven> {
  const answeredAt = new Map<string, number>();
  const run = await pacedPosts(url, `${API}/contacts`, headers, rate, durationS, body, (a) => {
    const at = wallMs();
    const id = a.status < 300 ? /"id":"([0-9a-f-]{36})"/.exec(a.body) : null;
    if (id) answeredAt.set(id[1], at);
  });
  return {
    durationS: round1(run.durationS),
    sent: run.sent,
    ok: run.ok,
    errors: run.errors,
    non2xx: run.non2xx,
    rps: round1(run.ok / run.durationS),
    reqP50: pct(run.latencies, 0.5),
    reqP99: pct(run.latencies, 0.99),
    reqMax: pct(run.latencies, 1),
    answeredAt,
  };
}

/** POST /contacts `amount` times by autocannon at full speed. */
async function cannon(
  url: string,
  headers: Record<string, string>,
  connections: number,
  amount: number,
  body: () => string,
): Promise<{ ok: number; errors: number; non2xx: number; rps: number }> {
  const result = await autocannon({
    url,
    connections,
    amount,
    timeout: 30,
    headers: { ...headers, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => ({
          ...request,
          method: 'POST',
          path: `${API}/contacts`,
          body: body(),
        }),
      },
    ],
  });
  return {
    ok: result['2xx'],
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    rps: round1(result['2xx'] / result.duration),
  };
}

/** GET /deals/{id} over the sampled ids, as bench.ts's deal-by-id. */
function getDeals(
  url: string,
  headers: Record<string, string>,
  connections: number,
  durationS: number,
  nextDeal: () => string,
): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections,
    duration: durationS,
    timeout: 30,
    headers,
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => ({
          ...request,
          method: 'GET',
          path: `${API}/deals/${nextDeal()}`,
        }),
      },
    ],
  });
}

// --- reporting --------------------------------------------------------------------------------

interface Report {
  startedAt: string;
  command: string;
  machine: {
    nproc: number;
    cpu: string;
    memoryGiB: number;
    node: string;
    postgres: string;
    loadAverageBefore: number[];
    loadAverageAfter: number[];
    commit: string;
  };
  contacts: number;
  settings: {
    endpoints: number;
    hang: number;
    rate: number;
    duration: number;
    timeoutMs: number;
    readConnections: number;
    readDuration: number;
    readRounds: number;
  };
  verified: number;
  verifyFailures: number;
  migrationsApplied: string[];
  throughput: Throughput[];
  latency: Latency[];
  reads: Reads[];
  notes: string[];
}

const cpuCell = (c: CpuWindow | null): string =>
  c
    ? `${c.app ?? '?'} / ${c.postgres ?? '?'} / ${c.bench} / ${c.other ?? '?'}; ${c.machine}%`
    : '—';

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : round1((sorted[mid - 1] + sorted[mid]) / 2);
};

const moved = (value: number, base: number): number =>
  base > 0 ? Math.round((value / base - 1) * 1000) / 10 : 0;

function renderMarkdown(report: Report): string {
  const m = report.machine;
  const s = report.settings;
  const yes = (met: boolean): string => (met ? 'yes' : '**no**');
  const ts = report.throughput;
  const lines: string[] = [
    `#### Run of ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- Command: \`npm run build\`, then \`${report.command}\` (\`npm run bench:webhooks\` builds first), on the bench database of \`npm run bench:seed -- --contacts 1000000 --deals 1000000 --tasks 300000\` (${thousands(report.contacts)} contacts in the bench organization)`,
    `- Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, PostgreSQL ${m.postgres}; app, database, receivers and load generator share the CPUs; load average before/after ${m.loadAverageBefore.join(' ')} / ${m.loadAverageAfter.join(' ')}; commit ${m.commit}`,
    `- App: one copy, production mode, DB_POOL_MAX 10 (bench/lib/processes.ts), no AMQP_URL (in-app consumers on the consumer_messages table), WEBHOOK_CONCURRENCY 32 (default), WEBHOOK_ALLOW_HTTP and WEBHOOK_ALLOW_PRIVATE true. Receivers: one node:http server per endpoint in the benchmark's process on 127.0.0.1, answering 200 at once; signatures verified with \`standardwebhooks\` on a sample: ${thousands(report.verified)} verified, ${report.verifyFailures} failed`,
    ...(report.migrationsApplied.length
      ? [
          `- Migrations applied to the bench database by this run's app (at start-up, as bench.ts; reverted at the end with the build's down() unless --keep-migrations): ${report.migrationsApplied.join(', ')}`,
        ]
      : []),
    ...report.notes.map((n) => `- Note: ${n}`),
    '',
  ];
  if (ts.length) {
    const t = ts[0];
    lines.push(
      `Throughput: ${t.endpoints} endpoints subscribed to \`contact.created\`. For each backlog: POST /contacts by autocannon (16 connections) while each endpoint's first request was held by its receiver (WEBHOOK_TIMEOUT_MS 60000 for this copy), so that the dispatcher sent nothing else until the webhooks consumer had written every delivery; then every request answered at once, and the dispatcher drained the backlog alone (the delivery table held the backlog and nothing else, vacuumed between backlogs). **Steady** = receipts between the 10th and the 90th percentile of their arrival / that time. Lane time per delivery = endpoints / steady rate (each endpoint is one lane sending one request at a time); the request part is the attempt's \`duration_ms\` in the delivery log, the rest is signing, recording the attempt (one transaction) and claiming. CPU in % of one core over the drain (app / the bench PostgreSQL, all its processes / this benchmark process with the receivers / everything else on the machine; then the whole machine busy in % of all its cores), and CPU ms per delivery.`,
      '',
      '| deliveries (backlog) | contacts: writes/s, until all deliveries written | **deliveries/s, steady** | gate to last receipt | received (per endpoint) | duplicates | statuses afterwards | attempts | lane time per delivery | of which the request (duration_ms) p50 / p99 | CPU % app / PostgreSQL / bench / other; machine | **CPU ms per delivery: app / PostgreSQL** |',
      '|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|',
      ...ts.map(
        (x) =>
          `| ${thousands(x.deliveries)} | ${thousands(x.contacts)}: ${x.writesPerS}/s, ${x.backlogS} s | **${thousands(x.perSecond)}** | ${thousands(x.overallPerSecond)}/s over ${x.drainS} s | ${thousands(x.received)} (${x.perEndpoint.min}-${x.perEndpoint.max}) | ${x.duplicates} | ${Object.entries(
            x.statuses,
          )
            .map(([k, v]) => `${k} ${thousands(v)}`)
            .join(
              ', ',
            )} | ${thousands(x.attempts)} | ${x.laneMsPerDelivery} ms | ${x.requestMs.p50} / ${x.requestMs.p99} ms | ${cpuCell(x.cpu)} | **${x.cpu?.appMsPer ?? '?'} / ${x.cpu?.postgresMsPer ?? '?'}** |`,
      ),
      '',
    );
  }
  lines.push(
    `Commit-to-receipt: POST /contacts paced at ${s.rate}/s for ${s.duration} s (open loop, one request every ${round1(1000 / s.rate)} ms; request latency from when each was due), each event delivered to ${s.endpoints} healthy endpoints. Per delivery: arrival at the receiver minus the event's \`created_at\` (taken in the writing transaction, before its commit); per event: until its last endpoint had it; and from the arrival of the POST's answer (negative: the delivery came first). Stages: the event's \`created_at\` to the delivery row's \`created_at\` (the webhooks consumer, an in-app consumer handling one event at a time), then that to the receipt (the dispatcher). CPU in % of one core over the load, and CPU ms per delivery.`,
    '',
    '| window | writes/s (2xx) | errors / non-2xx | request p50 / p99 / max ms | events | deliveries received | **commit-to-receipt p50 / p95 / p99 / max ms** | per event (last endpoint) p99 / max | from the answer p50 / p99 | stages p50 / p99: event -> delivery row (consumer); row -> receipt (dispatcher) | hanging endpoints: attempts, most in flight | CPU % app / PostgreSQL / bench / other; machine | CPU ms per delivery (the writes included) app / PostgreSQL |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---|---:|',
    ...report.latency.map(
      (l) =>
        `| ${l.title} | ${l.driven.rps} | ${l.driven.errors} / ${l.driven.non2xx} | ${l.driven.reqP50} / ${l.driven.reqP99} / ${l.driven.reqMax} | ${thousands(l.events)} | ${thousands(l.received)} of ${thousands(l.expected)} | **${l.p50} / ${l.p95} / ${l.p99}** / ${l.max} | ${l.eventP99} / ${l.eventMax} | ${l.answerP50} / ${l.answerP99} | ${l.consumerP50} / ${l.consumerP99}; ${l.dispatchP50} / ${l.dispatchP99} | ${l.hangingEndpoints ? `${l.hangingAttempts}, ${l.hangingPeak}` : '—'} | ${cpuCell(l.cpu)} | ${l.cpu?.appMsPer ?? '?'} / ${l.cpu?.postgresMsPer ?? '?'} |`,
    ),
    '',
  );
  const without = report.reads.filter((r) => r.id.startsWith('reads-without-'));
  const withHang = report.reads.filter((r) => r.id.startsWith('reads-hanging-'));
  if (report.reads.length) {
    lines.push(
      `Isolation: GET /deals/{id} by autocannon, ${s.readConnections} connections for ${s.readDuration} s per window, over ids sampled from the bench organization (as bench.ts), on the same app copy: once before the hanging endpoints existed, then ${s.readRounds} rounds of (while ${s.hang} endpoints subscribed to \`contact.created\` hang every attempt until WEBHOOK_TIMEOUT_MS ${s.timeoutMs}, each with thousands of due deliveries from the window above, so each lane has a request in flight throughout; then with them disabled by PATCH and their last attempts ended; enabled again for the next round). Compared: the median p99 of the windows with and without. CPU ms per request.`,
      '',
      '| GET /deals/{id} | req/s | p50 / p90 / **p99** / max ms | errors / non-2xx | hanging requests in flight (start, end) | CPU % app / PostgreSQL / bench / other; machine | CPU ms per request app / PostgreSQL |',
      '|---|---:|---|---:|---:|---|---:|',
      ...report.reads.map(
        (r) =>
          `| ${r.title} | ${r.rps} | ${r.p50} / ${r.p90} / **${r.p99}** / ${r.max} | ${r.errors} / ${r.non2xx} | ${r.hangingInFlight.join(', ')} | ${cpuCell(r.cpu)} | ${r.cpu?.appMsPer ?? '?'} / ${r.cpu?.postgresMsPer ?? '?'} |`,
      ),
      '',
    );
  }
  lines.push('| target (issue 14) | measured | met |', '|---|---|---|');
  for (const t of ts)
    lines.push(
      `| >= ${thousands(THROUGHPUT_TARGET)} deliveries/s across ${t.endpoints} endpoints (steady; backlog of ${thousands(t.deliveries)}) | ${thousands(t.perSecond)}/s (${thousands(t.overallPerSecond)}/s gate to last) | ${yes(t.complete && t.perSecond >= THROUGHPUT_TARGET)} |`,
    );
  for (const l of report.latency)
    lines.push(
      `| commit-to-receipt p99 < ${LATENCY_TARGET_MS} ms at ${s.rate} writes/s (${l.id}) | p99 ${l.p99} ms (${l.driven.rps} writes/s, ${thousands(l.received)} of ${thousands(l.expected)} received; stages p99: consumer ${l.consumerP99}, dispatcher ${l.dispatchP99} ms) | ${yes(l.p99 < LATENCY_TARGET_MS && l.received === l.expected && l.driven.rps >= 0.95 * s.rate)} |`,
    );
  const base = report.latency.find((l) => l.id === 'latency');
  const hanging = report.latency.find((l) => l.id === 'latency-hanging');
  if (base && hanging) {
    const d = moved(hanging.p99, base.p99);
    lines.push(
      `| healthy endpoints' commit-to-receipt p99 moves <= ${ISOLATION_TOLERANCE * 100}% while ${s.hang} endpoints hang | ${base.p99} -> ${hanging.p99} ms (${d >= 0 ? '+' : ''}${d}%) | ${yes(Math.abs(d) <= ISOLATION_TOLERANCE * 100 || hanging.p99 <= base.p99)} |`,
    );
    const dd = moved(hanging.dispatchP99, base.dispatchP99);
    lines.push(
      `| the same, dispatcher stage only (delivery row -> receipt; the consumer stage above is the same for hanging and healthy endpoints) | ${base.dispatchP99} -> ${hanging.dispatchP99} ms (${dd >= 0 ? '+' : ''}${dd}%) | ${yes(Math.abs(dd) <= ISOLATION_TOLERANCE * 100 || hanging.dispatchP99 <= base.dispatchP99)} |`,
    );
  }
  if (without.length && withHang.length) {
    const a = median(without.map((r) => r.p99));
    const b = median(withHang.map((r) => r.p99));
    const d = moved(b, a);
    lines.push(
      `| GET /deals/{id} p99 moves <= ${ISOLATION_TOLERANCE * 100}% while ${s.hang} endpoints hang (median of the windows) | without: ${without.map((r) => r.p99).join(', ')} ms (median ${a}); with: ${withHang.map((r) => r.p99).join(', ')} ms (median ${b}); ${d >= 0 ? '+' : ''}${d}% | ${yes(Math.abs(d) <= ISOLATION_TOLERANCE * 100 || b <= a)} |`,
    );
  }
  return lines.join('\n');
}

main().catch((e: unknown) => {
  console.error('[bench:webhooks] failed:', e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
