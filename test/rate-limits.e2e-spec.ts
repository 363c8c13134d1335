import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { as, register } from './support/api';
import { freshDatabase, REDIS_ENV } from './support/database';
import { REDIS_URL } from './support/redis';
import { tcpProxy, type Proxy } from './support/tcp-proxy';
import { createTestApp, testConfig, type TestApp } from './support/test-app';

/*
 * Rate limits (API.md section 15): the RateLimit-* headers on every limited answer, the login
 * limit (5 per minute per email and address) counted in Redis across app copies, and each copy
 * falling back to its own counters while Redis is unreachable (a TCP proxy the test cuts; the
 * machine's Redis is never stopped).
 */

const describeOnRedis = process.env[REDIS_ENV] ? describe : describe.skip;
const login = (agent: ReturnType<typeof request>, email: string) =>
  agent.post('/api/v1/auth/login').send({ email, password: 'wrong-password-1' });

describe('RateLimit-* headers', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('every limited answer carries the tightest limit; a 429 also Retry-After', async () => {
    const s = await register(t, 'headers');
    const res = await t.http().get('/api/v1/contacts').set(as(s, s.organizationId));
    expect(res.status).toBe(200);
    expect(res.headers['ratelimit-limit']).toBe(String(t.config.rateLimit.userPerMinute));
    expect(Number(res.headers['ratelimit-remaining'])).toBeGreaterThan(0);
    expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThan(0);
    const email = `nobody-${randomUUID()}@example.com`;
    const answers = [];
    for (let i = 0; i < 6; i += 1) answers.push(await login(t.http(), email));
    expect(answers.map((a) => a.headers['ratelimit-remaining'])).toEqual([
      '4',
      '3',
      '2',
      '1',
      '0',
      '0',
    ]);
    expect(answers.every((a) => a.headers['ratelimit-limit'] === '5')).toBe(true);
    expect(answers[5].status).toBe(429);
    expect(Number(answers[5].headers['retry-after'])).toBeGreaterThan(0);
  });
});

describeOnRedis('Rate limits shared in Redis by app copies', () => {
  let database: { url: string; drop: () => Promise<void> };
  let proxy: Proxy;
  const apps: NestFastifyApplication[] = [];
  const logs: Record<string, unknown>[] = [];

  async function copy(redisUrl: string): Promise<NestFastifyApplication> {
    const config = testConfig(database.url, { REDIS_URL: redisUrl, LOG_LEVEL: 'info' });
    const sink = {
      write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>),
    };
    const app = await createApp(config, database.url, createLogger(config, sink));
    await app.getHttpAdapter().getInstance().ready();
    apps.push(app);
    return app;
  }
  const http = (app: NestFastifyApplication) => request(app.getHttpServer());

  beforeAll(async () => {
    database = await freshDatabase();
    proxy = await tcpProxy(REDIS_URL, 6379);
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await proxy.close();
    await database.drop();
  });

  it('the login limit holds across two copies: 5 attempts in all, then 429 on either', async () => {
    const [a, b] = [await copy(REDIS_URL), await copy(REDIS_URL)];
    const email = `shared-${randomUUID()}@example.com`;
    const statuses: number[] = [];
    for (const app of [a, b, a, b, a, b, a]) statuses.push((await login(http(app), email)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });

  it('while Redis is unreachable each copy counts alone (logins keep working, the limit holds per copy), and says so; then shares again', async () => {
    const app = await copy(proxy.url);
    const email = `outage-${randomUUID()}@example.com`;
    expect((await login(http(app), email)).status).toBe(401); // counted in Redis
    await proxy.cut();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await login(http(app), email)).status);
    // Counted in this copy from zero: five more attempts, then the limit.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect(logs.some((l) => String(l.msg).startsWith('rate limits: Redis unreachable'))).toBe(true);
    const metrics = await http(app).get('/metrics');
    expect(metrics.text).toMatch(/^crm_rate_limit_degraded 1$/m);

    await proxy.restore();
    const deadline = Date.now() + 10_000;
    let back = false;
    while (!back && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      // A new email each time: the Redis count of the first one would answer 429.
      await login(http(app), `probe-${randomUUID()}@example.com`);
      back = logs.some((l) => l.msg === 'rate limits: Redis is back; counting across copies again');
    }
    expect(back).toBe(true);
    expect((await http(app).get('/metrics')).text).toMatch(/^crm_rate_limit_degraded 0$/m);
  });
});
