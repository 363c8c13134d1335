import { randomUUID } from 'node:crypto';
import { as, expectError, PASSWORD, register, type Session } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * GET /metrics (API.md section 15): every series the contract names, route templates as labels
 * (never raw ids: the label values do not grow with the ids requested), METRICS_TOKEN. The
 * registry is the process's, shared by the app copies of this file: counters are compared
 * before and after.
 */

const SERIES = [
  'process_cpu_seconds_total',
  'nodejs_eventloop_lag_p99_seconds',
  'http_request_duration_seconds',
  'crm_db_pool_size',
  'crm_db_pool_idle',
  'crm_db_pool_waiting',
  'crm_outbox_pending',
  'crm_outbox_oldest_pending_seconds',
  'crm_events_published_total',
  'crm_webhook_deliveries_total',
  'crm_notifications_total',
  'crm_circuit_breaker_open',
  'crm_login_attempts_total',
  'crm_cache_hits_total',
  'crm_cache_misses_total',
  'crm_retention_runs_total',
  'crm_retention_deleted_rows_total',
  'crm_retention_last_success_timestamp_seconds',
];

/** The value of one sample (`name{labels} value`), 0 when absent. */
function sample(text: string, name: string, labels = ''): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('GET /metrics (API.md section 15)', () => {
  let t: TestApp;
  let owner: Session;
  const scrape = async (): Promise<string> => {
    const res = await t.http().get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text;
  };

  beforeAll(async () => {
    t = await createTestApp();
    owner = await register(t, 'metrics', 'Metrics Org');
  });
  afterAll(() => t.close());

  it('serves every series of the contract in the Prometheus text format, outside /api/v1', async () => {
    const text = await scrape();
    for (const name of SERIES) {
      expect({ name, present: text.includes(`# TYPE ${name} `) }).toEqual({ name, present: true });
    }
    expect(sample(text, 'crm_db_pool_size')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'crm_outbox_pending')).toBe(0); // without RabbitMQ: published as recorded
    expect((await t.http().get('/api/v1/metrics')).status).toBe(404);
  });

  it('labels requests with the route template, never the raw path: the label values stay bounded', async () => {
    const ids = Array.from({ length: 5 }, () => randomUUID());
    for (const id of ids) {
      const res = await t.http().get(`/api/v1/contacts/${id}`).set(as(owner, owner.organizationId));
      expect(res.status).toBe(404);
      expect((await t.http().get(`/api/v1/no-such-thing/${id}`)).status).toBe(404);
    }
    const text = await scrape();
    expect(
      sample(
        text,
        'http_request_duration_seconds_count',
        'method="GET",route="/api/v1/contacts/:id",status="404"',
      ),
    ).toBeGreaterThanOrEqual(5);
    expect(
      sample(
        text,
        'http_request_duration_seconds_count',
        'method="GET",route="unmatched",status="404"',
      ),
    ).toBeGreaterThanOrEqual(5);
    for (const id of ids) expect(text).not.toContain(id);
    const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
    for (const route of routes) expect(route).toMatch(/^(unmatched|\/[\w/:.-]*)$/);
  });

  it('counts logins by result, and events published', async () => {
    const before = await scrape();
    const login = (password: string) =>
      t.http().post('/api/v1/auth/login').send({ email: owner.email, password });
    expect((await login(PASSWORD)).status).toBe(200);
    expectError(await login('wrong-password-1'), 401, 'INVALID_CREDENTIALS');
    const created = await t
      .http()
      .post('/api/v1/contacts')
      .set(as(owner, owner.organizationId))
      .send({ name: 'Counted' });
    expect(created.status).toBe(201);
    const after = await scrape();
    const delta = (name: string, labels = ''): number =>
      sample(after, name, labels) - sample(before, name, labels);
    expect(delta('crm_login_attempts_total', 'result="success"')).toBe(1);
    expect(delta('crm_login_attempts_total', 'result="failure"')).toBe(1);
    expect(delta('crm_events_published_total')).toBeGreaterThanOrEqual(1);
  });

  it('counts a login refused by the login limit as rate_limited', async () => {
    const before = await scrape();
    const email = `nobody-${randomUUID()}@example.com`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      statuses.push(
        (await t.http().post('/api/v1/auth/login').send({ email, password: 'wrong-password-1' }))
          .status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const after = await scrape();
    const delta = (labels: string): number =>
      sample(after, 'crm_login_attempts_total', labels) -
      sample(before, 'crm_login_attempts_total', labels);
    expect(delta('result="failure"')).toBe(5);
    expect(delta('result="rate_limited"')).toBe(1);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  let t: TestApp;
  const TOKEN = 'metrics-token-0123456789abcdef';
  beforeAll(async () => {
    t = await createTestApp({ METRICS_TOKEN: TOKEN });
  });
  afterAll(() => t.close());

  it('answers 401 without the token or with another, 200 with it', async () => {
    expectError(await t.http().get('/metrics'), 401, 'UNAUTHENTICATED');
    expectError(
      await t.http().get('/metrics').set('authorization', 'Bearer not-the-token-0000000'),
      401,
      'UNAUTHENTICATED',
    );
    const res = await t.http().get('/metrics').set('authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('# TYPE crm_outbox_pending gauge');
  });
});
