import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import request from 'supertest';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { as, expectError, register, type Session } from './support/api';
import { freshDatabase } from './support/database';
import { tcpProxy, type Proxy } from './support/tcp-proxy';
import { createTestApp, testConfig, type TestApp } from './support/test-app';

/*
 * Outage behaviour (API.md section 15): a statement that runs past DB_STATEMENT_TIMEOUT_MS
 * answers 503 and frees its connection (exports exempt); while PostgreSQL is unreachable
 * requests answer 503 NOT_READY with Retry-After and readiness is 503, and the app recovers
 * without a restart when it returns. The outage is a TCP proxy the test cuts: the machine's
 * PostgreSQL is never stopped.
 */

describe('DB_STATEMENT_TIMEOUT_MS', () => {
  let t: TestApp;
  let owner: Session;
  beforeAll(async () => {
    t = await createTestApp({ DB_STATEMENT_TIMEOUT_MS: '300' });
    owner = await register(t, 'timeout', 'Timeout Org');
    const res = await t
      .http()
      .post('/api/v1/contacts')
      .set(as(owner, owner.organizationId))
      .send({ name: 'Waiting' });
    expect(res.status).toBe(201);
  });
  afterAll(() => t.close());

  /** Holds an exclusive lock on the contacts table for `ms` from another session. */
  async function lockContacts(ms: number): Promise<void> {
    const client = new Client({ connectionString: t.config.databaseUrl! });
    await client.connect();
    await client.query('BEGIN');
    await client.query('LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE');
    setTimeout(() => {
      void client
        .query('ROLLBACK')
        .finally(() => void client.end())
        .catch(() => undefined);
    }, ms);
  }

  it('a statement that waits past the timeout answers 503 NOT_READY with Retry-After; an export waits', async () => {
    await lockContacts(1200);
    const started = Date.now();
    const [list, csv] = await Promise.all([
      t.http().get('/api/v1/contacts').set(as(owner, owner.organizationId)),
      t.http().get('/api/v1/contacts/export').set(as(owner, owner.organizationId)),
    ]);
    expectError(list, 503, 'NOT_READY');
    expect(list.body).toMatchObject({ message: expect.stringContaining('took too long') });
    expect(list.headers['retry-after']).toBe('1');
    // The export waited for the lock (exempt) and then answered in full.
    expect(csv.status).toBe(200);
    expect(csv.text).toContain('Waiting');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    // The connection that timed out went back to the pool in a usable state.
    const again = await t.http().get('/api/v1/contacts').set(as(owner, owner.organizationId));
    expect(again.status).toBe(200);
  });
});

describe('PostgreSQL unreachable, then back', () => {
  let database: { url: string; drop: () => Promise<void> };
  let proxy: Proxy;
  let app: NestFastifyApplication;
  let owner: Session;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    database = await freshDatabase();
    proxy = await tcpProxy(database.url, 5432);
    const config = testConfig(proxy.url);
    app = await createApp(config, proxy.url, createLogger(config));
    await app.getHttpAdapter().getInstance().ready();
    owner = await register({ http } as unknown as TestApp, 'outage', 'Outage Org');
  });
  afterAll(async () => {
    await proxy.restore().catch(() => undefined);
    await app.close();
    await proxy.close();
    await database.drop();
  });

  it('answers 503 NOT_READY (with Retry-After) and readiness 503 while it is down, and recovers without a restart', async () => {
    const list = () => http().get('/api/v1/contacts').set(as(owner, owner.organizationId));
    expect((await list()).status).toBe(200);
    await proxy.cut();
    const down = await list();
    expectError(down, 503, 'NOT_READY');
    expect(down.headers['retry-after']).toBe('1');
    expect((await http().get('/api/v1/health/ready')).status).toBe(503);
    expect((await http().get('/api/v1/health')).status).toBe(200); // alive all along

    await proxy.restore();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await list()).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe(200);
    expect((await http().get('/api/v1/health/ready')).status).toBe(200);
  });
});
