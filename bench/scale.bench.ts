/**
 * npm run bench:scale  (= nest build, then this file)
 *
 * Throughput of the standard read, GET /deals/{id} (rotating over the deals of one
 * organization), three ways, on this machine:
 *  - one copy, direct (HTTP to 127.0.0.1:<port>, as `npm run bench` measures it);
 *  - nginx (HTTPS, TLS terminated there) -> one copy (the two others drained: `down`);
 *  - nginx (HTTPS) -> three copies (round-robin, keepalive to the copies).
 * The stack is deploy/scale/stack.ts (what `npm run scale:up` runs) on a fresh database of the
 * system PostgreSQL, rate limits out of the way (API limits raised, loopback exempt from
 * nginx's edge limits). Scenarios alternate for --rounds rounds (order rotated each round),
 * --duration seconds each after --warmup, --connections connections (autocannon, library,
 * HTTP/1.1, keep-alive; it does not verify the self-signed certificate). Reports req/s,
 * latency p50/p99, non-2xx, and the CPU time per request of the copies and of nginx's workers
 * (utime + stime of /proc/<pid>/stat around the window). Writes bench/results/scale.json and
 * the generated block of docs/performance.md (--no-doc to skip).
 *
 * Options: --rounds 3 --duration 10 --warmup 2 --connections 32 --deals 2000 --copies 3
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { gitDescribe, writeDocBlock } from './lib/report';
import { processCpu } from './lib/processes';
import { ROOT, startScaleStack, type ScaleStack } from '../deploy/scale/stack';

const API = '/api/v1';
const BEGIN = '<!-- BEGIN GENERATED: npm run bench:scale (the next run replaces this block) -->';
const END = '<!-- END GENERATED: npm run bench:scale -->';
const log = (message: string): void => console.log(`[bench:scale] ${message}`);

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

interface Measured {
  scenario: string;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  copiesCpuMsPerReq: number;
  nginxCpuMsPerReq: number | null;
}

async function json(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function nginxWorkers(stack: ScaleStack): number[] {
  const master = stack.nginxPid();
  if (!master) return [];
  try {
    return execFileSync('pgrep', ['-P', String(master)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number)
      .filter(Boolean);
  } catch {
    return [];
  }
}

function cpuOf(pids: number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, processCpu(pid)?.seconds ?? 0]));
}

interface Row {
  title: string;
  rps: number;
  copiesCpu: number;
  nginxCpu: number | null;
}

/** What the figures say, from the figures (direct, nginx -> 1, nginx -> N). */
function readHonestly(rows: Row[], cores: number, copies: number, load: string): string {
  const [direct, one, many] = rows;
  const x = (r: Row): string => (r.rps / (direct.rps || 1)).toFixed(2);
  const verdict =
    many.rps > direct.rps * 1.1
      ? `more than one copy direct (${x(many)}x)`
      : many.rps >= direct.rps * 0.9
        ? `about as much as one copy direct (${x(many)}x)`
        : `less than one copy direct (${x(many)}x)`;
  return (
    `Read honestly: ${cores} cores serve autocannon, nginx (TLS), ${copies} copies and ` +
    `PostgreSQL together (load average ${load} at the end of the run: the machine is shared). ` +
    `nginx terminating TLS costs ${one.nginxCpu} ms of CPU per request and leaves one copy at ` +
    `${x(one)}x of direct. ${copies} copies behind nginx served ${verdict}: their CPU per ` +
    `request was ${many.copiesCpu} ms against ${direct.copiesCpu} ms for one copy, ${copies} ` +
    `event loops, heaps and connection pools competing for the same ${cores} cores, each loop ` +
    `batching fewer requests per wake-up (more context switches). On this machine more copies ` +
    `than cores add availability (test/scale: SIGKILL, rolling restart), not throughput; ` +
    `throughput grows with copies when each has its own core (or machine) and PostgreSQL keeps up.`
  );
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main(): Promise<void> {
  const rounds = option('rounds', 3);
  const duration = option('duration', 10);
  const warmup = option('warmup', 2);
  const connections = option('connections', 32);
  const dealCount = option('deals', 2000);
  const copyCount = option('copies', 3);
  const writeDoc = !process.argv.includes('--no-doc');

  const stack = await startScaleStack({
    workDir: join(ROOT, '.data', `scale-bench-${process.pid}`),
    copies: copyCount,
    exemptLoopback: true,
    env: {
      RATE_LIMIT_USER_PER_MINUTE: '1000000000',
      RATE_LIMIT_LOGIN_PER_MINUTE: '1000000000',
      BCRYPT_COST: '10',
      JWT_ACCESS_TTL: '4h',
    },
    log,
  });
  try {
    // One organization with `dealCount` deals, created through copy 0.
    const direct = stack.copies[0].url;
    const reg = await json(
      `${direct}${API}/auth/register`,
      'POST',
      {},
      {
        email: `bench-scale-${Date.now()}@example.com`,
        password: 'correct-horse-42',
        name: 'Bench',
        organizationName: 'Bench scale',
      },
    );
    if (reg.status !== 201) throw new Error(`register: ${reg.status}`);
    const organization = reg.body.organization as { id: string };
    const headers = {
      authorization: `Bearer ${reg.body.accessToken as string}`,
      'x-organization-id': organization.id,
    };
    const contact = await json(`${direct}${API}/contacts`, 'POST', headers, { name: 'Bench' });
    log(`creating ${dealCount} deals`);
    const ids: string[] = [];
    for (let batch = 0; batch < dealCount; batch += 50) {
      const made = await Promise.all(
        Array.from({ length: Math.min(50, dealCount - batch) }, (_, i) =>
          json(`${direct}${API}/deals`, 'POST', headers, {
            contactId: contact.body.id,
            title: `Deal ${batch + i}`,
            amount: '1000.00',
          }),
        ),
      );
      for (const d of made) {
        if (d.status !== 201) throw new Error(`create deal: ${d.status}`);
        ids.push(d.body.id as string);
      }
    }

    let next = 0;
    const scenarios: { id: string; title: string; url: string; prepare: () => Promise<void> }[] = [
      {
        id: 'direct-1',
        title: 'one copy, direct (HTTP)',
        url: stack.copies[0].url,
        prepare: () => Promise.resolve(),
      },
      {
        id: 'nginx-1',
        title: 'nginx (HTTPS) -> one copy',
        url: stack.httpsUrl,
        prepare: async () => {
          for (const copy of stack.copies.slice(1)) {
            if (!copy.drained) await stack.setDrained(copy.index, true);
          }
        },
      },
      {
        id: `nginx-${copyCount}`,
        title: `nginx (HTTPS) -> ${copyCount} copies`,
        url: stack.httpsUrl,
        prepare: async () => {
          for (const copy of stack.copies.slice(1)) {
            if (copy.drained) await stack.setDrained(copy.index, false);
          }
        },
      },
    ];

    const measured: Measured[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order = scenarios.map((_, i) => scenarios[(i + round - 1) % scenarios.length]);
      for (const scenario of order) {
        await scenario.prepare();
        const cannon = (seconds: number): Promise<autocannon.Result> =>
          autocannon({
            url: scenario.url,
            connections,
            duration: seconds,
            requests: [
              {
                method: 'GET',
                headers,
                setupRequest: (request) => ({
                  ...request,
                  path: `${API}/deals/${ids[next++ % ids.length]}`,
                }),
              },
            ],
          });
        await cannon(warmup);
        const copyPids = stack.copies.map((c) => c.pid!).filter(Boolean);
        const workers = nginxWorkers(stack);
        const before = cpuOf([...copyPids, ...workers]);
        const result = await cannon(duration);
        const after = cpuOf([...copyPids, ...workers]);
        const delta = (pids: number[]): number =>
          pids.reduce((sum, pid) => sum + ((after.get(pid) ?? 0) - (before.get(pid) ?? 0)), 0);
        const ok = result['2xx'] || 1;
        const m: Measured = {
          scenario: scenario.id,
          round,
          rps: Math.round(result.requests.average),
          p50: result.latency.p50,
          p99: result.latency.p99,
          requests: result.requests.total,
          non2xx: result.non2xx,
          errors: result.errors,
          copiesCpuMsPerReq: Math.round((delta(copyPids) * 1000 * 1000) / ok) / 1000,
          nginxCpuMsPerReq:
            scenario.id === 'direct-1'
              ? null
              : Math.round((delta(workers) * 1000 * 1000) / ok) / 1000,
        };
        measured.push(m);
        log(
          `round ${round} ${scenario.id}: ${m.rps} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, ` +
            `non-2xx ${m.non2xx}, errors ${m.errors}, CPU ms/req copies ${m.copiesCpuMsPerReq}` +
            (m.nginxCpuMsPerReq === null ? '' : `, nginx ${m.nginxCpuMsPerReq}`),
        );
      }
    }

    const rows = scenarios.map((s) => {
      const of = measured.filter((m) => m.scenario === s.id);
      return {
        id: s.id,
        title: s.title,
        rps: median(of.map((m) => m.rps)),
        rpsMin: Math.min(...of.map((m) => m.rps)),
        rpsMax: Math.max(...of.map((m) => m.rps)),
        p50: median(of.map((m) => m.p50)),
        p99: median(of.map((m) => m.p99)),
        non2xx: of.reduce((sum, m) => sum + m.non2xx + m.errors, 0),
        copiesCpu: median(of.map((m) => m.copiesCpuMsPerReq)),
        nginxCpu:
          of[0].nginxCpuMsPerReq === null ? null : median(of.map((m) => m.nginxCpuMsPerReq!)),
      };
    });
    const base = rows[0].rps || 1;
    const cores = availableParallelism();
    const environment = {
      commit: gitDescribe(ROOT),
      date: new Date().toISOString(),
      cpu: `${cpus()[0]?.model ?? 'unknown'} (${cores} cores available)`,
      loadavg: loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
      nginx: execFileSync('sh', ['-c', 'nginx -v 2>&1'], { encoding: 'utf8' }).trim(),
      rounds,
      duration,
      warmup,
      connections,
      deals: dealCount,
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(
      join(ROOT, 'bench', 'results', 'scale.json'),
      JSON.stringify({ environment, rows, measured }, null, 2),
    );
    const markdown = [
      `Run of ${environment.date.slice(0, 10)} on ${environment.commit}: ${environment.cpu}, ` +
        `${environment.nginx}, autocannon (library, HTTP/1.1, same machine), ${connections} ` +
        `connections, ${rounds} alternating rounds of ${duration} s (after ${warmup} s of ` +
        `warm-up) per setup, GET /deals/{id} rotating over ${dealCount} deals of one ` +
        `organization. Median of the rounds (min-max); CPU ms/request = utime + stime of the ` +
        `copies (and of nginx's workers) during the window, per 2xx answer.`,
      '',
      '| setup | req/s (min-max) | vs one copy direct | p50 ms | p99 ms | non-2xx + errors | copies CPU ms/req | nginx CPU ms/req |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.title} | ${r.rps} (${r.rpsMin}-${r.rpsMax}) | ${(r.rps / base).toFixed(2)}x | ` +
          `${r.p50} | ${r.p99} | ${r.non2xx} | ${r.copiesCpu} | ${r.nginxCpu ?? '-'} |`,
      ),
      '',
      readHonestly(rows, cores, copyCount, environment.loadavg),
    ].join('\n');
    console.log(`\n${markdown}\n`);
    if (writeDoc) {
      writeDocBlock(join(ROOT, 'docs', 'performance.md'), markdown, {
        begin: BEGIN,
        end: END,
        section: '## Three copies behind nginx (npm run bench:scale)',
        afterSection: '## Webhooks: deliveries per second, commit-to-receipt latency, isolation',
      });
      log('docs/performance.md updated');
    }
  } finally {
    await stack.stop();
    rmSync(stack.workDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
