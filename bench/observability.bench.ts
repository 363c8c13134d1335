/**
 * Observability benchmark (issue 15; API.md section 15, docs/decisions/0039-tracing.md): what
 * metrics and tracing cost on GET /deals/{id}, the cheapest authenticated read (so the largest
 * relative cost). Targets: metrics under 5%, tracing (when on) under 15% of throughput.
 *
 *   npm run bench:seed -- --contacts 5000 --deals 5000 --tasks 1000   (once; any size works)
 *   npm run bench:observability      (= nest build, then this file)
 *
 * Copies of the built app (a private copy of dist/) on the bench database, idle but for the
 * one being measured: `plain` (tracing off) and `traced` (OTEL_EXPORTER_OTLP_ENDPOINT set to a
 * sink of this process on 127.0.0.1 that accepts and discards OTLP/HTTP requests, so the spans
 * are really batched, serialized and sent). The scenarios, alternated (bench/README.md: the
 * order rotates every round, so a neighbour's load favours none), each measured by autocannon
 * over --connections for --duration s (ids rotating over a sample of the organization's deals):
 *
 * - `plain`: copy 1, nothing scrapes /metrics (the request-duration histogram is still observed:
 *   the app always registers its metrics);
 * - `metrics-scraped`: copy 1 while this process GETs /metrics every --scrape-ms (1 s, 15x
 *   Prometheus' default 15 s: a pessimistic reading);
 * - `async-hooks`: copy 4, tracing off, with Node 20's async hooks on (an AsyncLocalStorage
 *   entered at start-up, bench/lib/async-hooks-on.cjs): the part of tracing's cost that is the
 *   context manager's hooks alone, apart from the instrumentations and the spans;
 * - `traced`: copy 2, tracing on, every request traced (the default parent-based always-on
 *   sampler): the server span (Fastify's request span), the handler span, the pg spans;
 * - `traced-sampled`: copy 3, tracing on with the sampling the README suggests for production
 *   (`parentbased_traceidratio`, 0.1): what tracing costs when a tenth of the traces is kept.
 *
 * Per scenario: req/s, p99 and CPU ms per request of the app process (/proc, warm-up excluded),
 * medians over the rounds, and each one's cost against `plain`. The histogram's own cost (one
 * `observe` per request, which no switch turns off) is measured apart: the same histogram
 * (prom-client, the app's buckets and label count) observed 200,000 times in this process,
 * against the CPU time of a request.
 *
 * Options: --duration 8 --warmup 2 --rounds 3 --connections 16 --scrape-ms 1000 --ids 200
 *          --database-url URL --no-doc --doc docs/performance.md
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { Histogram, Registry } from 'prom-client';
import { gitDescribe, writeDocBlock } from './lib/report';
import { Args, BIG_ORG_NAME, login, openBenchDatabase, withClient } from './lib/common';
import { benchAppEnv, freePort, snapshotDist, startServer, type Server } from './lib/processes';

const ROOT = resolve(__dirname, '..');
const args = new Args();
args.assertOnly([
  'duration',
  'warmup',
  'rounds',
  'connections',
  'scrape-ms',
  'ids',
  'database-url',
  'no-doc',
  'doc',
]);
const DURATION = args.count('duration', 8);
const WARMUP = args.count('warmup', 2);
const ROUNDS = args.count('rounds', 3);
const CONNECTIONS = args.count('connections', 16);
const SCRAPE_MS = args.count('scrape-ms', 1000);
const IDS = args.count('ids', 200);

type Scenario = 'plain' | 'metrics-scraped' | 'async-hooks' | 'traced' | 'traced-sampled';
const SCENARIOS: Scenario[] = [
  'plain',
  'metrics-scraped',
  'async-hooks',
  'traced',
  'traced-sampled',
];
/** The ratio the README suggests for production (OTEL_TRACES_SAMPLER_ARG). */
const SAMPLED_RATIO = '0.1';

