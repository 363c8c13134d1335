/**
 * Domain events benchmark (issue 12: the outbox relay to RabbitMQ):
 *
 *   npm run bench:seed -- --contacts 1000000 --deals 1000000 --tasks 300000   (once)
 *   npm run bench:events     (= nest build, then this file)
 *
 * Needs the bench database (bench/lib/common.ts) and a RabbitMQ (AMQP_URL, default
 * amqp://guest:guest@127.0.0.1:5672). Two measurements, on the built app (dist/src/main.js):
 *
 * 1. Relay throughput (target >= 5,000 events/s). With the app stopped, N unpublished events
 *    (~1 KB contact.created envelopes of the bench organization, one INSERT ... SELECT
 *    generate_series) are put into `events`; a durable queue of this run is bound to the
 *    exchange crm.events (so the broker persists every message before confirming it, as for a
 *    real consumer's queue); then the app starts with AMQP_URL and RELAY_BATCH = b and its relay
 *    drains the backlog. Throughput = events published after the first batch / (last
 *    published_at - first published_at); the queue's depth must then equal what was published.
 *    Before the app starts, the relay's own steps are timed outside it on the same rows (its
 *    SELECT, JSON.stringify, its UPDATE in a transaction that is rolled back) and the broker
 *    alone (amqplib confirm channel, batches of b): where a batch's time goes. Once per batch
 *    size of --batches; the synthetic events are deleted after each.
 * 2. Commit-to-confirm latency at a fixed write rate (target p99 < 250 ms). The app runs with
 *    AMQP_URL (default RELAY_BATCH and RELAY_POLL_MS); POST /contacts is sent at --rate req/s
 *    for --duration s, (a) paced: one request every 1000/rate ms (open loop, node:http keep-alive
 *    agent), (b) by autocannon with overallRate (as bench.ts's probe: each connection sends its
 *    share of every second back to back at the start of the second, i.e. bursts), then
 *    (c) unthrottled at 32 connections for --unthrottled s. For the events of each window:
 *    published_at - created_at (created_at is taken just before the insert in the writing
 *    transaction, published_at after the broker's confirms), p50/p95/p99/max, from SQL.
 *
 * Afterwards the bench database is as before: the synthetic events, the contacts created and
 * their events are deleted, events that were unpublished before get published_at = NULL again,
 * and the queue is deleted. Prints a Markdown report and writes it into the generated block of
 * the section "Domain events: relay throughput and commit-to-confirm latency" of
 * docs/performance.md (created after "Domain events: what recording costs a write" if missing).
 *
 * Options: --events 100000 --batches 500,2000 (--batches= skips the throughput part)
 *          --rate 200 --duration 30 --warmup 3 --connections 8 (autocannon at --rate)
 *          --unthrottled 10 (s at 32 connections; 0 = skip)
 *          --no-autocannon --amqp-url URL --database-url URL --no-doc --doc docs/performance.md
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as amqpConnect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import autocannon from 'autocannon';
import { Client } from 'pg';
import { pacedPosts } from './lib/paced';
import { gitDescribe, writeDocBlock } from './lib/report';
import {
  Args,
  BENCH_LOGIN_EMAIL,
  BIG_ORG_NAME,
  login,
  type BenchDatabase,
  openBenchDatabase,
  seconds,
  thousands,
  withClient,
} from './lib/common';
import { benchAppEnv, freePort, startServer, type Server } from './lib/processes';

const ROOT = resolve(__dirname, '..');
const API = '/api/v1';
const EXCHANGE = 'crm.events';
const EVENT_TYPE = 'crm.contact.created.v1';
const CONTENT_TYPE = 'application/cloudevents+json';
const SECTION = '## Domain events: relay throughput and commit-to-confirm latency';
const AFTER_SECTION = '## Domain events: what recording costs a write';
const BEGIN = '<!-- BEGIN GENERATED: npm run bench:events (the next run replaces this block) -->';
const END = '<!-- END GENERATED: npm run bench:events -->';
const THROUGHPUT_TARGET = 5000;
const LATENCY_TARGET_MS = 250;

const log = (message: string): void => console.log(`[bench:events] ${message}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round1 = (n: number): number => Math.round(n * 10) / 10;

interface Throughput {
  batch: number;
  events: number;
  insertS: number;
  /** Relay steps timed outside the app on the same rows (ms per batch, median of 3). */
  selectMs: number;
  stringifyMs: number;
  updateMs: number;
  /** amqplib confirm channel alone, batches of `batch`: messages/s. */
  brokerAlone: number;
  brokerAloneMessages: number;
  /** Batches the relay used (distinct published_at), first and last published_at. */
  batches: number;
  spanS: number;
  perSecond: number;
  /** From spawning the app to the last event published (boot included). */
  fromSpawnS: number;
  /** Time per batch of the relay (span / (batches - 1)). */
  batchMs: number;
  /** events/s in the first and the second half of the span. */
  halves: [number, number];
  queued: number;
  expected: number;
  cpu: CpuShares | null;
  /** Rows the relay's UPDATEs changed, and how many of them were HOT (no index entries). */
  updatedRows: number;
  hotRows: number;
  complete: boolean;
}

