import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

interface RoleBody {
  key: string;
  name: string;
  builtIn: boolean;
  permissions: { resource: string; actions: string[]; scope: string }[];
  createdAt: string | null;
  updatedAt: string | null;
}

const SUPPORT = {
  key: 'support',
  name: 'Support',
  permissions: [
    { resource: 'contacts', actions: ['read'], scope: 'all' },
    { resource: 'deals', actions: ['read'], scope: 'all' },
  ],
};
const SDR = {
  key: 'sdr',
  name: 'SDR',
  permissions: [
    { resource: 'leads', actions: ['read', 'create', 'update', 'delete'], scope: 'own' },
  ],
};
/** Reads every contact, changes only its own. */
const EDITOR = {
  key: 'editor',
  name: 'Editor',
  permissions: [
    { resource: 'contacts', actions: ['read'], scope: 'all' },
    { resource: 'contacts', actions: ['create', 'update', 'delete'], scope: 'own' },
  ],
};
/** Reads every contact, exports only its own. */
const EXPORTER = {
  key: 'exporter',
  name: 'Exporter',
  permissions: [
    { resource: 'contacts', actions: ['read', 'create'], scope: 'all' },
    { resource: 'export', actions: ['read'], scope: 'own' },
  ],
};
/** Manages members, and holds nothing else. */
const HR = {
  key: 'hr',
  name: 'HR',
  permissions: [{ resource: 'members', actions: ['read', 'create', 'update'], scope: 'all' }],
};

