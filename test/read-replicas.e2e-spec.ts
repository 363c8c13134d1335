import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { Contact } from '../src/modules/contacts/contact.entity';
import { Role } from '../src/tenancy/role';
import { Grants } from '../src/tenancy/permissions';
import { UnitOfWork } from '../src/tenancy/unit-of-work';
import { as, register, type Session } from './support/api';
import { REDIS_ENV } from './support/database';
import { type ReplicaPair, serverBinaries, startReplicaPair } from './support/replica';
import { testConfig, type TestApp } from './support/test-app';

/*
 * DATABASE_READ_URLS against a real streaming replica of a PostgreSQL started here (initdb,
 * pg_basebackup -R). Replay on the replica is paused to make its lag visible: a read that sees
 * a row written meanwhile came from the primary, one that does not came from the replica.
 */

const BIN = serverBinaries();
const REQUIRED = process.env.REQUIRE_POSTGRES_TOOLS === 'true';
if (!BIN && REQUIRED)
  throw new Error('REQUIRE_POSTGRES_TOOLS=true but no PostgreSQL server binaries');
if (!BIN)
  console.warn(
    'SKIPPED: read replicas need PostgreSQL server binaries (/usr/lib/postgresql/*/bin)',
  );
const describeWithServer = BIN ? describe : describe.skip;
// Long enough for a test's sequence of requests after a write to fit inside it on 2 busy cores
// (at 1.5 s, a CI run under load saw the writer's window end mid-sequence).
const AFTER_WRITE_MS = 4_000;
const API = '/api/v1';

