import {
  as,
  createTeam,
  expectError,
  PASSWORD,
  register,
  type Session,
  type Team,
} from './support/api';
import { consumersIdle } from './support/background';
import { ISO_TIMESTAMP, keysOf, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * The audit log API (API.md section 16): GET /audit-logs, what it records (auth events of the
 * organization's current members, membership and role changes, deletes, imports, exports,
 * webhooks), its filters, keyset pages, roles and isolation between organizations.
 */

const API = '/api/v1';

interface Entry {
  id: string;
  action: string;
  actorId: string | null;
  actorType: string;
  organizationId: string | null;
  target: { type: string; id: string } | null;
  details: Record<string, unknown>;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  createdAt: string;
}

interface Page {
  items: Entry[];
  nextCursor: string | null;
}

describe('GET /audit-logs (API.md section 16)', () => {
  let t: TestApp;
  let team: Team;
  /** Added, promoted and removed: their auth events leave the trail with them. */
  let leaver: Session;
  let contactId: string;
  let webhookId: string;

  const list = (session: Session, query: Record<string, string | number> = {}, org?: string) =>
    t
      .http()
      .get(`${API}/audit-logs`)
      .query(query)
      .set(as(session, org ?? session.organizationId));

  /** Every entry the owner sees with `query`, walking the keyset pages of `limit`. */
  const all = async (
    query: Record<string, string | number> = {},
    limit = 100,
  ): Promise<Entry[]> => {
    const entries: Entry[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(
        team.owner,
        { ...query, limit, ...(cursor ? { cursor } : {}) },
        team.organizationId,
      );
      expect(res.status).toBe(200);
      const page = res.body as Page;
      expect(page.items.length).toBeLessThanOrEqual(limit);
      entries.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return entries;
  };

  const login = (session: Session, requestId?: string) => {
    const req = t.http().post(`${API}/auth/login`).set('user-agent', 'audit-test/1.0');
    if (requestId) req.set('x-request-id', requestId);
    return req.send({ email: session.email, password: PASSWORD }).expect(200);
  };

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    const owner = as(team.owner, team.organizationId);

    await login(team.admin, 'audit-login-admin');
    await login(team.outsider, 'audit-login-outsider');

    // Membership: added, role changed, removed; logged in while a member.
    leaver = await register(t, 'leaver', 'Leaver Org');
    await t
      .http()
      .post(`${API}/organizations/current/members`)
      .set(owner)
      .send({ email: leaver.email, role: 'member' })
      .expect(201);
    await login(leaver, 'audit-login-leaver');
    await t
      .http()
      .patch(`${API}/organizations/current/members/${leaver.userId}`)
      .set(owner)
      .send({ role: 'manager' })
      .expect(200);
    await t
      .http()
      .delete(`${API}/organizations/current/members/${leaver.userId}`)
      .set(owner)
      .expect(204);

    // A delete and an import (written by the audit consumer from their events).
    const contact = await t
      .http()
      .post(`${API}/contacts`)
      .set(owner)
      .send({ name: 'Short-lived' })
      .expect(201);
    contactId = (contact.body as { id: string }).id;
    await t
      .http()
      .delete(`${API}/contacts/${contactId}`)
      .set(owner)
      .set('x-request-id', 'audit-delete-contact')
      .expect(204);
    await t
      .http()
      .post(`${API}/contacts/import`)
      .set(owner)
      .attach(
        'file',
        Buffer.from('name,email,phone,companyName\nImported,imported@example.com,,\n'),
        'c.csv',
      )
      .expect(200);

    // An export, with filters.
    await t.http().get(`${API}/contacts/export`).query({ search: 'Imp' }).set(owner).expect(200);

    // A webhook's life (not delivering: disabled, public address).
    const webhook = await t
      .http()
      .post(`${API}/webhooks`)
      .set(owner)
      .send({ url: 'https://93.184.215.14/hook', events: ['deal.*'], enabled: false })
      .expect(201);
    webhookId = (webhook.body as { id: string }).id;
    await t
      .http()
      .patch(`${API}/webhooks/${webhookId}`)
      .set(owner)
      .send({ description: 'CRM sync' })
      .expect(200);
    await t.http().post(`${API}/webhooks/${webhookId}/rotate-secret`).set(owner).expect(200);
    const other = await t
      .http()
      .post(`${API}/webhooks`)
      .set(owner)
      .send({ url: 'https://93.184.215.14/other', events: ['*'], enabled: false })
      .expect(201);
    await t
      .http()
      .delete(`${API}/webhooks/${(other.body as { id: string }).id}`)
      .set(owner)
      .expect(204);

    // The outsider's organization has entries of its own.
    await t
      .http()
      .post(`${API}/webhooks`)
      .set(as(team.outsider, team.outsider.organizationId))
      .send({ url: 'https://93.184.215.14/theirs', events: ['*'], enabled: false })
      .expect(201);

    await consumersIdle(t.db);
  });
  afterAll(() => t.close());

  it('records the organization’s entries, newest first, in the documented shape', async () => {
    const entries = await all();
    const actions = new Set(entries.map((e) => e.action));
    for (const action of [
      'user_registered',
      'organization_created',
      'login_succeeded',
      'member_added',
      'member_role_changed',
      'member_removed',
      'contact_deleted',
      'import_completed',
      'export_started',
      'webhook_created',
      'webhook_updated',
      'webhook_secret_rotated',
      'webhook_deleted',
    ]) {
      expect({ action, present: actions.has(action) }).toEqual({ action, present: true });
    }
    const times = entries.map((e) => e.createdAt);
    expect(times).toEqual([...times].sort().reverse());
    for (const entry of entries) {
      expect(keysOf(entry)).toEqual(
        [
          'id',
          'action',
          'actorId',
          'actorType',
          'organizationId',
          'target',
          'details',
          'ip',
          'userAgent',
          'requestId',
          'createdAt',
        ].sort(),
      );
      expect(entry.id).toMatch(UUID);
      expect(entry.createdAt).toMatch(ISO_TIMESTAMP);
      // The organization's own entries, or auth events (no organization) of its members.
      expect([team.organizationId, null]).toContain(entry.organizationId);
    }
  });

  it('an auth event of a member: actor, address, user agent and request id, no organization', async () => {
    const entries = await all({ action: 'login_succeeded', actorId: team.admin.userId });
    const entry = entries.find((e) => e.requestId === 'audit-login-admin');
    expect(entry).toEqual({
      id: expect.stringMatching(UUID),
      action: 'login_succeeded',
      actorId: team.admin.userId,
      actorType: 'user',
      organizationId: null,
      target: { type: 'refresh_token_family', id: expect.stringMatching(UUID) },
      details: {},
      ip: expect.any(String),
      userAgent: 'audit-test/1.0',
      requestId: 'audit-login-admin',
      createdAt: expect.stringMatching(ISO_TIMESTAMP),
    });
  });

  it('membership, deletes, imports, exports and webhooks: actor, target and details', async () => {
    const entries = await all();
    const one = (action: string, match: (e: Entry) => boolean = () => true): Entry => {
      const found = entries.filter((e) => e.action === action && match(e));
      expect({ action, found: found.length }).toEqual({ action, found: 1 });
      return found[0];
    };
    const byLeaver = (e: Entry) => e.target?.id === leaver.userId;
    expect(one('member_added', byLeaver)).toMatchObject({
      actorId: team.owner.userId,
      actorType: 'user',
      organizationId: team.organizationId,
      target: { type: 'user', id: leaver.userId },
    });
    expect(one('member_role_changed', byLeaver).actorId).toBe(team.owner.userId);
    expect(one('member_removed', byLeaver).organizationId).toBe(team.organizationId);
    expect(one('contact_deleted')).toMatchObject({
      actorId: team.owner.userId,
      organizationId: team.organizationId,
      target: { type: 'contact', id: contactId },
      details: { name: 'Short-lived' },
      requestId: 'audit-delete-contact',
    });
    expect(one('import_completed')).toMatchObject({
      actorId: team.owner.userId,
      details: { kind: 'contacts', created: 1 },
    });
    expect(one('export_started')).toMatchObject({
      actorId: team.owner.userId,
      actorType: 'user',
      organizationId: team.organizationId,
      target: null,
      details: {
        resource: 'contacts',
        filters: expect.objectContaining({ search: 'Imp', orderBy: 'createdAt' }),
      },
    });
    expect(one('webhook_created', (e) => e.target?.id === webhookId)).toMatchObject({
      actorId: team.owner.userId,
      organizationId: team.organizationId,
      target: { type: 'webhook', id: webhookId },
      details: { url: 'https://93.184.215.14/hook', events: ['deal.*'], enabled: false },
    });
    expect(one('webhook_updated').details).toEqual({
      changes: { description: 'CRM sync' },
      previous: { description: null },
    });
    const rotated = one('webhook_secret_rotated');
    expect(rotated.target).toEqual({ type: 'webhook', id: webhookId });
    expect(JSON.stringify(rotated.details)).not.toContain('whsec_');
    expect(one('webhook_deleted').details).toEqual({ url: 'https://93.184.215.14/other' });
  });

  it('auth events count while the user is a member: a removed member’s logins leave the trail', async () => {
    const entries = await all();
    // Their membership entries stay (they name the organization), their logins do not.
    expect(
      entries.some((e) => e.action === 'member_removed' && e.target?.id === leaver.userId),
    ).toBe(true);
    expect(entries.some((e) => e.requestId === 'audit-login-leaver')).toBe(false);
    expect(entries.some((e) => e.actorId === leaver.userId)).toBe(false);
    // ... and they are in the trail of the organization the leaver still belongs to.
    const theirs = await list(leaver, { action: 'login_succeeded' });
    expect(theirs.status).toBe(200);
    expect((theirs.body as Page).items.map((e) => e.requestId)).toContain('audit-login-leaver');
  });

  it('filters by action and actor', async () => {
    const added = await all({ action: 'member_added' });
    expect(added.length).toBe(4); // the admin, manager, member and leaver
    expect(added.every((e) => e.action === 'member_added')).toBe(true);

    const byAdmin = await all({ actorId: team.admin.userId });
    expect(byAdmin.length).toBeGreaterThanOrEqual(1); // logged in (registered: in their own org)
    expect(byAdmin.every((e) => e.actorId === team.admin.userId)).toBe(true);

    expect(await all({ actorId: team.outsider.userId })).toEqual([]);
  });

  it('filters by time: since inclusive, until exclusive', async () => {
    const entries = await all();
    const middle = entries[Math.floor(entries.length / 2)].createdAt;
    const since = await all({ since: middle });
    const until = await all({ until: middle });
    expect(since.length).toBeGreaterThan(0);
    expect(until.length).toBeGreaterThan(0);
    expect(since.every((e) => e.createdAt >= middle)).toBe(true);
    expect(until.every((e) => e.createdAt < middle)).toBe(true);
    expect(since.length + until.length).toBe(entries.length);
    expect(await all({ since: middle, until: middle })).toEqual([]);
  });

  it.each([
    [{ action: 'not_an_action' }, 'action'],
    [{ actorId: 'not-a-uuid' }, 'actorId'],
    [{ since: 'yesterday' }, 'since'],
    [{ until: '2026-13-01T00:00:00Z' }, 'until'],
    [{ since: '2026-12-02T00:00:00.000Z', until: '2026-12-01T00:00:00.000Z' }, 'until'],
    [{ limit: 0 }, 'limit'],
    [{ limit: 101 }, 'limit'],
    [{ page: 1 }, 'page'],
    [{ pageSize: 20 }, 'pageSize'],
  ])('refuses %j with 400 VALIDATION_FAILED', async (query, field) => {
    const res = await list(team.owner, query, team.organizationId);
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(res.body)).toContain(field);
  });

  it('keyset pages walk every entry once, newest first (20 per page by default)', async () => {
    for (let i = 0; i < 5; i++) await login(team.manager);
    const everything = await all();
    expect(everything.length).toBeGreaterThan(20);
    const first = await list(team.owner, {}, team.organizationId);
    expect((first.body as Page).items).toHaveLength(20);
    expect((first.body as Page).nextCursor).toEqual(expect.any(String));

    const walked = await all({}, 3);
    expect(walked.map((e) => e.id)).toEqual(everything.map((e) => e.id));
    expect(new Set(walked.map((e) => e.id)).size).toBe(walked.length);

    const last = await list(team.owner, { limit: 100 }, team.organizationId);
    expect((last.body as Page).nextCursor).toBeNull();
  });

  it('a tampered cursor, or one of other filters, is 400', async () => {
    const page = (await list(team.owner, { limit: 2 }, team.organizationId)).body as Page;
    const cursor = page.nextCursor!;
    const tampered = `${cursor.slice(0, -2)}${cursor.endsWith('AA') ? 'BB' : 'AA'}`;
    expectError(
      await list(team.owner, { limit: 2, cursor: tampered }, team.organizationId),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await list(team.owner, { limit: 2, cursor, action: 'member_added' }, team.organizationId),
      400,
      'VALIDATION_FAILED',
    );
    // Another organization's cursor.
    const theirs = (await list(team.outsider, { limit: 1 })).body as Page;
    expect(theirs.nextCursor).toEqual(expect.any(String));
    expectError(
      await list(team.owner, { limit: 1, cursor: theirs.nextCursor! }, team.organizationId),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('another organization sees none of these entries, and cannot read ours', async () => {
    const res = await list(team.outsider, { limit: 100 });
    expect(res.status).toBe(200);
    const theirs = (res.body as Page).items;
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.some((e) => e.organizationId === team.organizationId)).toBe(false);
    expect(theirs.some((e) => e.requestId === 'audit-login-admin')).toBe(false);
    expect(theirs.map((e) => e.requestId)).toContain('audit-login-outsider');
    const ourIds = new Set((await all()).map((e) => e.id));
    expect(theirs.filter((e) => ourIds.has(e.id))).toEqual([]);
    // Filtering on our users finds nothing there.
    const ours = await list(team.outsider, { actorId: team.owner.userId });
    expect((ours.body as Page).items).toEqual([]);
    // And ours is out of reach with their credentials.
    expectError(await list(team.outsider, {}, team.organizationId), 403, 'NOT_A_MEMBER');
  });

  it('owners and admins only: managers and members get 403 FORBIDDEN', async () => {
    expect((await list(team.admin, {}, team.organizationId)).status).toBe(200);
    expectError(await list(team.manager, {}, team.organizationId), 403, 'FORBIDDEN');
    expectError(await list(team.member, {}, team.organizationId), 403, 'FORBIDDEN');
    expectError(await t.http().get(`${API}/audit-logs`), 401, 'UNAUTHENTICATED');
  });

  it('actions of an API key name the key as their actor (API.md section 16)', async () => {
    const created = await t
      .http()
      .post(`${API}/api-keys`)
      .set(as(team.owner, team.organizationId))
      .send({ name: 'Sync job', role: 'admin' })
      .expect(201);
    const { id: keyId, key } = created.body as { id: string; key: string };
    const withKey = { authorization: `Bearer ${key}`, 'x-organization-id': team.organizationId };
    const contact = await t
      .http()
      .post(`${API}/contacts`)
      .set(as(team.owner, team.organizationId))
      .send({ name: 'Deleted by a key' })
      .expect(201);
    const id = (contact.body as { id: string }).id;
    await t.http().delete(`${API}/contacts/${id}`).set(withKey).expect(204);
    await t.http().get(`${API}/deals/export`).set(withKey).expect(200);
    await consumersIdle(t.db);

    const byKey = await all({ actorId: keyId });
    const deleted = byKey.find((e) => e.action === 'contact_deleted');
    expect(deleted).toMatchObject({
      actorId: keyId,
      actorType: 'api_key',
      target: { type: 'contact', id },
    });
    expect(byKey.find((e) => e.action === 'export_started')).toMatchObject({
      actorId: keyId,
      actorType: 'api_key',
      details: { resource: 'deals' },
    });
  });

  it('a webhook change and its entry commit in one transaction', async () => {
    const res = await t
      .http()
      .post(`${API}/webhooks`)
      .set(as(team.owner, team.organizationId))
      .send({ url: 'https://93.184.215.14/tx', events: ['*'], enabled: false })
      .expect(201);
    const id = (res.body as { id: string }).id;
    const rows = await t.db.query<{ xid: string }[]>(
      `SELECT xmin::text AS xid FROM webhooks WHERE id = $1
       UNION ALL
       SELECT xmin::text FROM audit_logs WHERE action = 'webhook_created' AND target_id = $2`,
      [id, id],
    );
    expect(rows).toHaveLength(2);
    expect(rows[0].xid).toBe(rows[1].xid);
  });
});
