import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { as, register } from './support/api';
import { freePort, freshDatabase } from './support/database';
import { consumersIdle } from './support/background';
import { testConfig, type TestApp } from './support/test-app';

/*
 * The app behind a real PgBouncer (Debian's package) in transaction pooling mode, as
 * docs/operations.md ("Connection poolers") prescribes: the statement timeout set on the database
 * (not as a startup parameter, which PgBouncer refuses), migrations on a direct connection.
 */

const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((path) => existsSync(path));
if (!PGBOUNCER && process.env.REQUIRE_PGBOUNCER === 'true') {
  throw new Error(
    'REQUIRE_PGBOUNCER=true but pgbouncer is not installed (apt-get install pgbouncer)',
  );
}
if (!PGBOUNCER)
  console.warn('SKIPPED: the PgBouncer test needs pgbouncer (apt-get install pgbouncer)');
const describeWithPgBouncer = PGBOUNCER ? describe : describe.skip;
const API = '/api/v1';

async function listening(port: number): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 100) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`pgbouncer did not listen on ${port}`);
}

describeWithPgBouncer('Behind PgBouncer in transaction pooling mode', () => {
  let dir: string;
  let bouncer: ChildProcess;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let pooledUrl: string;
  let t: TestApp;

  beforeAll(async () => {
    database = await freshDatabase();
    const direct = new URL(database.url);
    const name = direct.pathname.slice(1);
    // The statement timeout lives on the database: PgBouncer passes no startup parameter on.
    const admin = new Client({ connectionString: database.url });
    await admin.connect();
    await admin.query(`ALTER DATABASE ${name} SET statement_timeout = '2s'`);
    await admin.end();

    dir = mkdtempSync(join(tmpdir(), 'crm-pgbouncer-'));
    // As root, pgbouncer runs as `nobody` (-u), which writes its log and pid file here.
    chmodSync(dir, 0o777);
    const port = await freePort();
    const user = decodeURIComponent(direct.username);
    const password = decodeURIComponent(direct.password);
    writeFileSync(join(dir, 'users.txt'), `"${user}" "${password}"\n`);
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `${name} = host=${direct.hostname} port=${direct.port} dbname=${name}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        `unix_socket_dir = ${dir}`,
        // A passwordless DATABASE_URL (a server with trust authentication) gets the same here.
        `auth_type = ${password ? 'md5' : 'trust'}`,
        `auth_file = ${join(dir, 'users.txt')}`,
        'pool_mode = transaction',
        'default_pool_size = 4',
        'max_client_conn = 50',
        `logfile = ${join(dir, 'pgbouncer.log')}`,
        `pidfile = ${join(dir, 'pgbouncer.pid')}`,
        '',
      ].join('\n'),
    );
    // pgbouncer refuses to run as root unless asked to run as another user: -u nobody.
    const asRoot = process.getuid?.() === 0;
    bouncer = spawn(PGBOUNCER!, [...(asRoot ? ['-u', 'nobody'] : []), join(dir, 'pgbouncer.ini')], {
      stdio: 'ignore',
    });

    await listening(port);
    pooledUrl = `postgres://${direct.username}:${direct.password}@127.0.0.1:${port}/${name}`;
    const config = testConfig(pooledUrl, { DB_STATEMENT_TIMEOUT_MS: '0', DB_POOL_MAX: '8' });
    const app = await createApp(config, pooledUrl, createLogger(config));
    await app.getHttpAdapter().getInstance().ready();
    t = {
      app,
      config,
      db: app.get(DataSource),
      http: () => request(app.getHttpServer()),
      close: () => app.close(),
    };
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    bouncer?.kill('SIGTERM');
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves sign-up, writes with their events, lists, an export and a deal won, many at a time', async () => {
    const owner = await register(t, 'pooled', 'Pooled Org');
    const headers = as(owner, owner.organizationId);
    const created = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        t
          .http()
          .post(`${API}/contacts`)
          .set(headers)
          .send({ name: `Pooled ${i}` }),
      ),
    );
    expect(created.map((r) => r.status)).toEqual(created.map(() => 201));
    const page = await t.http().get(`${API}/contacts?pageSize=50`).set(headers);
    expect((page.body as { total: number }).total).toBe(24);
    const exported = await t.http().get(`${API}/contacts/export`).set(headers);
    expect(exported.status).toBe(200);
    expect(exported.text.trim().split('\n')).toHaveLength(25);
    const deal = await t
      .http()
      .post(`${API}/deals`)
      .set(headers)
      .send({
        title: 'Pooled deal',
        amount: 100,
        status: 'in_progress',
        contactId: (created[0].body as { id: string }).id,
      });
    expect(deal.status).toBe(201);
    const won = await t
      .http()
      .post(`${API}/deals/${(deal.body as { id: string }).id}/win`)
      .set(headers);
    expect({ status: won.status, deal: (won.body as { status: string }).status }).toEqual({
      status: 200,
      deal: 'won',
    });
    // The events were recorded and consumed (the in-app consumers poll through the pooler too).
    const removed = await t
      .http()
      .delete(`${API}/contacts/${(created[1].body as { id: string }).id}`)
      .set(headers);
    expect(removed.status).toBe(204);
    await consumersIdle(t.db);
    const [{ events }] = await t.db.query<{ events: number }[]>(
      'SELECT count(*)::int AS events FROM events WHERE organization_id = $1',
      [owner.organizationId],
    );
    expect(events).toBeGreaterThanOrEqual(27);
  });

  it('the database-level statement timeout holds through the pooler, and the export exemption does not leak to other clients', async () => {
    const client = new Client({ connectionString: pooledUrl });
    await client.connect();
    try {
      await expect(client.query('SELECT pg_sleep(3)')).rejects.toMatchObject({ code: '57014' });
      for (let i = 0; i < 8; i += 1) {
        const { rows } = await client.query<{ statement_timeout: string }>(
          'SHOW statement_timeout',
        );
        expect(rows[0].statement_timeout).toBe('2s');
      }
    } finally {
      await client.end();
    }
  });
});
