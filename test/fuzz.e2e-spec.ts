import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { as, register } from './support/api';
import {
  contractProblems,
  describeExchange,
  FuzzGenerators,
  agent,
  caseLabel,
  materialize,
  operationsOf,
  rawRequests,
  reachesGuards,
  send,
  sendRaw,
  type Answer,
  type FuzzCase,
  type FuzzFixture,
  type OpenApiDocument,
  type Operation,
} from './support/fuzz';
import {
  createTestApp,
  TEST_ACCESS_SECRET,
  TEST_REFRESH_SECRET,
  TestApp,
} from './support/test-app';

/**
 * Property-based fuzzing of every operation of the OpenAPI document (fast-check): random
 * malformed bodies, query strings, path ids and headers, mostly authenticated in the fuzzing
 * user's organization so that they reach validation and the handlers. Every answer must be
 * below 500, and every 4xx must carry API.md's error body.
 *
 * - FUZZ_SEED=<int>: replay a run (the seed is in the describe block's name; each operation
 *   gets its own seed derived from it and from the operation).
 * - FUZZ_RUNS=<n>: cases per operation (default 15; the file runs in about 30 s on 2 cores).
 * - FUZZ_SHRINK=1: shrink a failing case to a minimal one (slow; off by default).
 * - FUZZ_COLLECT=1: do not stop at an operation's first problem; list every distinct one.
 *
 * DELETE operations run last, so that the fixture's records exist for the other operations.
 */

const SEED = process.env.FUZZ_SEED
  ? Number(process.env.FUZZ_SEED)
  : Math.floor(Math.random() * 2 ** 31);
const RUNS = Number(process.env.FUZZ_RUNS ?? 15);
const SHRINK = ['1', 'true'].includes(process.env.FUZZ_SHRINK ?? '');
/** FUZZ_COLLECT=1: run every case and list each distinct problem once (to survey, not to gate). */
const COLLECT = ['1', 'true'].includes(process.env.FUZZ_COLLECT ?? '');
/** FUZZ_STATS=1: print how often each operation answered each status (how deep the cases reach). */
const STATS = ['1', 'true'].includes(process.env.FUZZ_STATS ?? '');
const BODY_LIMIT = 1_048_576;

if (!Number.isSafeInteger(SEED))
  throw new Error(`FUZZ_SEED must be an integer, not ${process.env.FUZZ_SEED}`);