describeWithServer('Read replicas (DATABASE_READ_URLS) with read-your-writes', () => {
  let pair: ReplicaPair;
  const apps: TestApp[] = [];

  async function copy(): Promise<TestApp> {
    const url = pair.primaryUrl('crm');
    const redis = process.env[REDIS_ENV];
    const config = testConfig(url, {
      DB_MIGRATIONS_RUN: 'true',
      DATABASE_READ_URLS: pair.replicaUrl('crm'),
      DATABASE_READ_AFTER_WRITE_MS: String(AFTER_WRITE_MS),
      // Two copies share the read-after-write marks (and the caches) through Redis.
      ...(redis ? { REDIS_URL: redis } : {}),
    });
    const app = await createApp(config, url, createLogger(config));
    await app.getHttpAdapter().getInstance().ready();
    const t: TestApp = {
      app,
      config,
      db: app.get(DataSource),
      http: () => request(app.getHttpServer()),
      close: () => app.close(),
    };
    apps.push(t);
    return t;
  }

  let t: TestApp;
  let writer: Session;
  let reader: Session;
  const org = (): string => writer.organizationId;

  const names = async (
    app: TestApp,
    s: Session,
    path = '/contacts?pageSize=100',
  ): Promise<string[]> => {
    const res = await app.http().get(`${API}${path}`).set(as(s, org()));
    expect(res.status).toBe(200);
    return (res.body as { items: { name: string }[] }).items.map((c) => c.name).sort();
  };
  const total = async (app: TestApp, s: Session): Promise<number> => {
    const res = await app.http().get(`${API}/contacts`).set(as(s, org()));
    return (res.body as { total: number }).total;
  };
  const create = async (app: TestApp, s: Session, name: string): Promise<string> => {
    const res = await app.http().post(`${API}/contacts`).set(as(s, org())).send({ name });
    expect(res.status).toBe(201);
    return (res.body as { id: string }).id;
  };
  /** Until the read-after-write window of everyone's last write has passed. */
  const windowPassed = (): Promise<void> => new Promise((r) => setTimeout(r, AFTER_WRITE_MS + 200));
  const paused = async <T>(work: () => Promise<T>): Promise<T> => {
    await pair.caughtUp();
    await pair.onReplica('SELECT pg_wal_replay_pause()');
    try {
      return await work();
    } finally {
      await pair.onReplica('SELECT pg_wal_replay_resume()');
    }
  };

  beforeAll(async () => {
    pair = await startReplicaPair(BIN!);
    const [{ ok }] = (await pair.onReplica('SELECT pg_is_in_recovery() AS ok')) as {
      ok: boolean;
    }[];
    expect(ok).toBe(true);
    const admin = new DataSource({ type: 'postgres', url: pair.primaryUrl() });
    await admin.initialize();
    await admin.query('CREATE DATABASE crm');
    await admin.destroy();
    t = await copy();
    writer = await register(t, 'writer', 'Replica Org');
    reader = await register(t, 'reader', 'Other');
    const added = await t
      .http()
      .post(`${API}/organizations/current/members`)
      .set(as(writer, org()))
      .send({ email: reader.email, role: 'admin' });
    expect(added.status).toBe(201);
    await create(t, writer, 'Before');
    await pair.caughtUp();
    await windowPassed();
  }, 120_000);

  afterAll(async () => {
    for (const app of apps) await app.close();
    pair?.stop();
  });

  it('a user who just wrote reads the primary (own write at once); another user reads the replica (lagging) until it replays', async () => {
    await paused(async () => {
      const id = await create(t, writer, 'Fresh');
      expect(await names(t, writer)).toEqual(['Before', 'Fresh']);
      expect(await total(t, writer)).toBe(2);
      expect((await t.http().get(`${API}/contacts/${id}`).set(as(writer, org()))).status).toBe(200);
      // The other user's reads come from the replica, which has not replayed the write.
      expect(await names(t, reader)).toEqual(['Before']);
      expect(await total(t, reader)).toBe(1);
      expect((await t.http().get(`${API}/contacts/${id}`).set(as(reader, org()))).status).toBe(404);
      const summary = await t.http().get(`${API}/analytics/deals/summary`).set(as(reader, org()));
      expect(summary.status).toBe(200);
      const search = await t.http().get(`${API}/contacts?search=Fresh`).set(as(reader, org()));
      expect((search.body as { items: unknown[] }).items).toHaveLength(0);
      const exported = await t.http().get(`${API}/contacts/export`).set(as(reader, org()));
      expect(exported.status).toBe(200);
      expect(exported.text).not.toContain('Fresh');
      // The writer's cached total is not the replica's (kept apart): still their own write.
      expect(await total(t, writer)).toBe(2);
    });
    await pair.caughtUp();
    expect(await names(t, reader)).toEqual(['Before', 'Fresh']);
  });

  it('after DATABASE_READ_AFTER_WRITE_MS the writer reads the replica again; the next write sends them back to the primary', async () => {
    await windowPassed();
    await paused(async () => {
      // Written behind the app's back on the primary: only a read of the primary sees it.
      await t.db.query(
        `INSERT INTO contacts (organization_id, owner_id, name) VALUES ($1, $2, 'By SQL')`,
        [org(), writer.userId],
      );
      expect(await names(t, writer)).not.toContain('By SQL');
      await create(t, writer, 'Next');
      expect(await names(t, writer)).toEqual(expect.arrayContaining(['By SQL', 'Next']));
    });
  });

  it('within one request, reads after the actor wrote go to the primary', async () => {
    await windowPassed();
    const uow = t.app.get(UnitOfWork);
    await paused(async () => {
      const actor = {
        userId: reader.userId,
        organizationId: org(),
        role: Role.ADMIN,
        grants: Grants.of(Role.ADMIN),
        requestId: 'same-request',
        ip: '127.0.0.1',
        userAgent: null,
        replica: true,
      };
      const count = () => uow.read(actor).repo(Contact).countBy({});
      const before = await count();
      await uow.run(actor, async (tx) => {
        const repo = tx.repo(Contact);
        const contact = await repo.save(
          repo.create({ name: 'In request', ownerId: reader.userId }),
        );
        tx.emit('crm.contact.created', `contacts/${contact.id}`, { contact: { id: contact.id } });
      });
      expect(actor.replica).toBe(false);
      expect(await count()).toBe(before + 1);
    });
  });

  (process.env[REDIS_ENV] ? it : it.skip)(
    'a write through one app copy sends the writer to the primary on another copy too (shared marks in Redis)',
    async () => {
      const other = await copy();
      await windowPassed();
      await paused(async () => {
        await create(t, writer, 'Via copy one');
        expect(await names(other, writer)).toContain('Via copy one');
        expect(await names(other, reader)).not.toContain('Via copy one');
      });
    },
  );

  it("a replica that is down: the reads it serves answer 503 NOT_READY with Retry-After; writes and the writer's reads go on", async () => {
    await windowPassed();
    pair.stopReplica();
    const res = await t.http().get(`${API}/contacts`).set(as(reader, org()));
    expect({ status: res.status, code: (res.body as { code: string }).code }).toEqual({
      status: 503,
      code: 'NOT_READY',
    });
    expect(res.headers['retry-after']).toBeDefined();
    await create(t, writer, 'Replica down');
    expect(await names(t, writer)).toContain('Replica down');
  });
});
