import { createHash } from 'node:crypto';
import request from 'supertest';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { as, createTeam, expectError, type Session, type Team } from './support/api';
import { REDIS_ENV } from './support/database';
import { createTestApp, type TestApp } from './support/test-app';

/** Redis tests need a real Redis (see the global setup); skipped with a notice without one. */
const describeOnRedis = process.env[REDIS_ENV] ? describe : describe.skip;

interface CreatedKey {
  id: string;
  name: string;
  role: string;
  prefix: string;
  key: string;
  expiresAt: string | null;
  createdAt: string;
}

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

async function createKey(
  t: TestApp,
  session: Session,
  organizationId: string,
  body: Record<string, unknown>,
): Promise<CreatedKey> {
  const res = await t.http().post('/api/v1/api-keys').set(as(session, organizationId)).send(body);
  expect(res.status).toBe(201);
  return res.body as CreatedKey;
}

async function createContact(
  t: TestApp,
  headers: Record<string, string>,
  name: string,
): Promise<{ id: string; ownerId: string }> {
  const res = await t.http().post('/api/v1/contacts').set(headers).send({ name });
  expect(res.status).toBe(201);
  return res.body as { id: string; ownerId: string };
}

describe('API keys (API.md section 16)', () => {
  let t: TestApp;
  let team: Team;
  let org: string;

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    org = team.organizationId;
  });
  afterAll(() => t.close());

  describe('creation', () => {
    it('answers the key once, stores only its SHA-256, and never lists it', async () => {
      const created = await createKey(t, team.owner, org, { name: 'Sync', role: 'manager' });
      expect(created).toEqual({
        id: expect.any(String),
        name: 'Sync',
        role: 'manager',
        prefix: created.key.slice(0, 12),
        key: expect.stringMatching(/^crm_[A-Za-z0-9_-]{43}$/),
        expiresAt: null,
        createdAt: expect.any(String),
      });
      const [row] = await t.db.query<{ key_hash: string }[]>(
        'SELECT * FROM api_keys WHERE id = $1',
        [created.id],
      );
      expect(row.key_hash).toBe(createHash('sha256').update(created.key).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(created.key);

      const list = await t.http().get('/api/v1/api-keys').set(as(team.admin, org));
      expect(list.status).toBe(200);
      const listed = (list.body as { items: Record<string, unknown>[] }).items.find(
        (k) => k.id === created.id,
      );
      expect(listed).toEqual(
        expect.objectContaining({ name: 'Sync', role: 'manager', prefix: created.prefix }),
      );
      expect(JSON.stringify(list.body)).not.toContain(created.key);
      expect(listed).not.toHaveProperty('key');
    });

    it('refuses an unknown role (400), a past expiry (400) and unknown properties (400)', async () => {
      for (const body of [
        { name: 'x', role: 'superuser' },
        { name: 'x', role: 'Manager' },
        { name: 'x', role: 'manager', expiresAt: '2020-01-01T00:00:00.000Z' },
        { name: 'x', role: 'manager', organizationId: team.outsider.organizationId },
        { name: '', role: 'manager' },
      ]) {
        const res = await t.http().post('/api/v1/api-keys').set(as(team.owner, org)).send(body);
        expectError(res, 400, 'VALIDATION_FAILED');
      }
    });

    it('is for owners and admins; a key grants nothing its creator lacks', async () => {
      for (const session of [team.manager, team.member]) {
        const res = await t
          .http()
          .post('/api/v1/api-keys')
          .set(as(session, org))
          .send({ name: 'x', role: 'member' });
        expectError(res, 403, 'FORBIDDEN');
        expectError(await t.http().get('/api/v1/api-keys').set(as(session, org)), 403, 'FORBIDDEN');
      }
      // An admin may not mint an owner key; an owner may.
      const res = await t
        .http()
        .post('/api/v1/api-keys')
        .set(as(team.admin, org))
        .send({ name: 'x', role: 'owner' });
      expectError(res, 403, 'FORBIDDEN');
      await createKey(t, team.owner, org, { name: 'owner key', role: 'owner' });
      await createKey(t, team.admin, org, { name: 'admin key', role: 'admin' });
    });
  });

  describe('authentication', () => {
    let managerKey: CreatedKey;
    let memberKey: CreatedKey;

    beforeAll(async () => {
      managerKey = await createKey(t, team.owner, org, { name: 'Manager key', role: 'manager' });
      memberKey = await createKey(t, team.owner, org, { name: 'Member key', role: 'member' });
    });

    it('works without X-Organization-Id, or with its own organization; another organization is 403 NOT_A_MEMBER', async () => {
      expect((await t.http().get('/api/v1/contacts').set(bearer(managerKey.key))).status).toBe(200);
      const withHeader = await t
        .http()
        .get('/api/v1/contacts')
        .set({ ...bearer(managerKey.key), 'x-organization-id': org.toUpperCase() });
      expect(withHeader.status).toBe(200);
      const other = await t
        .http()
        .get('/api/v1/contacts')
        .set({ ...bearer(managerKey.key), 'x-organization-id': team.outsider.organizationId });
      expectError(other, 403, 'NOT_A_MEMBER');
    });

    it('acts as its creator with its role: records are owned by the creator, scope own means owned by the creator', async () => {
      const byKey = await createContact(t, bearer(memberKey.key), 'Made by a key');
      expect(byKey.ownerId).toBe(team.owner.userId);
      const managersContact = await createContact(t, as(team.manager, org), 'Manager contact');
      // The member-role key sees the creator's records only.
      expectError(
        await t.http().get(`/api/v1/contacts/${managersContact.id}`).set(bearer(memberKey.key)),
        404,
        'NOT_FOUND',
      );
      const own = await t.http().get(`/api/v1/contacts/${byKey.id}`).set(bearer(memberKey.key));
      expect(own.status).toBe(200);
      // The manager-role key sees everything; its role has no organization settings.
      const seen = await t
        .http()
        .get(`/api/v1/contacts/${managersContact.id}`)
        .set(bearer(managerKey.key));
      expect(seen.status).toBe(200);
      expectError(
        await t
          .http()
          .patch('/api/v1/organizations/current')
          .set(bearer(managerKey.key))
          .send({ name: 'Renamed' }),
        403,
        'FORBIDDEN',
      );
      // A member-role key may not give records to others.
      expectError(
        await t
          .http()
          .post('/api/v1/contacts')
          .set(bearer(memberKey.key))
          .send({ name: 'x', ownerId: team.manager.userId }),
        403,
        'FORBIDDEN',
      );
    });

    it('names the key as the actor of its events and audit entries', async () => {
      const contact = await createContact(t, bearer(managerKey.key), 'Evented by key');
      const events = await t
        .http()
        .get('/api/v1/events')
        .query({ type: 'crm.contact.created.v1' })
        .set(as(team.owner, org));
      expect(events.status).toBe(200);
      const event = (events.body as { items: { subject: string; actorid: string }[] }).items.find(
        (e) => e.subject === `contacts/${contact.id}`,
      );
      expect(event?.actorid).toBe(managerKey.id);

      const audit = await t
        .http()
        .get('/api/v1/audit-logs')
        .query({ action: 'api_key_created' })
        .set(as(team.owner, org));
      expect(audit.status).toBe(200);
      expect(
        (audit.body as { items: { target: { id: string } | null }[] }).items.map(
          (e) => e.target?.id,
        ),
      ).toEqual(expect.arrayContaining([managerKey.id, memberKey.id]));
    });

    it('records lastUsedAt', async () => {
      await t.http().get('/api/v1/contacts').set(bearer(managerKey.key));
      const list = await t.http().get('/api/v1/api-keys').set(as(team.owner, org));
      const listed = (
        list.body as { items: { id: string; lastUsedAt: string | null }[] }
      ).items.find((k) => k.id === managerKey.id);
      expect(listed?.lastUsedAt).toEqual(expect.any(String));
    });

    it('never reaches /auth/*, the signed-in user routes or /api-keys (403)', async () => {
      const ownerKey = await createKey(t, team.owner, org, { name: 'Strong', role: 'owner' });
      for (const [method, path] of [
        ['post', '/api/v1/auth/refresh'],
        ['post', '/api/v1/auth/logout'],
        ['get', '/api/v1/users/me'],
        ['get', '/api/v1/organizations/me'],
        ['get', '/api/v1/api-keys'],
        ['post', '/api/v1/api-keys'],
        ['delete', `/api/v1/api-keys/${ownerKey.id}`],
      ] as const) {
        const res = await t
          .http()
          [method](path)
          .set(bearer(ownerKey.key))
          .send({ refreshToken: 'x', name: 'x', role: 'member' });
        expect({ path, status: res.status, code: (res.body as { code: string }).code }).toEqual({
          path,
          status: 403,
          code: 'FORBIDDEN',
        });
      }
    });

    it('refuses a tampered, unknown, expired or revoked key with 401', async () => {
      const tampered = managerKey.key.slice(0, -1) + (managerKey.key.endsWith('A') ? 'B' : 'A');
      for (const key of [tampered, 'crm_short', `crm_${'x'.repeat(43)}`]) {
        expectError(
          await t.http().get('/api/v1/contacts').set(bearer(key)),
          401,
          'UNAUTHENTICATED',
        );
      }
      const expiring = await createKey(t, team.owner, org, {
        name: 'Expiring',
        role: 'member',
        expiresAt: new Date(Date.now() + 1500).toISOString(),
      });
      expect((await t.http().get('/api/v1/contacts').set(bearer(expiring.key))).status).toBe(200);
      // Refused once its time has come, even from the cached row.
      await new Promise((resolve) => setTimeout(resolve, 1600));
      expectError(
        await t.http().get('/api/v1/contacts').set(bearer(expiring.key)),
        401,
        'UNAUTHENTICATED',
      );
      const revoked = await createKey(t, team.owner, org, { name: 'Revoked', role: 'member' });
      expect((await t.http().get('/api/v1/contacts').set(bearer(revoked.key))).status).toBe(200);
      const del = await t.http().delete(`/api/v1/api-keys/${revoked.id}`).set(as(team.admin, org));
      expect(del.status).toBe(204);
      expectError(
        await t.http().get('/api/v1/contacts').set(bearer(revoked.key)),
        401,
        'UNAUTHENTICATED',
      );
      const list = await t.http().get('/api/v1/api-keys').set(as(team.owner, org));
      expect(
        (list.body as { items: { id: string; revokedAt: string | null }[] }).items.find(
          (k) => k.id === revoked.id,
        )?.revokedAt,
      ).toEqual(expect.any(String));
    });

    it('a creator who leaves takes their keys with them', async () => {
      const adminKey = await createKey(t, team.admin, org, { name: 'Admin key', role: 'manager' });
      expect((await t.http().get('/api/v1/contacts').set(bearer(adminKey.key))).status).toBe(200);
      const res = await t
        .http()
        .delete(`/api/v1/organizations/current/members/${team.admin.userId}`)
        .set(as(team.owner, org));
      expect(res.status).toBe(204);
      expectError(
        await t.http().get('/api/v1/contacts').set(bearer(adminKey.key)),
        401,
        'UNAUTHENTICATED',
      );
      const [row] = await t.db.query<{ revoked_at: Date | null }[]>(
        'SELECT revoked_at FROM api_keys WHERE id = $1',
        [adminKey.id],
      );
      expect(row.revoked_at).not.toBeNull();
      // Back in the team for the other tests.
      await t
        .http()
        .post('/api/v1/organizations/current/members')
        .set(as(team.owner, org))
        .send({ email: team.admin.email, role: 'admin' });
    });

    it("another organization's key ids are 404", async () => {
      const theirs = await createKey(t, team.outsider, team.outsider.organizationId, {
        name: 'Theirs',
        role: 'member',
      });
      expectError(
        await t.http().delete(`/api/v1/api-keys/${theirs.id}`).set(as(team.owner, org)),
        404,
        'NOT_FOUND',
      );
      expect((await t.http().get('/api/v1/contacts').set(bearer(theirs.key))).status).toBe(200);
    });
  });
});