/** A 32-bit seed per operation, so that adding an operation does not change the others' cases. */
function seedFor(op: Operation): number {
  let h = 0x811c9dc5;
  for (const ch of `${op.method} ${op.path}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  return (h ^ SEED) | 0;
}

interface LogLine {
  level?: number;
  requestId?: string;
  msg?: string;
  err?: { type?: string; message?: string; stack?: string };
}

describe(`fuzz: every operation of the OpenAPI document (FUZZ_SEED=${SEED})`, () => {
  let t: TestApp;
  let port: number;
  let fx: FuzzFixture;
  let operations: Operation[];
  const logLines: LogLine[] = [];

  beforeAll(async () => {
    t = await createTestApp(
      {
        // the fuzzing sends about a thousand requests within seconds, as one user
        RATE_LIMIT_USER_PER_MINUTE: '1000000',
        BODY_LIMIT_BYTES: String(BODY_LIMIT),
        // errors are kept (in logLines) for the reports
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      },
      logLines as Record<string, unknown>[],
    );
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as AddressInfo).port;
    fx = await createFixture(t);
    const doc = await t.http().get('/docs-json');
    expect(doc.status).toBe(200);
    const all = operationsOf(doc.body as OpenApiDocument);
    operations = [
      ...all.filter((o) => o.method !== 'DELETE'),
      ...all.filter((o) => o.method === 'DELETE'),
    ];
  });

  afterAll(async () => {
    agent.destroy();
    await t?.close();
  });

  it('reads the operations from the OpenAPI document', () => {
    expect(operations.length).toBeGreaterThan(20);
    expect(operations.map((o) => `${o.method} ${o.path}`)).toEqual(
      expect.arrayContaining([
        'POST /api/v1/contacts',
        'GET /api/v1/deals/{id}',
        'POST /api/v1/contacts/import',
      ]),
    );
  });

  it('answers random malformed requests to every operation without 5xx, with the error body on every 4xx', async () => {
    const gen = new FuzzGenerators(fx);
    const failures: string[] = [];
    const collected = new Map<string, { operations: Set<string>; example: string }>();
    const stats = new Map<string, Map<string, number>>();
    for (const op of operations) {
      const property = fc.asyncProperty(gen.caseFor(op), async (c: FuzzCase) => {
        const req = materialize(op, c, fx);
        const answer = await send(port, req);
        if (typeof answer === 'string') {
          fc.pre(!answer.startsWith('client refused'));
          throw new Error(`${answer}\n${describeExchange(req, answer)}`);
        }
        const problems = contractProblems(answer);
        if (STATS) {
          const key = `${op.method} ${op.path}`;
          const code = (answer.json as { code?: unknown } | undefined)?.code;
          const label = `${answer.status}${answer.status >= 400 ? ` ${String(code)}` : ''}`;
          const counts = stats.get(key) ?? new Map<string, number>();
          counts.set(label, (counts.get(label) ?? 0) + 1);
          stats.set(key, counts);
        }
        const refused =
          c.auth.kind === 'none' ||
          ((c.auth.kind === 'forged' || c.auth.kind === 'raw') && c.auth.refused);
        if (refused && !op.isPublic && reachesGuards(c, req, BODY_LIMIT)) {
          const code = (answer.json as { code?: string } | undefined)?.code;
          if (answer.status !== 401 || code !== 'UNAUTHENTICATED') {
            const label = c.auth.kind === 'forged' ? ` (${c.auth.label})` : '';
            problems.push(
              `a refused token${label} got ${answer.status} ${code}, not 401 UNAUTHENTICATED`,
            );
          }
        }
        if (!problems.length) return;
        const report = `${describeExchange(req, answer)}${serverLog(answer)}`;
        if (COLLECT) {
          const code = (answer.json as { code?: unknown } | undefined)?.code;
          const kind = answer.status >= 500 ? ` (${caseLabel(c)})` : '';
          const key = `${problems.join('; ')} [${answer.status} ${String(code)}]${kind}`;
          const seen = collected.get(key) ?? { operations: new Set<string>(), example: report };
          seen.operations.add(`${op.method} ${op.path}`);
          collected.set(key, seen);
          return;
        }
        throw new Error(`${problems.join('; ')}\n${report}`);
      });
      const details = await fc.check(property, {
        seed: seedFor(op),
        numRuns: RUNS,
        endOnFailure: !SHRINK,
      });
      if (details.failed) {
        const error =
          details.errorInstance instanceof Error
            ? details.errorInstance.message
            : String(details.errorInstance);
        failures.push(
          `${op.method} ${op.path}: ${error}\n` +
            `  fast-check: seed ${details.seed}, path ${details.counterexamplePath} (replay the file with FUZZ_SEED=${SEED})\n` +
            `  case: ${clip(fc.stringify(details.counterexample), 2000)}`,
        );
      }
    }
    if (STATS) {
      const lines = [...stats].map(
        ([key, counts]) =>
          `${key}: ${[...counts]
            .sort((a, b) => b[1] - a[1])
            .map(([label, n]) => `${label} x${n}`)
            .join(', ')}`,
      );
      process.stdout.write(`\nFuzz answers per operation:\n${lines.join('\n')}\n`);
    }
    if (failures.length)
      throw new Error(`${failures.length} operation(s) failed:\n\n${failures.join('\n\n')}`);
    if (collected.size) {
      const text = [...collected].map(
        ([key, { operations: ops, example }]) =>
          `${key}\n  on ${ops.size} operation(s): ${[...ops].join(', ')}\n  e.g. ${example}`,
      );
      throw new Error(`${collected.size} distinct problem(s):\n\n${text.join('\n\n')}`);
    }
  }, 300_000);

  it("answers requests Node's HTTP parser refuses with the error body", async () => {
    await fc.assert(
      fc.asyncProperty(rawRequests(), async ({ label, bytes }) => {
        const answer = await sendRaw(port, String(bytes));
        if (answer === null) return; // closed without an answer: nothing to check
        const problems = contractProblems(answer);
        if (problems.length)
          throw new Error(`${label}: ${problems.join('; ')}\n=> ${answer.status} ${answer.text}`);
      }),
      { seed: SEED | 0, numRuns: 40, endOnFailure: !SHRINK },
    );
  });

  it('still answers afterwards', async () => {
    const health = await t.http().get('/api/v1/health');
    expect(health.status).toBe(200);
    const me = await t.http().get('/api/v1/organizations/current').set(as(fx, fx.organizationId));
    expect(me.status).toBe(200);
  });

  /** The server's error log lines of the request that got `answer` (stack included). */
  function serverLog(answer: Answer): string {
    const id = answer.headers['x-request-id'];
    const lines = logLines.filter((l) => l.requestId === id && (l.level ?? 0) >= 50);
    if (!lines.length) return '';
    return `\n  server log: ${lines.map((l) => clip(l.err?.stack ?? l.msg ?? JSON.stringify(l), 1500)).join('\n')}`;
  }
});

const clip = (s: string, n: number): string =>
  s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s;

/**
 * The fuzzing user (owner of their organization), one record of each kind (two of those with
 * keyset cursors), a second member, and an outsider with an organization of their own.
 */
async function createFixture(t: TestApp): Promise<FuzzFixture> {
  const owner = await register(t, 'fuzz', 'Fuzz Org');
  const [member, outsider] = await Promise.all([
    register(t, 'fuzz-member'),
    register(t, 'fuzz-outsider', 'Other'),
  ]);
  const org = owner.organizationId;
  const post = async (path: string, body: object): Promise<{ id: string }> => {
    const res = await t.http().post(`/api/v1${path}`).set(as(owner, org)).send(body);
    if (res.status !== 201 && res.status !== 200)
      throw new Error(`${path}: ${res.status} ${res.text}`);
    return res.body as { id: string };
  };
  await post('/organizations/current/members', { email: member.email, role: 'member' });
  const pipeline = await post('/pipelines', {
    name: 'Fuzz pipeline',
    stages: [
      { key: 'first', name: 'First', probability: 10 },
      { key: 'second', name: 'Second', probability: 50 },
      { key: 'closing', name: 'Closing', probability: 100 },
    ],
  });
  const companies = [
    await post('/companies', { name: 'Fuzz Co', domain: 'fuzz.example' }),
    await post('/companies', { name: 'Fuzz Two' }),
  ];
  const contacts = [
    await post('/contacts', {
      name: 'Fuzz Contact',
      email: 'contact@fuzz.example',
      companyId: companies[0].id,
    }),
    await post('/contacts', { name: 'Fuzz Contact 2' }),
  ];
  const deals = [
    await post('/deals', { contactId: contacts[0].id, title: 'Fuzz deal', amount: '100.00' }),
    await post('/deals', {
      contactId: contacts[1].id,
      title: 'Fuzz deal 2',
      pipelineId: pipeline.id,
    }),
  ];
  const leads = [
    await post('/leads', { name: 'Fuzz Lead', companyName: 'Lead Co' }),
    await post('/leads', { name: 'Lead 2' }),
  ];
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const tasks = [
    await post('/tasks', { dealId: deals[0].id, title: 'Fuzz task', dueDate: tomorrow }),
    await post('/tasks', { dealId: deals[1].id, title: 'Fuzz task 2', dueDate: tomorrow }),
  ];
  await post(`/deals/${deals[0].id}/activities`, { type: 'comment', payload: { text: 'Fuzz' } });

  const cursors: Record<string, string> = {};
  for (const list of ['contacts', 'companies', 'deals', 'leads', 'tasks']) {
    const res = await t.http().get(`/api/v1/${list}?limit=1`).set(as(owner, org));
    const next = (res.body as { nextCursor?: string | null }).nextCursor;
    if (next) cursors[`/api/v1/${list}`] = next;
  }
  const pipelines = await t.http().get('/api/v1/pipelines').set(as(owner, org));
  const stageKeys = (pipelines.body as { items: { stages: { key: string }[] }[] }).items.flatMap(
    (p) => p.stages.map((s) => s.key),
  );
  const pipelineIds = (pipelines.body as { items: { id: string }[] }).items.map((p) => p.id);

  return {
    userId: owner.userId,
    accessToken: owner.accessToken,
    refreshToken: owner.refreshToken,
    organizationId: org,
    foreignOrganizationId: outsider.organizationId,
    ids: {
      contact: contacts.map((r) => r.id),
      company: companies.map((r) => r.id),
      deal: deals.map((r) => r.id),
      lead: leads.map((r) => r.id),
      task: tasks.map((r) => r.id),
      pipeline: pipelineIds,
      user: [owner.userId, member.userId],
    },
    memberTargets: [member.userId, outsider.userId],
    emails: [owner.email, member.email, outsider.email, 'contact@fuzz.example'],
    stageKeys: [...new Set(stageKeys)],
    cursors,
    accessSecret: TEST_ACCESS_SECRET,
    refreshSecret: TEST_REFRESH_SECRET,
  };
}