describe('Custom roles and permissions (API.md section 16)', () => {
  let t: TestApp;
  let team: Team;
  let org: string;
  let support: Session;
  let sdr: Session;
  let editor: Session;
  let hr: Session;
  let exporter: Session;

  const join = async (role: string): Promise<Session> => {
    const session = await register(t, role);
    const res = await t
      .http()
      .post('/api/v1/organizations/current/members')
      .set(as(team.owner, org))
      .send({ email: session.email, role });
    expect(res.status).toBe(201);
    expect((res.body as { role: string }).role).toBe(role);
    return session;
  };

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    org = team.organizationId;
    for (const role of [SUPPORT, SDR, EDITOR, HR, EXPORTER]) {
      const res = await t.http().post('/api/v1/roles').set(as(team.admin, org)).send(role);
      expect(res.status).toBe(201);
    }
    [support, sdr, editor, hr, exporter] = await Promise.all([
      join('support'),
      join('sdr'),
      join('editor'),
      join('hr'),
      join('exporter'),
    ]);
  });
  afterAll(() => t.close());

  describe('the roles endpoints', () => {
    it('lists the four built-in roles first, then custom roles, to any member, paginated', async () => {
      const res = await t.http().get('/api/v1/roles').set(as(team.member, org));
      expect(res.status).toBe(200);
      const body = res.body as { items: RoleBody[]; total: number };
      expect(body.total).toBe(9);
      expect(body.items.map((r) => [r.key, r.builtIn])).toEqual([
        ['owner', true],
        ['admin', true],
        ['manager', true],
        ['member', true],
        ['support', false],
        ['sdr', false],
        ['editor', false],
        ['hr', false],
        ['exporter', false],
      ]);
      const member = body.items[3];
      expect(member.permissions).toEqual(
        expect.arrayContaining([
          { resource: 'contacts', actions: ['read', 'create', 'update', 'delete'], scope: 'own' },
          { resource: 'pipelines', actions: ['read'], scope: 'all' },
          { resource: 'analytics', actions: ['read'], scope: 'own' },
        ]),
      );
      expect(body.items[4]).toEqual({
        ...SUPPORT,
        builtIn: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      // Keyset pages walk the same list.
      const keys: string[] = [];
      let cursor: string | null | undefined;
      do {
        const page = await t
          .http()
          .get('/api/v1/roles')
          .query(cursor ? { limit: 3, cursor } : { limit: 3 })
          .set(as(team.member, org));
        expect(page.status).toBe(200);
        const { items, nextCursor } = page.body as { items: RoleBody[]; nextCursor: string | null };
        keys.push(...items.map((r) => r.key));
        cursor = nextCursor;
      } while (cursor);
      expect(keys).toEqual(body.items.map((r) => r.key));
      expectError(
        await t
          .http()
          .get('/api/v1/roles')
          .query({ limit: 3, cursor: 'x.y' })
          .set(as(team.member, org)),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('validates a new role: key shape, not built-in, unique; known resources; each action once', async () => {
      const perms = SUPPORT.permissions;
      for (const body of [
        { key: 'Support', name: 'x', permissions: perms },
        { key: 'a', name: 'x', permissions: perms },
        { key: 'member', name: 'x', permissions: perms },
        { key: 'support', name: 'x', permissions: perms },
        { key: 'ok_role', name: '', permissions: perms },
        // Items that are not objects (an array inside was once let through: 500).
        { key: 'ok_role', name: 'x', permissions: [[]] },
        { key: 'ok_role', name: 'x', permissions: [1] },
        {
          key: 'ok_role',
          name: 'x',
          permissions: [{ resource: 'roles', actions: ['read'], scope: 'all' }],
        },
        {
          key: 'ok_role',
          name: 'x',
          permissions: [{ resource: 'contacts', actions: ['fly'], scope: 'all' }],
        },
        {
          key: 'ok_role',
          name: 'x',
          permissions: [{ resource: 'contacts', actions: [], scope: 'all' }],
        },
        {
          key: 'ok_role',
          name: 'x',
          permissions: [{ resource: 'contacts', actions: ['read'], scope: 'mine' }],
        },
        {
          key: 'ok_role',
          name: 'x',
          permissions: [
            { resource: 'contacts', actions: ['read'], scope: 'all' },
            { resource: 'contacts', actions: ['read'], scope: 'own' },
          ],
        },
        {
          key: 'ok_role',
          name: 'x',
          permissions: perms,
          organizationId: team.outsider.organizationId,
        },
      ]) {
        const res = await t.http().post('/api/v1/roles').set(as(team.owner, org)).send(body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expectError(res, 400, 'VALIDATION_FAILED');
      }
      // The same on a change, which leaves the role as it was.
      for (const permissions of [[[]], [null], ['contacts:read']]) {
        const res = await t
          .http()
          .patch('/api/v1/roles/support')
          .set(as(team.owner, org))
          .send({ name: 'Changed', permissions });
        expectError(res, 400, 'VALIDATION_FAILED');
        expect(res.body.details).toContainEqual({
          field: 'permissions',
          message: 'each item of permissions must be an object',
        });
      }
      const kept = await t.http().get('/api/v1/roles/support').set(as(team.owner, org));
      expect(kept.body).toMatchObject({ name: SUPPORT.name });
    });

    it('lets only owners and admins write roles; built-in roles cannot change (403)', async () => {
      for (const session of [team.manager, team.member, support, hr]) {
        expectError(
          await t
            .http()
            .post('/api/v1/roles')
            .set(as(session, org))
            .send({ ...SDR, key: 'x_role' }),
          403,
          'FORBIDDEN',
        );
      }
      expectError(
        await t
          .http()
          .patch('/api/v1/roles/manager')
          .set(as(team.owner, org))
          .send({ name: 'Boss' }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await t.http().delete('/api/v1/roles/member').set(as(team.owner, org)),
        403,
        'FORBIDDEN',
      );
    });

    it('refuses to delete a role that members or keys hold (409 ROLE_IN_USE), deletes a free one', async () => {
      expectError(
        await t.http().delete('/api/v1/roles/support').set(as(team.admin, org)),
        409,
        'ROLE_IN_USE',
      );
      const temp = await t
        .http()
        .post('/api/v1/roles')
        .set(as(team.admin, org))
        .send({ ...SDR, key: 'temp' });
      expect(temp.status).toBe(201);
      const key = await t
        .http()
        .post('/api/v1/api-keys')
        .set(as(team.admin, org))
        .send({ name: 'k', role: 'temp' });
      expect(key.status).toBe(201);
      expectError(
        await t.http().delete('/api/v1/roles/temp').set(as(team.admin, org)),
        409,
        'ROLE_IN_USE',
      );
      await t
        .http()
        .delete(`/api/v1/api-keys/${(key.body as { id: string }).id}`)
        .set(as(team.admin, org));
      expect((await t.http().delete('/api/v1/roles/temp').set(as(team.admin, org))).status).toBe(
        204,
      );
      expectError(
        await t.http().get('/api/v1/roles/temp').set(as(team.admin, org)),
        404,
        'NOT_FOUND',
      );
      // Role changes are audited.
      const entries: string[] = [];
      for (const action of ['role_created', 'role_deleted']) {
        const audit = await t
          .http()
          .get('/api/v1/audit-logs')
          .query({ action })
          .set(as(team.owner, org));
        for (const entry of (
          audit.body as { items: { action: string; target: { id: string } | null }[] }
        ).items) {
          if (entry.target?.id === 'temp') entries.push(entry.action);
        }
      }
      expect(entries).toEqual(['role_created', 'role_deleted']);
    });

    it("another organization's roles are invisible and cannot be assigned", async () => {
      const theirs = await t
        .http()
        .post('/api/v1/roles')
        .set(as(team.outsider, team.outsider.organizationId))
        .send({ ...SDR, key: 'outsider_only' });
      expect(theirs.status).toBe(201);
      expectError(
        await t.http().get('/api/v1/roles/outsider_only').set(as(team.owner, org)),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t
          .http()
          .patch('/api/v1/roles/outsider_only')
          .set(as(team.owner, org))
          .send({ name: 'x' }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t
          .http()
          .patch(`/api/v1/organizations/current/members/${team.member.userId}`)
          .set(as(team.owner, org))
          .send({ role: 'outsider_only' }),
        400,
        'VALIDATION_FAILED',
      );
    });
  });

  describe('what custom roles grant, on every path', () => {
    let ownersContact: string;
    let ownersDeal: string;

    beforeAll(async () => {
      const contact = await t
        .http()
        .post('/api/v1/contacts')
        .set(as(team.owner, org))
        .send({ name: 'Owned by owner' });
      ownersContact = (contact.body as { id: string }).id;
      const deal = await t
        .http()
        .post('/api/v1/deals')
        .set(as(team.owner, org))
        .send({ contactId: ownersContact, title: 'Big deal', amount: 100 });
      ownersDeal = (deal.body as { id: string }).id;
    });

    it('support reads contacts and deals, edits nothing, sees no analytics', async () => {
      expect(
        (await t.http().get(`/api/v1/contacts/${ownersContact}`).set(as(support, org))).status,
      ).toBe(200);
      expect((await t.http().get(`/api/v1/deals/${ownersDeal}`).set(as(support, org))).status).toBe(
        200,
      );
      const list = await t
        .http()
        .get('/api/v1/contacts')
        .query({ search: 'Owned by owner' })
        .set(as(support, org));
      expect((list.body as { total: number }).total).toBe(1);
      expect((await t.http().get('/api/v1/contacts/export').set(as(support, org))).status).toBe(
        403,
      );
      for (const res of [
        await t.http().post('/api/v1/contacts').set(as(support, org)).send({ name: 'x' }),
        await t
          .http()
          .patch(`/api/v1/deals/${ownersDeal}`)
          .set(as(support, org))
          .send({ title: 'x' }),
        await t.http().delete(`/api/v1/contacts/${ownersContact}`).set(as(support, org)),
        await t.http().get('/api/v1/analytics/deals/summary').set(as(support, org)),
        await t.http().get('/api/v1/leads').set(as(support, org)),
        await t.http().get('/api/v1/tasks').set(as(support, org)),
      ]) {
        expectError(res, 403, 'FORBIDDEN');
      }
    });

    it('sdr owns leads: sees only its own, cannot give them away, sees no analytics or contacts', async () => {
      const mine = await t.http().post('/api/v1/leads').set(as(sdr, org)).send({ name: 'My lead' });
      expect(mine.status).toBe(201);
      const others = await t
        .http()
        .post('/api/v1/leads')
        .set(as(team.owner, org))
        .send({ name: 'Owner lead' });
      const list = await t.http().get('/api/v1/leads').set(as(sdr, org));
      expect((list.body as { items: { id: string }[] }).items.map((l) => l.id)).toEqual([
        (mine.body as { id: string }).id,
      ]);
      expectError(
        await t
          .http()
          .get(`/api/v1/leads/${(others.body as { id: string }).id}`)
          .set(as(sdr, org)),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t
          .http()
          .post('/api/v1/leads')
          .set(as(sdr, org))
          .send({ name: 'x', ownerId: team.owner.userId }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await t.http().get('/api/v1/analytics/deals/funnel').set(as(sdr, org)),
        403,
        'FORBIDDEN',
      );
      expectError(await t.http().get('/api/v1/contacts').set(as(sdr, org)), 403, 'FORBIDDEN');
    });

    it('read all, change own: a visible record of someone else is 403 to change, its own is 200', async () => {
      expect(
        (await t.http().get(`/api/v1/contacts/${ownersContact}`).set(as(editor, org))).status,
      ).toBe(200);
      expectError(
        await t
          .http()
          .put(`/api/v1/contacts/${ownersContact}`)
          .set(as(editor, org))
          .send({ name: 'Hijacked' }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await t.http().delete(`/api/v1/contacts/${ownersContact}`).set(as(editor, org)),
        403,
        'FORBIDDEN',
      );
      const unchanged = await t
        .http()
        .get(`/api/v1/contacts/${ownersContact}`)
        .set(as(team.owner, org));
      expect((unchanged.body as { name: string }).name).toBe('Owned by owner');
      const mine = await t
        .http()
        .post('/api/v1/contacts')
        .set(as(editor, org))
        .send({ name: 'Editor contact' });
      const id = (mine.body as { id: string }).id;
      const put = await t
        .http()
        .put(`/api/v1/contacts/${id}`)
        .set(as(editor, org))
        .send({ name: 'Renamed' });
      expect(put.status).toBe(200);
    });

    it('an export holds what the role may export: read all, export own exports its own', async () => {
      const mine = await t
        .http()
        .post('/api/v1/contacts')
        .set(as(exporter, org))
        .send({ name: 'Exported by exporter' });
      expect(mine.status).toBe(201);
      const list = await t.http().get('/api/v1/contacts').set(as(exporter, org));
      const names = (list.body as { items: { name: string }[] }).items.map((c) => c.name);
      expect(names).toEqual(expect.arrayContaining(['Owned by owner', 'Exported by exporter']));
      const csv = await t.http().get('/api/v1/contacts/export').set(as(exporter, org));
      expect(csv.status).toBe(200);
      expect(csv.text).toContain('Exported by exporter');
      expect(csv.text).not.toContain('Owned by owner');
      const all = await t.http().get('/api/v1/contacts/export').set(as(team.owner, org));
      expect(all.text).toContain('Owned by owner');
    });

    it('GET /users/me/permissions answers the effective permissions', async () => {
      const res = await t.http().get('/api/v1/users/me/permissions').set(as(support, org));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ role: 'support', permissions: SUPPORT.permissions });
      const member = await t.http().get('/api/v1/users/me/permissions').set(as(team.member, org));
      expect((member.body as { role: string }).role).toBe('member');
      expectError(
        await t
          .http()
          .get('/api/v1/users/me/permissions')
          .set(as(support, team.outsider.organizationId)),
        403,
        'NOT_A_MEMBER',
      );
    });

    it('a changed role applies at once; nobody grants more than they hold', async () => {
      // hr manages members but holds nothing else: it may not hand out manager, admin or owner.
      for (const role of ['manager', 'admin', 'owner', 'support']) {
        expectError(
          await t
            .http()
            .patch(`/api/v1/organizations/current/members/${team.member.userId}`)
            .set(as(hr, org))
            .send({ role }),
          403,
          'FORBIDDEN',
        );
      }
      // An hr may not change a member who holds more than hr either.
      expectError(
        await t
          .http()
          .patch(`/api/v1/organizations/current/members/${support.userId}`)
          .set(as(hr, org))
          .send({ role: 'hr' }),
        403,
        'FORBIDDEN',
      );
      // Widening hr's own role needs roles:update, which only owners and admins hold.
      expectError(
        await t.http().patch('/api/v1/roles/hr').set(as(hr, org)).send({ name: 'x' }),
        403,
        'FORBIDDEN',
      );
      const patched = await t
        .http()
        .patch('/api/v1/roles/support')
        .set(as(team.owner, org))
        .send({ permissions: [{ resource: 'deals', actions: ['read'], scope: 'own' }] });
      expect(patched.status).toBe(200);
      expectError(await t.http().get('/api/v1/contacts').set(as(support, org)), 403, 'FORBIDDEN');
      // Now own scope: the owner's deal is invisible.
      expectError(
        await t.http().get(`/api/v1/deals/${ownersDeal}`).set(as(support, org)),
        404,
        'NOT_FOUND',
      );
    });
  });
});