/** A window of writes: the load (Driven) and the commit-to-confirm delays of its events. */
interface Latency extends Driven {
  id: string;
  title: string;
  connections: number | null;
  rate: number | null;
  events: number;
  published: number;
  relayBatches: number;
  c2cP50: number;
  c2cP95: number;
  c2cP99: number;
  c2cMax: number;
  /** After the load stopped, until the last event was published. */
  drainMs: number;
  cpu: CpuShares | null;
}

interface CpuShares {
  /** % of one core, over the window. */
  app: number;
  relayBackend: number | null;
  /** The whole bench PostgreSQL (relay backend included). */
  postgres: number | null;
  rabbit: number | null;
  /** This process (the load generator, the polling). */
  bench: number;
  /** The rest of the machine (other processes). */
  other: number | null;
  /** % of the whole machine (all cores) busy. */
  machine: number;
}

async function main(): Promise<void> {
  const args = new Args();
  args.assertOnly([
    'events',
    'batches',
    'rate',
    'duration',
    'warmup',
    'connections',
    'unthrottled',
    'no-autocannon',
    'amqp-url',
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
  const events = args.count('events', 100_000);
  const batchSizes = args
    .string('batches', '500,2000')
    .split(',')
    .filter(Boolean)
    .map((b) => {
      const n = Number(b);
      if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error(`--batches: bad size ${b}`);
      return n;
    });
  const rate = args.count('rate', 200);
  const duration = args.count('duration', 30);
  const warmup = args.count('warmup', 3);
  const connections = args.count('connections', 8);
  const unthrottled = args.count('unthrottled', 10);
  const amqpUrl = args.string(
    'amqp-url',
    process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  );
  const docPath = resolve(ROOT, args.string('doc', 'docs/performance.md'));
  const databaseUrl = database.url;
  const mainJs = join(ROOT, 'dist', 'src', 'main.js');
  if (!existsSync(mainJs))
    throw new Error(`${mainJs} is missing: run npm run build (npm run bench:events does)`);
  const startedAt = new Date();
  const loadBefore = loadavg();
  const runId = randomBytes(4).toString('hex');

  const monitor = await openClient(databaseUrl);
  const postmaster = await postmasterOf(monitor);
  const data = await benchData(monitor);
  log(
    `bench org ${data.organizationId}; events table: ${thousands(data.eventsBefore)} rows, ` +
      `${thousands(data.unpublishedBefore.length)} unpublished`,
  );

  // The broker: a durable queue of this run bound to every routing key of crm.events.
  const amqp = await amqpConnect(amqpUrl);
  const rabbitVersion = String(amqp.connection.serverProperties.version ?? '?');
  const admin = await amqp.createChannel();
  const queue = `crm-bench-events-${runId}`;
  await admin.assertExchange(EXCHANGE, 'topic', { durable: true });
  await admin.assertQueue(queue, { durable: true });
  await admin.bindQueue(queue, EXCHANGE, '#');
  log(`RabbitMQ ${rabbitVersion} at ${hostOf(amqpUrl)}; queue ${queue} bound to ${EXCHANGE}`);

  const dataDir = mkdtempSync(join(tmpdir(), 'crm-bench-events-'));
  const appEnv = benchAppEnv(databaseUrl, dataDir, { AMQP_URL: amqpUrl });
  const notes: string[] = [];
  let app: Server | undefined;
  const startApp = async (extra: NodeJS.ProcessEnv = {}): Promise<Server> => {
    const port = await freePort();
    app = await startServer({
      name: 'app',
      args: [mainJs],
      env: appEnv(port, extra),
      port,
      readyPath: `${API}/health`,
      cwd: ROOT,
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
  const onSignal = (): void => {
    void stopApp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const throughput: Throughput[] = [];
  const latency: Latency[] = [];
  const envelopeBytes = { synthetic: 0, real: 0 };
  const commitProbes: Probe[] = [];
  const seqBefore = data.maxSeq;
  let restored = false;
  try {
    // --- 1. relay throughput ---------------------------------------------------------------
    for (const [i, batch] of batchSizes.entries()) {
      const inserted = await insertSynthetic(monitor, data, events);
      log(
        `batch ${batch}: ${thousands(inserted.n)} unpublished events inserted in ${seconds(inserted.ms)}`,
      );
      if (i === 0) envelopeBytes.synthetic = await envelopeSize(monitor, inserted.lo, inserted.hi);
      // On a connection of its own: its statistics are flushed when it closes (HOT count below).
      const steps = await withClient(databaseUrl, (db) => relaySteps(db, batch));
      const brokerMessages = Math.min(events, 20_000);
      const broker = await brokerAlone(amqp, steps.payloads, batch, brokerMessages);
      await admin.purgeQueue(queue);
      log(
        `  outside the app, per batch of ${batch}: SELECT ${steps.selectMs} ms, JSON.stringify ${steps.stringifyMs} ms, ` +
          `UPDATE ${steps.updateMs} ms; broker alone ${thousands(Math.round(broker))} msg/s`,
      );

      const updatesBefore = await updateCounts(monitor);
      const spawned = performance.now();
      const spawnedAt = Date.now();
      const server = await startApp({ RELAY_BATCH: String(batch) });
      const relayPid = await backendPid(monitor, 'crm-api event relay');
      const cpuStart = cpuSnapshot(server.pid, relayPid, postmaster);
      // At least 1,000 events/s, or 2 minutes.
      const done = await waitPublished(monitor, Math.max(120_000, events));
      const cpuEnd = cpuSnapshot(server.pid, relayPid, postmaster);
      const fromSpawnS = (performance.now() - spawned) / 1000;
      await stopApp();
      const updatesAfter = await updateCounts(monitor);
      const stats = await publishedStats(monitor, inserted.lo, inserted.hi);
      const { messageCount } = await admin.checkQueue(queue);
      const expected = inserted.n + (i === 0 ? data.unpublishedBefore.length : 0);
      const result: Throughput = {
        batch,
        events: inserted.n,
        insertS: round1(inserted.ms / 1000),
        selectMs: steps.selectMs,
        stringifyMs: steps.stringifyMs,
        updateMs: steps.updateMs,
        brokerAlone: Math.round(broker),
        brokerAloneMessages: brokerMessages,
        batches: stats.batches,
        spanS: stats.spanS,
        perSecond:
          stats.spanS > 0 ? Math.round((stats.published - stats.firstBatch) / stats.spanS) : 0,
        fromSpawnS: round1(stats.lastAt ? (stats.lastAt.getTime() - spawnedAt) / 1000 : fromSpawnS),
        halves: stats.halves,
        batchMs: stats.batches > 1 ? round1((stats.spanS * 1000) / (stats.batches - 1)) : 0,
        queued: messageCount,
        expected,
        cpu: cpuShares(cpuStart, cpuEnd),
        updatedRows: updatesAfter.upd - updatesBefore.upd,
        hotRows: updatesAfter.hot - updatesBefore.hot,
        complete: done && stats.published === inserted.n,
      };
      throughput.push(result);
      log(
        `  relay: ${thousands(result.perSecond)} events/s (${thousands(result.halves[0])} then ${thousands(result.halves[1])}; ${result.batches} batches, ${result.spanS} s first to last published_at, ` +
          `${result.batchMs} ms per batch); queue holds ${thousands(messageCount)} of ${thousands(expected)}; ` +
          `CPU % of a core: ${formatCpu(result.cpu)}`,
      );
      if (!result.complete)
        notes.push(`batch ${batch}: the relay had not published every event in time`);
      if (messageCount !== expected)
        notes.push(`batch ${batch}: the queue held ${messageCount} messages, ${expected} expected`);
      await monitor.query('DELETE FROM events WHERE seq BETWEEN $1 AND $2', [
        inserted.lo,
        inserted.hi,
      ]);
      await admin.purgeQueue(queue);
    }
    // Events that were unpublished before this run: the first relay published them.
    await restoreUnpublished(monitor, data.unpublishedBefore);
    restored = true;

    // --- 2. commit-to-confirm latency ------------------------------------------------------
    commitProbes.push(await commitProbe(monitor));
    const server = await startApp();
    const relayPid = await backendPid(monitor, 'crm-api event relay');
    const session = await login(server.url);
    if (session.organizationId !== data.organizationId)
      throw new Error('login: wrong organization');
    const headers = {
      authorization: `Bearer ${session.accessToken}`,
      'x-organization-id': session.organizationId,
    };
    let created = 0;
    const body = (): string => {
      created += 1;
      return JSON.stringify({
        name: `Events Bench ${created}`,
        email: `events-bench-${runId}-${created}@bench-post.test`,
        phone: '+1 555 0100',
      });
    };
    if (warmup > 0) {
      await paced(server.url, headers, rate, warmup, body);
      await waitPublished(monitor, 60_000);
    }
    const window = async (
      id: string,
      title: string,
      drive: () => Promise<Driven>,
      meta: { connections: number | null; rate: number | null },
    ): Promise<void> => {
      const lo = await maxSeq(monitor);
      const cpuStart = cpuSnapshot(server.pid, relayPid, postmaster);
      const driven = await drive();
      const cpuEnd = cpuSnapshot(server.pid, relayPid, postmaster);
      const hi = await maxSeq(monitor);
      const stopped = performance.now();
      await waitPublished(monitor, 120_000);
      const drainMs = Math.round(performance.now() - stopped);
      const c2c = await commitToConfirm(monitor, lo, hi);
      const cpu = cpuShares(cpuStart, cpuEnd);
      const m: Latency = { id, title, ...meta, ...driven, ...c2c, drainMs, cpu };
      latency.push(m);
      log(
        `${id}: ${m.rps} writes/s, request p50 ${m.reqP50} / p99 ${m.reqP99} ms${slowNote(m.slow)}; commit-to-confirm ` +
          `p50 ${m.c2cP50} / p95 ${m.c2cP95} / p99 ${m.c2cP99} / max ${m.c2cMax} ms over ${thousands(m.events)} events ` +
          `(${m.relayBatches} relay batches); drained ${m.drainMs} ms after the load; CPU % of a core: ${formatCpu(cpu)}`,
      );
      await sleep(1000);
    };
    await window(
      'paced',
      `POST /contacts, one every ${round1(1000 / rate)} ms (open loop, paced)`,
      () => paced(server.url, headers, rate, duration, body),
      { connections: null, rate },
    );
    if (!args.flag('no-autocannon'))
      await window(
        'autocannon-rate',
        `POST /contacts, autocannon overallRate ${rate} (per-second bursts)`,
        () => cannon(server.url, headers, connections, duration, rate, body),
        { connections, rate },
      );
    if (unthrottled > 0)
      await window(
        'unthrottled-32',
        'POST /contacts, 32 connections, as fast as possible',
        () => cannon(server.url, headers, 32, unthrottled, undefined, body),
        { connections: 32, rate: null },
      );
    commitProbes.push(await commitProbe(monitor));
    envelopeBytes.real = await envelopeSize(monitor, String(BigInt(seqBefore) + 1n), null);
    await stopApp();
  } finally {
    await stopApp();
    // Leave the bench database as it was: no synthetic events, no contacts of this run.
    const removedContacts = await monitor.query(
      `DELETE FROM contacts WHERE organization_id = $1 AND email LIKE $2`,
      [data.organizationId, `events-bench-${runId}-%`],
    );
    const removedEvents = await monitor.query('DELETE FROM events WHERE seq > $1', [seqBefore]);
    if (!restored) await restoreUnpublished(monitor, data.unpublishedBefore);
    await monitor.query('VACUUM (ANALYZE) events');
    log(
      `clean-up: ${thousands(removedContacts.rowCount ?? 0)} contacts and ${thousands(removedEvents.rowCount ?? 0)} events of this run deleted`,
    );
    await admin.deleteQueue(queue).catch(() => undefined);
    await amqp.close().catch(() => undefined);
    await monitor.end();
    rmSync(dataDir, { recursive: true, force: true });
  }

  const report: Report = {
    startedAt: startedAt.toISOString(),
    command: `npm run bench:events${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: {
      nproc: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
      node: process.version,
      postgres: `${data.pgVersion}, ${database.description}`,
      rabbit: `${rabbitVersion} (${hostOf(amqpUrl)})`,
      loadAverageBefore: loadBefore.map((l) => Number(l.toFixed(2))),
      loadAverageAfter: loadavg().map((l) => Number(l.toFixed(2))),
      commit: gitDescribe(ROOT),
    },
    contacts: data.contacts,
    envelopeBytes,
    commitProbes,
    throughput,
    latency,
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

// --- the data ---------------------------------------------------------------------------------

interface BenchData {
  organizationId: string;
  ownerId: string;
  companyId: string | null;
  contacts: number;
  eventsBefore: number;
  maxSeq: string;
  unpublishedBefore: string[];
  pgVersion: string;
}

async function openClient(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: 'crm-bench' });
  await client.connect();
  return client;
}

async function benchData(db: Client): Promise<BenchData> {
  const org = await db.query<{ id: string }>(`SELECT id FROM organizations WHERE name = $1`, [
    BIG_ORG_NAME,
  ]);
  if (!org.rows[0]) throw new Error('no bench data: run npm run bench:seed first');
  const organizationId = org.rows[0].id;
  const owner = await db.query<{ id: string }>(`SELECT id FROM users WHERE email = $1`, [
    BENCH_LOGIN_EMAIL,
  ]);
  const company = await db.query<{ id: string }>(
    `SELECT id FROM companies WHERE organization_id = $1 LIMIT 1`,
    [organizationId],
  );
  const contacts = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM contacts WHERE organization_id = $1`,
    [organizationId],
  );
  const events = await db.query<{ n: string; max: string }>(
    `SELECT count(*) AS n, coalesce(max(seq), 0)::text AS max FROM events`,
  );
  const unpublished = await db.query<{ seq: string }>(
    `SELECT seq::text FROM events WHERE published_at IS NULL ORDER BY seq`,
  );
  const pg = await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  return {
    organizationId,
    ownerId: owner.rows[0].id,
    companyId: company.rows[0]?.id ?? null,
    contacts: Number(contacts.rows[0].n),
    eventsBefore: Number(events.rows[0].n),
    maxSeq: events.rows[0].max,
    unpublishedBefore: unpublished.rows.map((r) => r.seq),
    pgVersion: pg.rows[0].v,
  };
}

/**
 * N unpublished crm.contact.created.v1 events of the bench organization, shaped as the app
 * records them (envelope = CloudEvents 1.0 with the contact as GET /contacts/{id} answers it),
 * with unique ids. Returns their seq range.
 */
async function insertSynthetic(
  db: Client,
  data: BenchData,
  n: number,
): Promise<{ lo: string; hi: string; n: number; ms: number }> {
  const start = performance.now();
  const { rows } = await db.query<{ lo: string; hi: string; n: number }>(
    `WITH ins AS (
       INSERT INTO events (organization_id, id, type, subject, envelope, created_at)
       SELECT $1::uuid, e.id, $5::text, 'contacts/' || e.cid, jsonb_build_object(
                'specversion', '1.0',
                'id', e.id,
                'type', $5::text,
                'source', '/organizations/' || $1::text,
                'subject', 'contacts/' || e.cid,
                'time', e.ts,
                'datacontenttype', 'application/json',
                'organizationid', $1::text,
                'actorid', $2::text,
                'requestid', e.rid,
                'traceparent', '00-' || replace(e.rid, '-', '') || '-' || left(md5(e.g::text), 16) || '-01',
                'data', jsonb_build_object('contact', jsonb_build_object(
                  'id', e.cid,
                  'organizationId', $1::text,
                  'ownerId', $2::text,
                  'name', 'Events Bench Contact ' || e.g,
                  'email', 'events-bench-contact-' || e.g || '@synthetic-events.bench.test',
                  'phone', '+1 (555) 01' || lpad((e.g % 100000)::text, 5, '0'),
                  'companyId', $3::text,
                  'createdAt', e.ts,
                  'updatedAt', e.ts))),
              now()
         FROM (SELECT g, gen_random_uuid() AS id, gen_random_uuid()::text AS cid,
                      gen_random_uuid()::text AS rid,
                      to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts
                 FROM generate_series(1, $4::int) g) e
       RETURNING seq)
     SELECT min(seq)::text AS lo, max(seq)::text AS hi, count(*)::int AS n FROM ins`,
    [data.organizationId, data.ownerId, data.companyId, n, EVENT_TYPE],
  );
  // What autovacuum would do before long: the planner sees the backlog.
  await db.query('ANALYZE events');
  return { ...rows[0], ms: performance.now() - start };
}

async function envelopeSize(db: Client, lo: string, hi: string | null): Promise<number> {
  const { rows } = await db.query<{ b: number | null }>(
    `SELECT avg(octet_length(envelope::text))::int AS b FROM events
      WHERE seq >= $1 AND ($2::bigint IS NULL OR seq <= $2)`,
    [lo, hi],
  );
  return rows[0].b ?? 0;
}

/**
 * The relay's steps on the first `batch` unpublished events, outside the app: its SELECT (with
 * pg's parsing of the jsonb), JSON.stringify + Buffer.from of the envelopes, and its UPDATE
 * (rolled back). Median of 3. Also returns the payloads for the broker-alone measurement.
 */
async function relaySteps(
  db: Client,
  batch: number,
): Promise<{ selectMs: number; stringifyMs: number; updateMs: number; payloads: Buffer[] }> {
  const select: number[] = [];
  const stringify: number[] = [];
  const update: number[] = [];
  let payloads: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    await db.query('BEGIN');
    try {
      let t = performance.now();
      const { rows } = await db.query<{ seq: string; id: string; type: string; envelope: object }>(
        'SELECT seq, id, type, envelope FROM events WHERE published_at IS NULL ORDER BY seq LIMIT $1',
        [batch],
      );
      select.push(performance.now() - t);
      t = performance.now();
      payloads = rows.map((row) => Buffer.from(JSON.stringify(row.envelope)));
      stringify.push(performance.now() - t);
      t = performance.now();
      await db.query(
        'UPDATE events SET published_at = now() WHERE seq = ANY($1::bigint[]) AND published_at IS NULL',
        [rows.map((r) => r.seq)],
      );
      update.push(performance.now() - t);
    } finally {
      await db.query('ROLLBACK');
    }
  }
  const median = (xs: number[]): number => round1([...xs].sort((a, b) => a - b)[1]);
  return {
    selectMs: median(select),
    stringifyMs: median(stringify),
    updateMs: median(update),
    payloads,
  };
}

/** The broker alone: `total` persistent messages in confirmed batches of `batch` (msg/s). */
async function brokerAlone(
  amqp: ChannelModel,
  payloads: Buffer[],
  batch: number,
  total: number,
): Promise<number> {
  const channel: ConfirmChannel = await amqp.createConfirmChannel();
  try {
    const start = performance.now();
    for (let sent = 0; sent < total;) {
      const size = Math.min(batch, total - sent);
      const confirms: Promise<void>[] = [];
      for (let i = 0; i < size; i++, sent++) {
        confirms.push(
          new Promise<void>((resolveOne, rejectOne) => {
            channel.publish(
              EXCHANGE,
              EVENT_TYPE,
              payloads[sent % payloads.length],
              { persistent: true, messageId: `bench-${sent}`, contentType: CONTENT_TYPE },
              (err: unknown) => (err ? rejectOne(err) : resolveOne()),
            );
          }),
        );
      }
      await Promise.all(confirms);
    }
    return total / ((performance.now() - start) / 1000);
  } finally {
    await channel.close();
  }
}

/** Waits until no event is unpublished (true) or `timeoutMs` passed (false). */
async function waitPublished(db: Client, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ any: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM events WHERE published_at IS NULL) AS any',
    );
    if (!rows[0].any) return true;
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
}

async function publishedStats(
  db: Client,
  lo: string,
  hi: string,
): Promise<{
  published: number;
  firstBatch: number;
  batches: number;
  spanS: number;
  lastAt: Date | null;
  /** events/s over the first and the second half of the span (does the rate hold?). */
  halves: [number, number];
}> {
  const { rows } = await db.query<{
    published: number;
    first_batch: number;
    batches: number;
    span: number | null;
    last: Date | null;
    first_half: number;
    second_half: number;
  }>(
    `WITH e AS (SELECT published_at FROM events WHERE seq BETWEEN $1 AND $2),
          t AS (SELECT min(published_at) AS a, max(published_at) AS z FROM e)
     SELECT count(published_at)::int AS published,
            count(*) FILTER (WHERE published_at = t.a)::int AS first_batch,
            count(DISTINCT published_at)::int AS batches,
            extract(epoch FROM t.z - t.a)::float8 AS span,
            t.z AS last,
            count(*) FILTER (WHERE published_at > t.a AND published_at <= t.a + (t.z - t.a) / 2)::int AS first_half,
            count(*) FILTER (WHERE published_at > t.a + (t.z - t.a) / 2)::int AS second_half
       FROM e, t GROUP BY t.a, t.z`,
    [lo, hi],
  );
  const r = rows[0];
  const span = r?.span ?? 0;
  return {
    published: r?.published ?? 0,
    firstBatch: r?.first_batch ?? 0,
    batches: r?.batches ?? 0,
    spanS: Math.round(span * 1000) / 1000,
    lastAt: r?.last ?? null,
    halves:
      span > 0
        ? [Math.round(r.first_half / (span / 2)), Math.round(r.second_half / (span / 2))]
        : [0, 0],
  };
}

async function commitToConfirm(
  db: Client,
  lo: string,
  hi: string,
): Promise<
  Pick<Latency, 'events' | 'published' | 'relayBatches' | 'c2cP50' | 'c2cP95' | 'c2cP99' | 'c2cMax'>
> {
  const { rows } = await db.query<{
    events: number;
    published: number;
    batches: number;
    p: number[] | null;
    max: number | null;
  }>(
    `SELECT count(*)::int AS events, count(published_at)::int AS published,
            count(DISTINCT published_at)::int AS batches,
            percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ms) AS p,
            max(ms) AS max
       FROM (SELECT published_at, extract(epoch FROM published_at - created_at)::float8 * 1000 AS ms
               FROM events WHERE seq > $1 AND seq <= $2) e`,
    [lo, hi],
  );
  const r = rows[0];
  const p = r.p ?? [0, 0, 0];
  return {
    events: r.events,
    published: r.published,
    relayBatches: r.batches,
    c2cP50: round1(p[0]),
    c2cP95: round1(p[1]),
    c2cP99: round1(p[2]),
    c2cMax: round1(r.max ?? 0),
  };
}

/** The cumulative row-update counters of `events` (flushed by a backend when it goes idle or exits). */
async function updateCounts(db: Client): Promise<{ upd: number; hot: number }> {
  await sleep(1200);
  const { rows } = await db.query<{ upd: string; hot: string }>(
    `SELECT n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot FROM pg_stat_user_tables
      WHERE relid = 'events'::regclass`,
  );
  return { upd: Number(rows[0]?.upd ?? 0), hot: Number(rows[0]?.hot ?? 0) };
}

interface Probe {
  p50: number;
  p99: number;
}

/**
 * 200 empty transactions with an xid (BEGIN; SELECT txid_current(); COMMIT), one after another:
 * each commit waits for its WAL flush. The disk's share of every write's commit, as it is now
 * (other processes' I/O on a shared machine shows here, not in the CPU figures).
 */
async function commitProbe(db: Client): Promise<Probe> {
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await db.query('BEGIN');
    await db.query('SELECT txid_current()');
    await db.query('COMMIT');
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: Math.round(times[99] * 100) / 100, p99: Math.round(times[197] * 100) / 100 };
}

async function maxSeq(db: Client): Promise<string> {
  const { rows } = await db.query<{ max: string }>(
    'SELECT coalesce(max(seq), 0)::text AS max FROM events',
  );
  return rows[0].max;
}

async function restoreUnpublished(db: Client, seqs: string[]): Promise<void> {
  if (!seqs.length) return;
  await db.query('UPDATE events SET published_at = NULL WHERE seq = ANY($1::bigint[])', [seqs]);
}

async function backendPid(db: Client, applicationName: string): Promise<number | null> {
  for (let i = 0; i < 20; i++) {
    const { rows } = await db.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 LIMIT 1`,
      [applicationName],
    );
    if (rows[0]) return rows[0].pid;
    await sleep(50);
  }
  return null;
}

// --- CPU (from /proc) -------------------------------------------------------------------------

interface CpuSnapshot {
  at: number;
  app: number | null;
  relayBackend: number | null;
  postgres: number | null;
  rabbit: number | null;
  bench: number;
  machineBusy: number;
  machineTotal: number;
}

const CLOCK_TICKS = 100;

interface ProcStat {
  comm: string;
  ppid: number;
  /** utime + stime, and cutime + cstime (waited-for children), in seconds. */
  own: number;
  children: number;
}

function procStat(pid: number | string): ProcStat | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return {
      comm: stat.slice(stat.indexOf('(') + 1, close),
      ppid: Number(fields[1]),
      own: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
      children: (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS,
    };
  } catch {
    return null;
  }
}

/**
 * CPU seconds so far of the app, the relay's backend, the whole bench PostgreSQL (postmaster,
 * its live children, and the exited ones it waited for), RabbitMQ's Erlang VM, this process, and
 * the machine (/proc/stat). Read-only; null where not on this machine or not readable.
 */
function cpuSnapshot(
  appPid: number,
  relayPid: number | null,
  postmasterPid: number | null,
): CpuSnapshot {
  let postgres: number | null = null;
  let rabbit: number | null = null;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = procStat(entry);
    if (!st) continue;
    if (st.comm === 'beam.smp') rabbit = (rabbit ?? 0) + st.own;
    if (postmasterPid !== null && Number(entry) === postmasterPid)
      postgres = (postgres ?? 0) + st.own + st.children;
    else if (postmasterPid !== null && st.ppid === postmasterPid)
      postgres = (postgres ?? 0) + st.own;
  }
  const [cpuLine] = readFileSync('/proc/stat', 'utf8').split('\n');
  const ticks = cpuLine.trim().split(/\s+/).slice(1).map(Number);
  const idle = ticks[3] + (ticks[4] ?? 0);
  const total = ticks.slice(0, 8).reduce((x, y) => x + y, 0);
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    app: procStat(appPid)?.own ?? null,
    relayBackend: relayPid === null ? null : (procStat(relayPid)?.own ?? null),
    postgres,
    rabbit,
    bench: (self.user + self.system) / 1e6,
    machineBusy: (total - idle) / CLOCK_TICKS,
    machineTotal: total / CLOCK_TICKS,
  };
}

function cpuShares(a: CpuSnapshot, b: CpuSnapshot): CpuShares | null {
  const wall = (b.at - a.at) / 1000;
  if (wall <= 0.2) return null;
  const share = (x: number | null, y: number | null): number | null =>
    x === null || y === null ? null : Math.round(((y - x) / wall) * 100);
  const machineCores = (b.machineBusy - a.machineBusy) / wall;
  const known = [
    share(a.app, b.app),
    share(a.postgres, b.postgres),
    share(a.rabbit, b.rabbit),
    share(a.bench, b.bench),
  ];
  return {
    app: share(a.app, b.app) ?? 0,
    relayBackend: share(a.relayBackend, b.relayBackend),
    postgres: share(a.postgres, b.postgres),
    rabbit: share(a.rabbit, b.rabbit),
    bench: share(a.bench, b.bench) ?? 0,
    other: known.includes(null)
      ? null
      : Math.max(0, Math.round(machineCores * 100 - known.reduce((x, y) => x! + y!, 0)!)),
    machine: Math.round(
      ((b.machineBusy - a.machineBusy) / (b.machineTotal - a.machineTotal)) * 100,
    ),
  };
}

/** The PostgreSQL server's main process, when it runs on this machine. */
async function postmasterOf(db: Client): Promise<number | null> {
  const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const st = procStat(rows[0].pid);
  return st && st.comm.startsWith('postgres') ? st.ppid : null;
}

const formatCpu = (c: CpuShares | null): string =>
  c
    ? `app ${c.app}, PostgreSQL ${c.postgres ?? '?'} (relay backend ${c.relayBackend ?? '—'}), RabbitMQ ${c.rabbit ?? '?'}, load generator ${c.bench}, other ${c.other ?? '?'}; machine ${c.machine}%`
    : '—';

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
  /** Paced only: requests that took over 250 ms, and when (s into the run) the first and last were due. */
  slow?: { count: number; fromS: number; toS: number };
}

/** POST /contacts paced at `rate` (bench/lib/paced.ts), with the slow ones (over 250 ms) located. */
async function paced(
  url: string,
  headers: Record<string, string>,
  rate: number,
  durationS: number,
  body: () => string,
): Promise<Driven> {
  const slowDue: number[] = [];
  const run = await pacedPosts(url, `${API}/contacts`, headers, rate, durationS, body, (a) => {
    if (a.tookMs > 250) slowDue.push(a.dueS);
  });
  const { latencies } = run;
  const at = (q: number): number =>
    latencies.length
      ? round1(latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)])
      : 0;
  return {
    durationS: round1(run.durationS),
    sent: run.sent,
    ok: run.ok,
    errors: run.errors,
    non2xx: run.non2xx,
    rps: round1(run.ok / run.durationS),
    reqP50: at(0.5),
    reqP99: at(0.99),
    reqMax: round1(latencies[latencies.length - 1] ?? 0),
    slow: slowDue.length
      ? {
          count: slowDue.length,
          fromS: round1(Math.min(...slowDue)),
          toS: round1(Math.max(...slowDue)),
        }
      : { count: 0, fromS: 0, toS: 0 },
  };
}

/** autocannon, as bench.ts drives its scenarios (overallRate when `rate` is given). */
async function cannon(
  url: string,
  headers: Record<string, string>,
  connections: number,
  durationS: number,
  rate: number | undefined,
  body: () => string,
): Promise<Driven> {
  const result = await autocannon({
    url,
    connections,
    duration: durationS,
    timeout: 30,
    headers: { ...headers, 'content-type': 'application/json' },
    overallRate: rate,
    ignoreCoordinatedOmission: rate !== undefined,
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
  const sent = Object.values(result.statusCodeStats).reduce((a, s) => a + s.count, 0);
  return {
    durationS: result.duration,
    sent,
    ok: result['2xx'],
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    rps: round1(result['2xx'] / result.duration),
    reqP50: result.latency.p50,
    reqP99: result.latency.p99,
    reqMax: result.latency.max,
  };
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
    rabbit: string;
    loadAverageBefore: number[];
    loadAverageAfter: number[];
    commit: string;
  };
  contacts: number;
  envelopeBytes: { synthetic: number; real: number };
  commitProbes: Probe[];
  throughput: Throughput[];
  latency: Latency[];
  notes: string[];
}

const slowNote = (slow: Driven['slow']): string =>
  slow && slow.count
    ? ` (${thousands(slow.count)} over 250 ms, due between ${slow.fromS} and ${slow.toS} s into the run)`
    : '';

const cpuCell = (c: CpuShares | null): string =>
  c
    ? `${c.app} / ${c.postgres ?? '?'} (${c.relayBackend ?? '?'}) / ${c.rabbit ?? '?'} / ${c.bench} / ${c.other ?? '?'}; ${c.machine}%`
    : '—';

function renderMarkdown(report: Report): string {
  const m = report.machine;
  const yes = (met: boolean): string => (met ? 'yes' : '**no**');
  const lines: string[] = [
    `#### Run of ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- Command: \`npm run build\`, then \`${report.command}\` (\`npm run bench:events\` builds first), on the bench database of \`npm run bench:seed -- --contacts 1000000 --deals 1000000 --tasks 300000\` (${thousands(report.contacts)} contacts in the bench organization)`,
    `- Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, PostgreSQL ${m.postgres}, RabbitMQ ${m.rabbit}, all on this machine (app, database, broker and load generator share the CPUs); load average before/after ${m.loadAverageBefore.join(' ')} / ${m.loadAverageAfter.join(' ')}; commit ${m.commit}`,
    `- PostgreSQL commit with WAL flush (200 empty transactions in a row; before and after the writes): ${report.commitProbes.map((p) => `p50 ${p.p50} / p99 ${p.p99} ms`).join(', then ')}`,
    `- Envelopes: synthetic ${report.envelopeBytes.synthetic} bytes of JSON on average, those POST /contacts recorded ${report.envelopeBytes.real} bytes; persistent messages to a durable classic queue of the run bound to \`${EXCHANGE}\` with \`#\` (nothing consumes it)`,
    ...report.notes.map((n) => `- Note: ${n}`),
    '',
    'Relay throughput: the backlog inserted with the app stopped, then drained by its relay. "per batch outside" = the relay\'s SELECT / JSON.stringify / UPDATE timed by the benchmark on the same rows (UPDATE rolled back); "broker alone" = amqplib confirm channel, same payloads and batch size, no database. CPU in % of one core over the drain, from /proc: app / the bench PostgreSQL (all its processes; the relay\'s backend alone in parentheses) / RabbitMQ / this load generator / everything else on the machine; then the whole machine busy in % of all its cores.',
    '',
    '| RELAY_BATCH | events | batches | first to last published_at | **events/s** (first half then second half of the span) | ms per batch | per batch outside: SELECT / stringify / UPDATE ms | rest of a batch: publish + confirms (derived) | broker alone msg/s | HOT updates | spawn to last published | queue depth | CPU % app / PostgreSQL (relay) / RabbitMQ / bench / other; machine |',
    '|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|',
    ...report.throughput.map(
      (t) =>
        `| ${t.batch} | ${thousands(t.events)} | ${t.batches} | ${t.spanS} s | **${thousands(t.perSecond)}** (${thousands(t.halves[0])} then ${thousands(t.halves[1])}) | ${t.batchMs} | ${t.selectMs} / ${t.stringifyMs} / ${t.updateMs} | ${round1(Math.max(0, t.batchMs - t.selectMs - t.stringifyMs - t.updateMs))} ms | ${thousands(t.brokerAlone)} | ${t.updatedRows ? `${Math.round((t.hotRows / t.updatedRows) * 100)}% of ${thousands(t.updatedRows)}` : '?'} | ${t.fromSpawnS} s | ${thousands(t.queued)} of ${thousands(t.expected)} | ${cpuCell(
          t.cpu,
        )} |`,
    ),
    '',
    'Commit-to-confirm: `published_at - created_at` of the events recorded in the window (created_at just before the insert in the writing transaction, published_at after the broker confirmed). Request latencies of the writes in ms (paced: from when each request was due).',
    '',
    '| load | conns | writes/s (2xx) | errors / non-2xx | request p50 / p99 / max | events | relay batches | **commit-to-confirm p50 / p95 / p99 / max ms** | drained after the load | CPU % app / PostgreSQL (relay) / RabbitMQ / bench / other; machine |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---|',
    ...report.latency.map(
      (l) =>
        `| ${l.title} | ${l.connections ?? '—'} | ${l.rps} | ${l.errors} / ${l.non2xx} | ${l.reqP50} / ${l.reqP99} / ${l.reqMax}${slowNote(l.slow)} | ${thousands(l.events)}${l.published < l.events ? ` (${thousands(l.events - l.published)} unpublished)` : ''} | ${l.relayBatches} | **${l.c2cP50} / ${l.c2cP95} / ${l.c2cP99}** / ${l.c2cMax} | ${l.drainMs} ms | ${cpuCell(l.cpu)} |`,
    ),
    '',
    '| target (issue 12) | measured | met |',
    '|---|---|---|',
  ];
  for (const t of report.throughput) {
    lines.push(
      `| relay >= ${thousands(THROUGHPUT_TARGET)} events/s (RELAY_BATCH ${t.batch}) | ${thousands(t.perSecond)} events/s | ${yes(t.complete && t.perSecond >= THROUGHPUT_TARGET)} |`,
    );
  }
  for (const l of report.latency.filter((x) => x.rate !== null)) {
    lines.push(
      `| commit-to-confirm p99 < ${LATENCY_TARGET_MS} ms at ${l.rate} writes/s (${l.id}) | p99 ${l.c2cP99} ms (${l.rps} writes/s) | ${yes(l.c2cP99 < LATENCY_TARGET_MS && l.published === l.events && l.rps >= 0.95 * (l.rate ?? 0))} |`,
    );
  }
  return lines.join('\n');
}

/** Host and vhost of an AMQP URL, without the credentials. */
function hostOf(url: string): string {
  try {
    const { host, pathname } = new URL(url);
    return `${host}${pathname && pathname !== '/' ? ` vhost ${decodeURIComponent(pathname.slice(1))}` : ''}`;
  } catch {
    return '(AMQP_URL)';
  }
}

main().catch((e: unknown) => {
  console.error('[bench:events] failed:', e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