interface Window {
  scenario: Scenario;
  round: number;
  rps: number;
  p99: number;
  cpuMsPerRequest: number;
  errors: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** An OTLP/HTTP endpoint that accepts and discards: counts requests and bytes. */
async function otlpSink(): Promise<{
  url: string;
  requests: () => number;
  bytes: () => number;
  close: () => Promise<void>;
}> {
  let requests = 0;
  let bytes = 0;
  const server: HttpServer = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      requests += 1;
      // An empty ExportTraceServiceResponse in the encoding the exporter sent (OTLP/HTTP:
      // protobuf by default, JSON with OTEL_EXPORTER_OTLP_PROTOCOL=http/json).
      const json = String(req.headers['content-type']).includes('json');
      res
        .writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' })
        .end(json ? '{}' : '');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    bytes: () => bytes,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

/** Microseconds of CPU per `observe` of a histogram like http_request_duration_seconds. */
function histogramObserveMicros(): number {
  const histogram = new Histogram({
    name: 'bench_http_request_duration_seconds',
    help: 'bench',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [new Registry()],
  });
  const labels = { method: 'GET', route: '/api/v1/deals/:id', status: '200' };
  for (let i = 0; i < 20_000; i++) histogram.observe(labels, 0.003);
  const n = 200_000;
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) histogram.observe({ ...labels }, (i % 50) / 1000);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

const SCRAPES = 100;

/** CPU ms and bytes of one GET /metrics, on a copy under no other load. */
async function scrapeCost(server: Server): Promise<{ cpuMs: number; bytes: number }> {
  let bytes = 0;
  for (let i = 0; i < 10; i++) await (await fetch(`${server.url}/metrics`)).text();
  const before = server.cpu() ?? 0;
  for (let i = 0; i < SCRAPES; i++)
    bytes = (await (await fetch(`${server.url}/metrics`)).text()).length;
  const after = server.cpu() ?? 0;
  return { cpuMs: ((after - before) * 1000) / SCRAPES, bytes };
}

async function measure(
  server: Server,
  scenario: Scenario,
  round: number,
  headers: Record<string, string>,
  ids: string[],
): Promise<Window> {
  let next = 0;
  const requests = [
    {
      method: 'GET',
      setupRequest: (request: autocannon.RequestSpec) => ({
        ...request,
        path: `/api/v1/deals/${ids[next++ % ids.length]}`,
      }),
    },
  ];
  if (WARMUP) {
    await autocannon({
      url: server.url,
      connections: CONNECTIONS,
      duration: WARMUP,
      headers,
      requests,
    });
  }
  let scraper: NodeJS.Timeout | undefined;
  if (scenario === 'metrics-scraped') {
    const scrape = (): void =>
      void fetch(`${server.url}/metrics`)
        .then((res) => res.text())
        .catch(() => undefined);
    scrape();
    scraper = setInterval(scrape, SCRAPE_MS);
  }
  const cpuBefore = server.cpu() ?? 0;
  const result = await autocannon({
    url: server.url,
    connections: CONNECTIONS,
    duration: DURATION,
    headers,
    requests,
  });
  const cpuAfter = server.cpu() ?? 0;
  clearInterval(scraper);
  const ok = result['2xx'];
  return {
    scenario,
    round,
    rps: ok / result.duration,
    p99: result.latency.p99,
    cpuMsPerRequest: ok ? ((cpuAfter - cpuBefore) * 1000) / ok : NaN,
    errors: result.errors + result.non2xx,
  };
}

async function main(): Promise<void> {
  const database = await openBenchDatabase(args);
  const dist = await snapshotDist(ROOT, 'npm run bench:observability');
  const dataDir = mkdtempSync(join(tmpdir(), 'crm-bench-observability-'));
  const sink = await otlpSink();
  const servers: Server[] = [];
  try {
    const appEnv = benchAppEnv(database.url, dataDir);
    const start = async (name: string, extra: NodeJS.ProcessEnv): Promise<Server> => {
      const port = await freePort();
      const server = await startServer({
        name,
        args: [join(dist, 'src', 'main.js')],
        env: appEnv(port, extra),
        port,
        readyPath: '/api/v1/health',
        cwd: dataDir,
      });
      servers.push(server);
      return server;
    };
    const plain = await start('plain', {});
    const tracingEnv = {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_SERVICE_NAME: 'crm-api-bench',
      // http/protobuf (the SDK's default) unless the run asks for another, e.g. http/json.
      ...(process.env.OTEL_EXPORTER_OTLP_PROTOCOL
        ? { OTEL_EXPORTER_OTLP_PROTOCOL: process.env.OTEL_EXPORTER_OTLP_PROTOCOL }
        : {}),
    };
    const traced = await start('traced', tracingEnv);
    const sampled = await start('traced-sampled', {
      ...tracingEnv,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: SAMPLED_RATIO,
    });
    const hooks = await start('async-hooks', {
      NODE_OPTIONS: `--require ${join(ROOT, 'bench', 'lib', 'async-hooks-on.cjs')}`,
    });
    const copies: Record<Scenario, Server> = {
      plain,
      'metrics-scraped': plain,
      'async-hooks': hooks,
      traced,
      'traced-sampled': sampled,
    };
    const { accessToken, organizationId } = await login(plain.url);
    const headers = { authorization: `Bearer ${accessToken}`, 'x-organization-id': organizationId };
    const ids = await withClient(database.url, async (client) =>
      (
        await client.query<{ id: string }>(
          `SELECT d.id FROM deals d JOIN organizations o ON o.id = d.organization_id
            WHERE o.name = $1 ORDER BY d.id LIMIT $2`,
          [BIG_ORG_NAME, IDS],
        )
      ).rows.map((r) => r.id),
    );
    if (!ids.length) throw new Error(`${BIG_ORG_NAME} has no deals: run npm run bench:seed`);
    const check = await fetch(`${traced.url}/api/v1/deals/${ids[0]}`, { headers });
    if (!check.ok) throw new Error(`GET /deals/{id}: ${check.status} ${await check.text()}`);

    const windows: Window[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order = SCENARIOS.map((_, i) => SCENARIOS[(i + round - 1) % SCENARIOS.length]);
      for (const scenario of order) {
        const window = await measure(copies[scenario], scenario, round, headers, ids);
        windows.push(window);
        console.log(
          `round ${round} ${scenario.padEnd(16)} ${window.rps.toFixed(0)} req/s, p99 ${window.p99} ms, ` +
            `${window.cpuMsPerRequest.toFixed(3)} CPU ms/req${window.errors ? `, ${window.errors} errors` : ''}`,
        );
      }
    }
    const observeMicros = histogramObserveMicros();
    const scrape = await scrapeCost(plain);
    // Spans are exported in batches every 5 s (OTEL_BSP_SCHEDULE_DELAY): let the last one go.
    await new Promise((done) => setTimeout(done, 6000));

    const summary = SCENARIOS.map((scenario) => {
      const of = windows.filter((w) => w.scenario === scenario);
      return {
        scenario,
        rps: median(of.map((w) => w.rps)),
        rpsRange: [Math.min(...of.map((w) => w.rps)), Math.max(...of.map((w) => w.rps))],
        p99: median(of.map((w) => w.p99)),
        cpu: median(of.map((w) => w.cpuMsPerRequest)),
        errors: of.reduce((sum, w) => sum + w.errors, 0),
      };
    });
    const base = summary[0];
    const pct = (value: number, reference: number): string =>
      `${value >= reference ? '+' : ''}${(((value - reference) / reference) * 100).toFixed(1)}%`;
    const plainCpuMs = base.cpu;
    const lines = [
      `Run: ${new Date().toISOString().slice(0, 10)}, commit ${gitDescribe(ROOT)}, ${cpus().length} cores ` +
        `(${cpus()[0]?.model ?? 'unknown'}), database ${database.description}; GET /api/v1/deals/{id} over ` +
        `${ids.length} deals, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${DURATION} s ` +
        `(+${WARMUP} s warm-up). Command: \`npm run bench:observability -- ${process.argv.slice(2).join(' ')}\`.`,
      '',
      '| scenario | req/s (median, min-max) | throughput vs plain | p99 ms | CPU ms/req | CPU vs plain | errors |',
      '|---|---|---|---|---|---|---|',
      ...summary.map(
        (s) =>
          `| ${s.scenario} | ${s.rps.toFixed(0)} (${s.rpsRange[0].toFixed(0)}-${s.rpsRange[1].toFixed(0)}) | ` +
          `${s === base ? '-' : pct(s.rps, base.rps)} | ${s.p99} | ${s.cpu.toFixed(3)} | ` +
          `${s === base ? '-' : pct(s.cpu, base.cpu)} | ${s.errors} |`,
      ),
      '',
      `- The request-duration histogram (always on): ${observeMicros.toFixed(2)} µs of CPU per observe, ` +
        `${((observeMicros / 1000 / plainCpuMs) * 100).toFixed(2)}% of a request's ${plainCpuMs.toFixed(3)} CPU ms.`,
      `- Scraping /metrics every ${SCRAPE_MS} ms: ${pct(summary[1].rps, base.rps)} throughput ` +
        `(target: metrics cost under 5%).`,
      `- One scrape, measured apart on the idle copy (${SCRAPES} in a row): ${scrape.cpuMs.toFixed(2)} ms of CPU, ` +
        `${(scrape.bytes / 1024).toFixed(0)} KiB; one per ${SCRAPE_MS} ms is ` +
        `${((scrape.cpuMs / ((base.rps * base.cpu * SCRAPE_MS) / 1000)) * 100).toFixed(2)}% of the CPU the copy ` +
        `spends serving its plain throughput for that long.`,
      `- Node's async hooks on, tracing off (what OpenTelemetry's context manager runs on): ` +
        `${pct(summary[2].rps, base.rps)} throughput, ${pct(summary[2].cpu, base.cpu)} CPU per request.`,
      `- Tracing on: ${pct(summary[3].rps, base.rps)} throughput, ${pct(summary[3].cpu, base.cpu)} CPU per request ` +
        `(target: under 15%); the sink received ${sink.requests()} OTLP requests, ${(sink.bytes() / 1e6).toFixed(1)} MB ` +
        `(both traced copies).`,
      `- Tracing on, ${Number(SAMPLED_RATIO) * 100}% of traces kept: ${pct(summary[4].rps, base.rps)} throughput, ` +
        `${pct(summary[4].cpu, base.cpu)} CPU per request.`,
    ];
    const markdown = lines.join('\n');
    console.log(`\n${markdown}`);
    if (!args.flag('no-doc')) {
      writeDocBlock(join(ROOT, args.string('doc', 'docs/performance.md')), markdown, {
        begin: '<!-- BEGIN observability bench -->',
        end: '<!-- END observability bench -->',
        section: '## Observability: the cost of metrics and tracing on GET /deals/{id}',
        afterSection: '## Webhooks: deliveries per second, commit-to-receipt latency, isolation',
      });
    }
  } finally {
    for (const server of servers) await server.stop();
    await sink.close();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(dist, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