describeOnRedis('API key revocation across two app copies sharing PostgreSQL and Redis', () => {
  let a: TestApp;
  let b: { http: () => ReturnType<typeof request>; close: () => Promise<void> };
  let team: Team;

  beforeAll(async () => {
    // A long cache TTL: only the invalidation message can make copy B forget the key in time.
    const env = { REDIS_URL: process.env[REDIS_ENV]!, MEMBERSHIP_CACHE_TTL_MS: '600000' };
    a = await createTestApp(env);
    const app = await createApp(a.config, a.config.databaseUrl!, createLogger(a.config));
    await app.getHttpAdapter().getInstance().ready();
    b = { http: () => request(app.getHttpServer()), close: () => app.close() };
    team = await createTeam(a);
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  it('a key revoked on one copy is refused by the other at once', async () => {
    const key = await createKey(a, team.owner, team.organizationId, { name: 'k', role: 'manager' });
    // Copy B has the key (and the creator's membership) cached now.
    for (let i = 0; i < 3; i += 1) {
      expect((await b.http().get('/api/v1/contacts').set(bearer(key.key))).status).toBe(200);
    }
    const del = await a
      .http()
      .delete(`/api/v1/api-keys/${key.id}`)
      .set(as(team.owner, team.organizationId));
    expect(del.status).toBe(204);
    // Pub/sub delivery takes a moment: poll for at most 2 s (far below the 10 min TTL).
    const deadline = Date.now() + 2000;
    let status = 200;
    while (Date.now() < deadline) {
      status = (await b.http().get('/api/v1/contacts').set(bearer(key.key))).status;
      if (status === 401) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(status).toBe(401);
  });

  it("a custom role's new permissions apply on the other copy at once", async () => {
    const org = team.organizationId;
    const created = await a
      .http()
      .post('/api/v1/roles')
      .set(as(team.owner, org))
      .send({
        key: 'reader',
        name: 'Reader',
        permissions: [{ resource: 'contacts', actions: ['read'], scope: 'all' }],
      });
    expect(created.status).toBe(201);
    const changed = await a
      .http()
      .patch(`/api/v1/organizations/current/members/${team.member.userId}`)
      .set(as(team.owner, org))
      .send({ role: 'reader' });
    expect(changed.status).toBe(200);
    // Cached on B: may read contacts.
    expect((await b.http().get('/api/v1/contacts').set(as(team.member, org))).status).toBe(200);
    const patched = await a
      .http()
      .patch('/api/v1/roles/reader')
      .set(as(team.owner, org))
      .send({ permissions: [{ resource: 'deals', actions: ['read'], scope: 'all' }] });
    expect(patched.status).toBe(200);
    const deadline = Date.now() + 2000;
    let status = 200;
    while (Date.now() < deadline) {
      status = (await b.http().get('/api/v1/contacts').set(as(team.member, org))).status;
      if (status === 403) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(status).toBe(403);
    expect((await b.http().get('/api/v1/deals').set(as(team.member, org))).status).toBe(200);
  });
});
