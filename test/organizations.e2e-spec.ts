import { randomUUID } from 'node:crypto';
import type { Response, Test } from 'supertest';
import {
  as,
  createTeam,
  expectError,
  register,
  uniqueEmail,
  type RoleName,
  type Session,
  type Team,
} from './support/api';
import { expectValidation, ISO_TIMESTAMP, keysOf, resource } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Users, organizations and members (API.md sections 3 and 4) and the tenant guards of
 * section 1 (X-Organization-Id, membership, role, and the "first failing rule" precedence).
 */

const API = '/api/v1';
const ORGS = `${API}/organizations`;
const CURRENT = `${ORGS}/current`;
const MEMBERS = `${CURRENT}/members`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface OrganizationBody {
  id: string;
  name: string;
  defaultCurrency: string | null;
  createdAt: string;
}
interface OrganizationWithRoleBody extends OrganizationBody {
  role: RoleName;
}
interface MemberBody {
  userId: string;
  email: string;
  name: string;
  role: RoleName;
  createdAt: string;
}
interface PageBody<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}
interface AuditRow {
  action: string;
  actor_user_id: string | null;
  organization_id: string | null;
  target_type: string | null;
  target_id: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
}

const ORGANIZATION_KEYS = ['createdAt', 'defaultCurrency', 'id', 'name'];
const ORGANIZATION_WITH_ROLE_KEYS = [...ORGANIZATION_KEYS, 'role'].sort();
const MEMBER_KEYS = ['createdAt', 'email', 'name', 'role', 'userId'];
const PAGE_KEYS = ['items', 'page', 'pageSize', 'total'];

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

describe('Users, organizations and members (API.md sections 1, 3 and 4)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  // ---------------------------------------------------------------- helpers

  const getCurrent = (s: Session, organizationId: string): Test =>
    t.http().get(CURRENT).set(as(s, organizationId));
  const patchCurrent = (s: Session, organizationId: string, body: unknown): Test =>
    t
      .http()
      .patch(CURRENT)
      .set(as(s, organizationId))
      .send(body as object);
  const members = resource(() => t, MEMBERS);
  const listMembers = members.list;
  const postMember = members.post;
  const patchMember = members.patch;
  const deleteMember = members.remove;

  async function addMember(
    by: Session,
    organizationId: string,
    email: string,
    role: RoleName,
  ): Promise<MemberBody> {
    const res = await postMember(by, organizationId, { email, role });
    expect(res.status).toBe(201);
    return res.body as MemberBody;
  }

  /** Every member of the organization (one page of 100), as seen by `s`. */
  async function allMembers(s: Session, organizationId: string): Promise<MemberBody[]> {
    const res = await listMembers(s, organizationId, '?pageSize=100');
    expect(res.status).toBe(200);
    return (res.body as PageBody<MemberBody>).items;
  }

  async function dbRole(organizationId: string, userId: string): Promise<string | null> {
    const rows: { role: string }[] = await t.db.query(
      'SELECT role FROM organization_members WHERE organization_id = $1 AND user_id = $2',
      [organizationId, userId],
    );
    return rows.length ? rows[0].role : null;
  }

  async function dbOwnerCount(organizationId: string): Promise<number> {
    const rows: { n: number }[] = await t.db.query(
      `SELECT count(*)::int AS n FROM organization_members
        WHERE organization_id = $1 AND role = 'owner'`,
      [organizationId],
    );
    return rows[0].n;
  }

  async function dbMemberCount(organizationId: string): Promise<number> {
    const rows: { n: number }[] = await t.db.query(
      'SELECT count(*)::int AS n FROM organization_members WHERE organization_id = $1',
      [organizationId],
    );
    return rows[0].n;
  }

  /** Row counts that a refused write must leave unchanged. */
  async function dbCounts(): Promise<Record<string, number>> {
    const rows: Record<string, number>[] = await t.db.query(
      `SELECT (SELECT count(*)::int FROM organizations) AS organizations,
              (SELECT count(*)::int FROM organization_members) AS memberships,
              (SELECT count(*)::int FROM audit_logs) AS audit`,
    );
    return rows[0];
  }

  async function auditRows(organizationId: string, action: string): Promise<AuditRow[]> {
    return t.db.query(
      `SELECT action, actor_user_id, organization_id, target_type, target_id, request_id, details
         FROM audit_logs WHERE organization_id = $1 AND action = $2 ORDER BY created_at, id`,
      [organizationId, action],
    );
  }

  async function orgSnapshot(s: Session, organizationId: string): Promise<OrganizationBody> {
    const res = await getCurrent(s, organizationId);
    expect(res.status).toBe(200);
    return res.body as OrganizationBody;
  }

  // ---------------------------------------------------------------- GET /users/me

  describe('GET /users/me', () => {
    it('answers 200 with exactly {id, email, name, phone, createdAt} of the caller', async () => {
      const s = await register(t, 'me');
      const res = await t.http().get(`${API}/users/me`).set(as(s));
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(['createdAt', 'email', 'id', 'name', 'phone']);
      expect(res.body).toEqual({
        id: s.userId,
        email: s.email,
        name: 'me',
        phone: null,
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
    });

    it('needs no X-Organization-Id header', async () => {
      const s = await register(t, 'me');
      const res = await t.http().get(`${API}/users/me`).set(as(s));
      expect(res.status).toBe(200);
      expect((res.body as { id: string }).id).toBe(s.userId);
    });

    it('answers 401 UNAUTHENTICATED without a token, with a malformed one, or a refresh token', async () => {
      const s = await register(t, 'me');
      expectError(await t.http().get(`${API}/users/me`), 401, 'UNAUTHENTICATED');
      expectError(
        await t.http().get(`${API}/users/me`).set('authorization', 'Bearer not.a.jwt'),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await t.http().get(`${API}/users/me`).set('authorization', `Bearer ${s.refreshToken}`),
        401,
        'UNAUTHENTICATED',
      );
    });
  });

  // ---------------------------------------------------------------- GET /organizations/me

  describe('GET /organizations/me', () => {
    it("lists the caller's organization with role as a plain array (not paginated), without the org header", async () => {
      const s = await register(t, 'mine', 'Mine Org');
      const res = await t.http().get(`${ORGS}/me`).set(as(s));
      expect(res.status).toBe(200);
      expect(Array.isArray(res.body)).toBe(true);
      const orgs = res.body as OrganizationWithRoleBody[];
      expect(orgs).toHaveLength(1);
      expect(keysOf(orgs[0])).toEqual(ORGANIZATION_WITH_ROLE_KEYS);
      expect(orgs[0]).toEqual({
        id: s.organizationId,
        name: 'Mine Org',
        defaultCurrency: null,
        role: 'owner',
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
    });

    it('lists every membership with its role after being added to another organization', async () => {
      const s = await register(t, 'mine', 'Own Org');
      const other = await register(t, 'other', 'Other Org');
      await addMember(other, other.organizationId, s.email, 'manager');
      const res = await t.http().get(`${ORGS}/me`).set(as(s));
      expect(res.status).toBe(200);
      const orgs = res.body as OrganizationWithRoleBody[];
      expect(orgs).toHaveLength(2);
      expect(orgs).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ id: s.organizationId, name: 'Own Org', role: 'owner' }),
          expect.objectContaining({ id: other.organizationId, name: 'Other Org', role: 'manager' }),
        ]),
      );
      for (const org of orgs) expect(keysOf(org)).toEqual(ORGANIZATION_WITH_ROLE_KEYS);
    });

    it('answers 401 UNAUTHENTICATED without a token', async () => {
      expectError(await t.http().get(`${ORGS}/me`), 401, 'UNAUTHENTICATED');
    });
  });

  // ---------------------------------------------------------------- POST /organizations

  describe('POST /organizations', () => {
    let s: Session;
    beforeAll(async () => {
      s = await register(t, 'creator');
    });

    it('answers 201 OrganizationWithRole; the caller is its owner and can use it at once', async () => {
      const res = await t.http().post(ORGS).set(as(s)).send({ name: 'Second Org' });
      expect(res.status).toBe(201);
      expect(keysOf(res.body)).toEqual(ORGANIZATION_WITH_ROLE_KEYS);
      const org = res.body as OrganizationWithRoleBody;
      expect(org).toEqual({
        id: expect.stringMatching(UUID),
        name: 'Second Org',
        defaultCurrency: null,
        role: 'owner',
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(await dbRole(org.id, s.userId)).toBe('owner');
      expect(await dbMemberCount(org.id)).toBe(1);

      const current = await getCurrent(s, org.id);
      expect(current.status).toBe(200);
      expect(current.body).toEqual({
        id: org.id,
        name: 'Second Org',
        defaultCurrency: null,
        createdAt: org.createdAt,
      });
      const mine = await t.http().get(`${ORGS}/me`).set(as(s));
      expect(mine.body).toEqual(
        expect.arrayContaining([expect.objectContaining({ id: org.id, role: 'owner' })]),
      );
    });

    it('accepts defaultCurrency case-insensitively and answers it upper-case', async () => {
      const res = await t
        .http()
        .post(ORGS)
        .set(as(s))
        .send({ name: 'Euro Org', defaultCurrency: 'eur' });
      expect(res.status).toBe(201);
      expect((res.body as OrganizationBody).defaultCurrency).toBe('EUR');
      const current = await getCurrent(s, (res.body as OrganizationBody).id);
      expect((current.body as OrganizationBody).defaultCurrency).toBe('EUR');
    });

    it('accepts a name of exactly 200 characters', async () => {
      const name = 'n'.repeat(200);
      const res = await t.http().post(ORGS).set(as(s)).send({ name });
      expect(res.status).toBe(201);
      expect((res.body as OrganizationBody).name).toBe(name);
    });

    it.each(['ABC', 'XXQ', 'abc'])(
      'answers 422 UNSUPPORTED_CURRENCY for %j and writes nothing',
      async (defaultCurrency) => {
        const before = await dbCounts();
        const res = await t.http().post(ORGS).set(as(s)).send({ name: 'Nope', defaultCurrency });
        expectError(res, 422, 'UNSUPPORTED_CURRENCY');
        expect(await dbCounts()).toEqual(before);
      },
    );

    it.each([
      ['defaultCurrency "EU"', { name: 'Nope', defaultCurrency: 'EU' }, 'defaultCurrency'],
      ['defaultCurrency "EURO"', { name: 'Nope', defaultCurrency: 'EURO' }, 'defaultCurrency'],
      ['defaultCurrency 123', { name: 'Nope', defaultCurrency: 123 }, 'defaultCurrency'],
      ['missing name', { defaultCurrency: 'EUR' }, 'name'],
      ['empty name', { name: '' }, 'name'],
      ['blank name', { name: '   ' }, 'name'],
      ['201-character name', { name: 'n'.repeat(201) }, 'name'],
      ['name not a string', { name: 42 }, 'name'],
      ['name null', { name: null }, 'name'],
      ['unknown property', { name: 'Nope', role: 'owner' }, 'role'],
      ['unknown property id', { name: 'Nope', id: randomUUID() }, 'id'],
    ])('answers 400 VALIDATION_FAILED for %s and writes nothing', async (_label, body, field) => {
      const before = await dbCounts();
      const res = await t.http().post(ORGS).set(as(s)).send(body);
      expectValidation(res, field);
      expect(await dbCounts()).toEqual(before);
    });

    it('answers 400 VALIDATION_FAILED for malformed JSON', async () => {
      const res = await t
        .http()
        .post(ORGS)
        .set(as(s))
        .set('content-type', 'application/json')
        .send('{"name": ');
      expectError(res, 400, 'VALIDATION_FAILED');
    });

    it('answers 401 UNAUTHENTICATED without a token and writes nothing', async () => {
      const before = await dbCounts();
      expectError(await t.http().post(ORGS).send({ name: 'Anon' }), 401, 'UNAUTHENTICATED');
      expect(await dbCounts()).toEqual(before);
    });
  });

  // ---------------------------------------------------------------- GET /organizations/current

  describe('GET /organizations/current', () => {
    let team: Team;
    beforeAll(async () => {
      team = await createTeam(t);
    });

    it.each(['owner', 'admin', 'manager', 'member'] as const)(
      'answers 200 Organization {id, name, defaultCurrency, createdAt} (no role) to the %s',
      async (role) => {
        const res = await getCurrent(team[role], team.organizationId);
        expect(res.status).toBe(200);
        expect(keysOf(res.body)).toEqual(ORGANIZATION_KEYS);
        expect(res.body).toEqual({
          id: team.organizationId,
          name: 'Team Org',
          defaultCurrency: null,
          createdAt: expect.stringMatching(ISO_TIMESTAMP),
        });
      },
    );
  });

  // ---------------------------------------------------------------- PATCH /organizations/current

  describe('PATCH /organizations/current', () => {
    let team: Team;
    beforeAll(async () => {
      team = await createTeam(t);
    });

    it('lets the owner rename the organization (200 Organization)', async () => {
      const res = await patchCurrent(team.owner, team.organizationId, { name: 'Renamed by owner' });
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(ORGANIZATION_KEYS);
      expect(res.body).toEqual({
        id: team.organizationId,
        name: 'Renamed by owner',
        defaultCurrency: null,
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect((await orgSnapshot(team.member, team.organizationId)).name).toBe('Renamed by owner');
    });

    it('lets the admin change the default currency (case-insensitive) and keeps the name', async () => {
      const res = await patchCurrent(team.admin, team.organizationId, { defaultCurrency: 'chf' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(
        expect.objectContaining({ name: 'Renamed by owner', defaultCurrency: 'CHF' }),
      );
      expect(await orgSnapshot(team.manager, team.organizationId)).toEqual(
        expect.objectContaining({ name: 'Renamed by owner', defaultCurrency: 'CHF' }),
      );
    });

    it('sets defaultCurrency to null', async () => {
      await patchCurrent(team.owner, team.organizationId, { defaultCurrency: 'GBP' }).expect(200);
      const res = await patchCurrent(team.owner, team.organizationId, { defaultCurrency: null });
      expect(res.status).toBe(200);
      expect((res.body as OrganizationBody).defaultCurrency).toBeNull();
      expect((await orgSnapshot(team.owner, team.organizationId)).defaultCurrency).toBeNull();
    });

    it.each(['manager', 'member'] as const)(
      'answers 403 FORBIDDEN to the %s and changes nothing',
      async (role) => {
        const before = await orgSnapshot(team.owner, team.organizationId);
        const res = await patchCurrent(team[role], team.organizationId, {
          name: 'Hijacked',
          defaultCurrency: 'JPY',
        });
        expectError(res, 403, 'FORBIDDEN');
        expect(await orgSnapshot(team.owner, team.organizationId)).toEqual(before);
      },
    );

    it.each([
      ['name null', { name: null }, 'name'],
      ['empty name', { name: '' }, 'name'],
      ['201-character name', { name: 'x'.repeat(201) }, 'name'],
      ['name not a string', { name: ['a'] }, 'name'],
      ['defaultCurrency "EU"', { defaultCurrency: 'EU' }, 'defaultCurrency'],
      ['defaultCurrency 123', { defaultCurrency: 123 }, 'defaultCurrency'],
      ['unknown property', { name: 'Valid', createdAt: '2020-01-01T00:00:00.000Z' }, 'createdAt'],
      ['unknown property id', { id: randomUUID() }, 'id'],
    ])('answers 400 VALIDATION_FAILED for %s and changes nothing', async (_label, body, field) => {
      const before = await orgSnapshot(team.owner, team.organizationId);
      const res = await patchCurrent(team.owner, team.organizationId, body);
      expectValidation(res, field);
      expect(await orgSnapshot(team.owner, team.organizationId)).toEqual(before);
    });

    it.each(['XXQ', 'abc'])(
      'answers 422 UNSUPPORTED_CURRENCY for %j and changes nothing (not even a valid name in the same body)',
      async (defaultCurrency) => {
        const before = await orgSnapshot(team.owner, team.organizationId);
        const res = await patchCurrent(team.admin, team.organizationId, {
          name: 'Should not stick',
          defaultCurrency,
        });
        expectError(res, 422, 'UNSUPPORTED_CURRENCY');
        expect(await orgSnapshot(team.owner, team.organizationId)).toEqual(before);
      },
    );

    it('does not change another organization', async () => {
      const before = await orgSnapshot(team.outsider, team.outsider.organizationId);
      await patchCurrent(team.owner, team.organizationId, { name: 'Only mine' }).expect(200);
      expect(await orgSnapshot(team.outsider, team.outsider.organizationId)).toEqual(before);
    });
  });

  // ---------------------------------------------------------------- GET /organizations/current/members

  describe('GET /organizations/current/members', () => {
    let team: Team;
    let extras: Session[];
    let everyone: Session[];
    beforeAll(async () => {
      team = await createTeam(t);
      extras = [];
      // three members with the same name: sorting by name has ties to break
      for (let i = 0; i < 3; i += 1) {
        const s = await register(t, 'extra');
        await addMember(team.owner, team.organizationId, s.email, 'member');
        extras.push(s);
      }
      everyone = [team.owner, team.admin, team.manager, team.member, ...extras];
    });

    it('answers {items, total, page, pageSize} of Members, newest first by default', async () => {
      const res = await listMembers(team.member, team.organizationId);
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(PAGE_KEYS);
      const page = res.body as PageBody<MemberBody>;
      expect(page).toEqual(expect.objectContaining({ total: 7, page: 1, pageSize: 20 }));
      expect(page.items).toHaveLength(7);
      for (const item of page.items) {
        expect(keysOf(item)).toEqual(MEMBER_KEYS);
        expect(item.createdAt).toMatch(ISO_TIMESTAMP);
      }
      expect(page.items.map((m) => m.userId).sort()).toEqual(everyone.map((s) => s.userId).sort());
      const expectedRoles: Record<string, RoleName> = {
        [team.owner.userId]: 'owner',
        [team.admin.userId]: 'admin',
        [team.manager.userId]: 'manager',
        [team.member.userId]: 'member',
      };
      for (const item of page.items) {
        expect(item.role).toBe(expectedRoles[item.userId] ?? 'member');
        const session = everyone.find((s) => s.userId === item.userId)!;
        expect(item.email).toBe(session.email);
      }
      const owner = page.items.find((m) => m.userId === team.owner.userId)!;
      expect(owner.name).toBe('owner');
      // default order: createdAt desc (the owner joined first, the last extra last)
      expect(page.items[0].userId).toBe(extras[2].userId);
      expect(page.items[6].userId).toBe(team.owner.userId);
      const joined = page.items.map((m) => m.createdAt);
      expect(joined).toEqual([...joined].sort().reverse());
    });

    it.each(['owner', 'admin', 'manager'] as const)('is readable by the %s', async (role) => {
      const res = await listMembers(team[role], team.organizationId);
      expect(res.status).toBe(200);
      expect((res.body as PageBody<MemberBody>).total).toBe(7);
    });

    it('pages with pageSize=2 cover every member exactly once', async () => {
      const seen: string[] = [];
      for (let page = 1; page <= 4; page += 1) {
        const res = await listMembers(team.owner, team.organizationId, `?page=${page}&pageSize=2`);
        expect(res.status).toBe(200);
        const body = res.body as PageBody<MemberBody>;
        expect(body).toEqual(expect.objectContaining({ total: 7, page, pageSize: 2 }));
        expect(body.items).toHaveLength(page < 4 ? 2 : 1);
        seen.push(...body.items.map((m) => m.userId));
      }
      expect(new Set(seen).size).toBe(7);
      expect([...seen].sort()).toEqual(everyone.map((s) => s.userId).sort());
      const beyond = await listMembers(team.owner, team.organizationId, '?page=5&pageSize=2');
      expect(beyond.status).toBe(200);
      expect(beyond.body).toEqual({ items: [], total: 7, page: 5, pageSize: 2 });
    });

    it('pages without repeats when the sort key ties (orderBy=name, pageSize=1)', async () => {
      const seen: string[] = [];
      for (let page = 1; page <= 7; page += 1) {
        const res = await listMembers(
          team.owner,
          team.organizationId,
          `?orderBy=name&order=asc&page=${page}&pageSize=1`,
        );
        expect(res.status).toBe(200);
        seen.push(...(res.body as PageBody<MemberBody>).items.map((m) => m.userId));
      }
      expect(new Set(seen).size).toBe(7);
    });

    it('sorts by email ascending and descending', async () => {
      const emails = everyone.map((s) => s.email).sort(byCodeUnit);
      const asc = await listMembers(team.owner, team.organizationId, '?orderBy=email&order=asc');
      expect(asc.status).toBe(200);
      expect((asc.body as PageBody<MemberBody>).items.map((m) => m.email)).toEqual(emails);
      const desc = await listMembers(team.owner, team.organizationId, '?orderBy=email&order=desc');
      expect(desc.status).toBe(200);
      expect((desc.body as PageBody<MemberBody>).items.map((m) => m.email)).toEqual(
        [...emails].reverse(),
      );
    });

    it('sorts by name ascending', async () => {
      const res = await listMembers(team.owner, team.organizationId, '?orderBy=name&order=asc');
      expect(res.status).toBe(200);
      const names = (res.body as PageBody<MemberBody>).items.map((m) => m.name);
      expect(names).toEqual([...names].sort(byCodeUnit));
      expect(names[0]).toBe('admin');
    });

    it('accepts the bounds page=1, pageSize=1 and pageSize=100', async () => {
      const one = await listMembers(team.owner, team.organizationId, '?page=1&pageSize=1');
      expect(one.status).toBe(200);
      expect((one.body as PageBody<MemberBody>).items).toHaveLength(1);
      const hundred = await listMembers(team.owner, team.organizationId, '?pageSize=100');
      expect(hundred.status).toBe(200);
      expect((hundred.body as PageBody<MemberBody>).pageSize).toBe(100);
    });

    it.each([
      ['page=0', 'page'],
      ['page=-1', 'page'],
      ['page=abc', 'page'],
      ['page=1.5', 'page'],
      ['pageSize=0', 'pageSize'],
      ['pageSize=101', 'pageSize'],
      ['pageSize=abc', 'pageSize'],
      ['order=sideways', 'order'],
      ['orderBy=role', 'orderBy'],
      ['orderBy=passwordHash', 'orderBy'],
      ['foo=bar', 'foo'],
      ['organizationId=00000000-0000-4000-8000-000000000000', 'organizationId'],
    ])('answers 400 VALIDATION_FAILED for ?%s', async (query, field) => {
      const res = await listMembers(team.owner, team.organizationId, `?${query}`);
      expectValidation(res, field);
    });

    describe('keyset pagination (limit, cursor)', () => {
      interface CursorBody {
        items: MemberBody[];
        nextCursor: string | null;
      }
      const walk = async (query: string): Promise<{ ids: string[]; pages: CursorBody[] }> => {
        const pages: CursorBody[] = [];
        let cursor: string | null = null;
        do {
          const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
          const res = await listMembers(team.owner, team.organizationId, `?${query}${suffix}`);
          expect(res.status).toBe(200);
          expect(Object.keys(res.body as object).sort()).toEqual(['items', 'nextCursor']);
          const body = res.body as CursorBody;
          pages.push(body);
          cursor = body.nextCursor;
        } while (cursor && pages.length < 20);
        return { ids: pages.flatMap((p) => p.items.map((m) => m.userId)), pages };
      };

      it('walks every member once, in the same order as offset pages, ending with nextCursor null', async () => {
        const { ids, pages } = await walk('limit=2');
        expect(pages.map((p) => p.items.length)).toEqual([2, 2, 2, 1]);
        expect(pages[3].nextCursor).toBeNull();
        const offset = await listMembers(team.owner, team.organizationId, '?pageSize=100');
        expect(ids).toEqual((offset.body as PageBody<MemberBody>).items.map((m) => m.userId));
      });

      it('breaks ties on the sort key (orderBy=name, limit=1) and supports ascending order', async () => {
        const { ids } = await walk('orderBy=name&order=asc&limit=1');
        expect(new Set(ids).size).toBe(7);
        const offset = await listMembers(
          team.owner,
          team.organizationId,
          '?orderBy=name&order=asc&pageSize=100',
        );
        expect(ids).toEqual((offset.body as PageBody<MemberBody>).items.map((m) => m.userId));
      });

      it('defaults limit to 20 when only a cursor-less keyset request is made', async () => {
        const res = await listMembers(
          team.owner,
          team.organizationId,
          '?limit=20&orderBy=email&order=desc',
        );
        expect(res.status).toBe(200);
        expect((res.body as CursorBody).items).toHaveLength(7);
        expect((res.body as CursorBody).nextCursor).toBeNull();
      });

      it.each([
        ['limit=2&page=1', 'limit'],
        ['limit=2&pageSize=5', 'limit'],
        ['cursor=abc&page=2', 'cursor'],
        ['limit=0', 'limit'],
        ['limit=101', 'limit'],
        ['limit=abc', 'limit'],
        ['cursor=not-a-cursor', 'cursor'],
      ])('answers 400 VALIDATION_FAILED for ?%s', async (query, field) => {
        expectValidation(await listMembers(team.owner, team.organizationId, `?${query}`), field);
      });

      it('refuses a tampered cursor and a cursor of another ordering or organization', async () => {
        const first = await listMembers(team.owner, team.organizationId, '?limit=2&orderBy=email');
        const cursor = (first.body as CursorBody).nextCursor!;
        const [body, signature] = cursor.split('.');
        const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<
          string,
          unknown
        >;
        const forged = `${Buffer.from(JSON.stringify({ ...payload, id: team.owner.userId })).toString('base64url')}.${signature}`;
        for (const bad of [forged, `${body}.${signature.slice(1)}x`, `${cursor}.extra`]) {
          const res = await listMembers(
            team.owner,
            team.organizationId,
            `?limit=2&orderBy=email&cursor=${encodeURIComponent(bad)}`,
          );
          expectValidation(res, 'cursor');
        }
        const otherOrdering = await listMembers(
          team.owner,
          team.organizationId,
          `?limit=2&orderBy=name&cursor=${encodeURIComponent(cursor)}`,
        );
        expectValidation(otherOrdering, 'cursor');
        const otherOrder = await listMembers(
          team.owner,
          team.organizationId,
          `?limit=2&orderBy=email&order=asc&cursor=${encodeURIComponent(cursor)}`,
        );
        expectValidation(otherOrder, 'cursor');
        const created = await t
          .http()
          .post('/api/v1/organizations')
          .set(as(team.owner))
          .send({ name: 'Second org of the owner' });
        expect(created.status).toBe(201);
        const otherOrg = await listMembers(
          team.owner,
          (created.body as { id: string }).id,
          `?limit=2&orderBy=email&cursor=${encodeURIComponent(cursor)}`,
        );
        expectValidation(otherOrg, 'cursor');
      });
    });
  });

  // ---------------------------------------------------------------- POST /organizations/current/members

  describe('POST /organizations/current/members', () => {
    let team: Team;
    beforeAll(async () => {
      team = await createTeam(t);
    });

    it.each(['owner', 'admin', 'manager', 'member'] as const)(
      'lets the owner add a %s (201 Member)',
      async (role) => {
        const user = await register(t, `new-${role}`);
        const res = await postMember(team.owner, team.organizationId, { email: user.email, role });
        expect(res.status).toBe(201);
        expect(keysOf(res.body)).toEqual(MEMBER_KEYS);
        expect(res.body).toEqual({
          userId: user.userId,
          email: user.email,
          name: `new-${role}`,
          role,
          createdAt: expect.stringMatching(ISO_TIMESTAMP),
        });
        expect(await dbRole(team.organizationId, user.userId)).toBe(role);
        // the new member can act in the organization with that role at once
        expect((await getCurrent(user, team.organizationId)).status).toBe(200);
      },
    );

    it.each(['manager', 'member'] as const)('lets the admin add a %s', async (role) => {
      const user = await register(t, `by-admin-${role}`);
      const res = await postMember(team.admin, team.organizationId, { email: user.email, role });
      expect(res.status).toBe(201);
      expect((res.body as MemberBody).role).toBe(role);
      expect(await dbRole(team.organizationId, user.userId)).toBe(role);
    });

    it.each(['owner', 'admin'] as const)(
      'answers 403 FORBIDDEN when the admin adds an %s, and writes nothing',
      async (role) => {
        const user = await register(t, `denied-${role}`);
        const before = await dbCounts();
        const res = await postMember(team.admin, team.organizationId, { email: user.email, role });
        expectError(res, 403, 'FORBIDDEN');
        expect(await dbRole(team.organizationId, user.userId)).toBeNull();
        expect(await dbCounts()).toEqual(before);
      },
    );

    it.each(['manager', 'member'] as const)(
      'answers 403 FORBIDDEN to a %s, whatever the role, and writes nothing',
      async (caller) => {
        const user = await register(t, `denied-by-${caller}`);
        for (const role of ['member', 'manager', 'admin', 'owner'] as const) {
          const res = await postMember(team[caller], team.organizationId, {
            email: user.email,
            role,
          });
          expectError(res, 403, 'FORBIDDEN');
        }
        expect(await dbRole(team.organizationId, user.userId)).toBeNull();
      },
    );

    it('answers 404 NOT_FOUND for an email that is not registered', async () => {
      const before = await dbCounts();
      const res = await postMember(team.owner, team.organizationId, {
        email: uniqueEmail('ghost'),
        role: 'member',
      });
      expectError(res, 404, 'NOT_FOUND');
      expect(await dbCounts()).toEqual(before);
    });

    it('answers 409 ALREADY_MEMBER for a member (any role, any letter case) and changes nothing', async () => {
      const before = await dbCounts();
      expectError(
        await postMember(team.owner, team.organizationId, {
          email: team.member.email,
          role: 'admin',
        }),
        409,
        'ALREADY_MEMBER',
      );
      expectError(
        await postMember(team.admin, team.organizationId, {
          email: team.manager.email.toUpperCase(),
          role: 'member',
        }),
        409,
        'ALREADY_MEMBER',
      );
      expectError(
        await postMember(team.owner, team.organizationId, {
          email: team.owner.email,
          role: 'owner',
        }),
        409,
        'ALREADY_MEMBER',
      );
      expect(await dbRole(team.organizationId, team.member.userId)).toBe('member');
      expect(await dbCounts()).toEqual(before);
    });

    it('decides 404 (no such user) before 403 (admin granting owner) before 409 (already a member)', async () => {
      const before = await dbCounts();
      expectError(
        await postMember(team.admin, team.organizationId, {
          email: uniqueEmail('ghost'),
          role: 'owner',
        }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await postMember(team.admin, team.organizationId, {
          email: team.member.email,
          role: 'owner',
        }),
        403,
        'FORBIDDEN',
      );
      expect(await dbCounts()).toEqual(before);
    });

    it('trims and lower-cases the email', async () => {
      const user = await register(t, 'casey');
      const res = await postMember(team.owner, team.organizationId, {
        email: `  ${user.email.toUpperCase()}  `,
        role: 'member',
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual(expect.objectContaining({ userId: user.userId, email: user.email }));
    });

    it.each([
      ['role "superuser"', { role: 'superuser' }, 'role'],
      ['role "OWNER"', { role: 'OWNER' }, 'role'],
      ['role missing', {}, 'role'],
      ['role null', { role: null }, 'role'],
      ['email missing', { email: undefined, role: 'member' }, 'email'],
      ['email invalid', { email: 'not-an-email', role: 'member' }, 'email'],
      ['unknown property', { role: 'member', userId: randomUUID() }, 'userId'],
    ])('answers 400 VALIDATION_FAILED for %s and writes nothing', async (_label, extra, field) => {
      const user = await register(t, 'invalid-add');
      const before = await dbCounts();
      const res = await postMember(team.owner, team.organizationId, {
        email: user.email,
        ...extra,
      });
      expectValidation(res, field);
      expect(await dbCounts()).toEqual(before);
    });

    it('lets a user who was refused as a non-member in before use the organization right after being added', async () => {
      const user = await register(t, 'latecomer');
      expectError(await getCurrent(user, team.organizationId), 403, 'NOT_A_MEMBER');
      await addMember(team.owner, team.organizationId, user.email, 'member');
      expect((await getCurrent(user, team.organizationId)).status).toBe(200);
    });
  });

  // ---------------------------------------------------------------- PATCH /organizations/current/members/{userId}

  describe('PATCH /organizations/current/members/{userId}', () => {
    let team: Team;
    beforeEach(async () => {
      team = await createTeam(t);
    });

    it('lets the owner change any role, including promoting to owner (200 Member)', async () => {
      const res = await patchMember(team.owner, team.organizationId, team.member.userId, {
        role: 'manager',
      });
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(MEMBER_KEYS);
      expect(res.body).toEqual({
        userId: team.member.userId,
        email: team.member.email,
        name: 'member',
        role: 'manager',
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(await dbRole(team.organizationId, team.member.userId)).toBe('manager');

      const demoted = await patchMember(team.owner, team.organizationId, team.admin.userId, {
        role: 'member',
      });
      expect(demoted.status).toBe(200);
      expect(await dbRole(team.organizationId, team.admin.userId)).toBe('member');

      const promoted = await patchMember(team.owner, team.organizationId, team.manager.userId, {
        role: 'owner',
      });
      expect(promoted.status).toBe(200);
      expect((promoted.body as MemberBody).role).toBe('owner');
      expect(await dbOwnerCount(team.organizationId)).toBe(2);
      // the new owner may now manage owners and admins
      const res2 = await patchMember(team.manager, team.organizationId, team.member.userId, {
        role: 'admin',
      });
      expect(res2.status).toBe(200);
    });

    it('lets the admin switch a member between manager and member', async () => {
      const up = await patchMember(team.admin, team.organizationId, team.member.userId, {
        role: 'manager',
      });
      expect(up.status).toBe(200);
      expect((up.body as MemberBody).role).toBe('manager');
      const down = await patchMember(team.admin, team.organizationId, team.manager.userId, {
        role: 'member',
      });
      expect(down.status).toBe(200);
      expect(await dbRole(team.organizationId, team.member.userId)).toBe('manager');
      expect(await dbRole(team.organizationId, team.manager.userId)).toBe('member');
    });

    it('answers 403 FORBIDDEN when the admin grants admin/owner or touches an owner or admin', async () => {
      const secondAdmin = await register(t, 'admin2');
      await addMember(team.owner, team.organizationId, secondAdmin.email, 'admin');
      const attempts: [string, RoleName][] = [
        [team.member.userId, 'admin'],
        [team.member.userId, 'owner'],
        [team.manager.userId, 'admin'],
        [team.owner.userId, 'admin'],
        [team.owner.userId, 'member'],
        [secondAdmin.userId, 'member'],
        [secondAdmin.userId, 'owner'],
        [team.admin.userId, 'manager'],
      ];
      const before = await dbCounts();
      for (const [userId, role] of attempts) {
        expectError(
          await patchMember(team.admin, team.organizationId, userId, { role }),
          403,
          'FORBIDDEN',
        );
      }
      expect(await dbCounts()).toEqual(before);
      expect(await dbRole(team.organizationId, team.member.userId)).toBe('member');
      expect(await dbRole(team.organizationId, team.manager.userId)).toBe('manager');
      expect(await dbRole(team.organizationId, team.owner.userId)).toBe('owner');
      expect(await dbRole(team.organizationId, secondAdmin.userId)).toBe('admin');
      expect(await dbRole(team.organizationId, team.admin.userId)).toBe('admin');
    });

    it.each(['manager', 'member'] as const)('answers 403 FORBIDDEN to a %s', async (caller) => {
      const target = caller === 'member' ? team.manager : team.member;
      const res = await patchMember(team[caller], team.organizationId, target.userId, {
        role: 'manager',
      });
      expectError(res, 403, 'FORBIDDEN');
      expectError(
        await patchMember(team[caller], team.organizationId, team[caller].userId, {
          role: 'owner',
        }),
        403,
        'FORBIDDEN',
      );
      expect(await dbRole(team.organizationId, team[caller].userId)).toBe(caller);
    });

    it.each(['admin', 'manager', 'member'] as const)(
      'answers 409 LAST_OWNER when the last owner demotes himself to %s',
      async (role) => {
        const before = await dbCounts();
        const res = await patchMember(team.owner, team.organizationId, team.owner.userId, {
          role,
        });
        expectError(res, 409, 'LAST_OWNER');
        expect(await dbRole(team.organizationId, team.owner.userId)).toBe('owner');
        expect(await dbCounts()).toEqual(before);
      },
    );

    it('answers 403 FORBIDDEN (not 409) when an admin demotes the last owner', async () => {
      const res = await patchMember(team.admin, team.organizationId, team.owner.userId, {
        role: 'member',
      });
      expectError(res, 403, 'FORBIDDEN');
      expect(await dbRole(team.organizationId, team.owner.userId)).toBe('owner');
    });

    it('lets one of two owners demote the other, then the remaining one is the last owner', async () => {
      await patchMember(team.owner, team.organizationId, team.admin.userId, {
        role: 'owner',
      }).expect(200);
      const res = await patchMember(team.admin, team.organizationId, team.owner.userId, {
        role: 'admin',
      });
      expect(res.status).toBe(200);
      expect(await dbOwnerCount(team.organizationId)).toBe(1);
      expectError(
        await patchMember(team.admin, team.organizationId, team.admin.userId, { role: 'member' }),
        409,
        'LAST_OWNER',
      );
    });

    it('answers 404 NOT_FOUND for a userId that is not a member (unknown or registered elsewhere)', async () => {
      const before = await dbCounts();
      expectError(
        await patchMember(team.owner, team.organizationId, randomUUID(), { role: 'member' }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await patchMember(team.owner, team.organizationId, team.outsider.userId, {
          role: 'member',
        }),
        404,
        'NOT_FOUND',
      );
      // visibility (404) is decided before who may change what (403)
      expectError(
        await patchMember(team.admin, team.organizationId, randomUUID(), { role: 'owner' }),
        404,
        'NOT_FOUND',
      );
      expect(await dbCounts()).toEqual(before);
    });

    it.each([
      ['not-a-uuid', { role: 'member' }, 'userId'],
      ['123', { role: 'member' }, 'userId'],
    ])('answers 400 VALIDATION_FAILED for userId %j', async (userId, body, field) => {
      expectValidation(await patchMember(team.owner, team.organizationId, userId, body), field);
    });

    it.each([
      ['role "superuser"', { role: 'superuser' }],
      ['role missing', {}],
      ['role null', { role: null }],
      ['unknown property', { role: 'manager', email: 'x@example.com' }],
    ])('answers 400 VALIDATION_FAILED for %s and changes nothing', async (_label, body) => {
      const before = await dbCounts();
      const res = await patchMember(team.owner, team.organizationId, team.member.userId, body);
      expectValidation(res);
      expect(await dbRole(team.organizationId, team.member.userId)).toBe('member');
      expect(await dbCounts()).toEqual(before);
    });

    it('checks the body (400) before whether the userId is a member (404)', async () => {
      expectValidation(
        await patchMember(team.owner, team.organizationId, randomUUID(), { role: 'boss' }),
        'role',
      );
    });

    it("applies a role change to the target's very next request", async () => {
      // warm up any per-request membership lookups as a plain member
      expectError(
        await patchCurrent(team.member, team.organizationId, { name: 'Member try' }),
        403,
        'FORBIDDEN',
      );
      await patchMember(team.owner, team.organizationId, team.member.userId, {
        role: 'admin',
      }).expect(200);
      const asAdmin = await patchCurrent(team.member, team.organizationId, { name: 'Now admin' });
      expect(asAdmin.status).toBe(200);
      expect((asAdmin.body as OrganizationBody).name).toBe('Now admin');

      await patchMember(team.owner, team.organizationId, team.member.userId, {
        role: 'member',
      }).expect(200);
      expectError(
        await patchCurrent(team.member, team.organizationId, { name: 'Member again' }),
        403,
        'FORBIDDEN',
      );
      expect((await orgSnapshot(team.owner, team.organizationId)).name).toBe('Now admin');
    });

    it('takes an owner demotion into account at once for the demoted owner', async () => {
      await patchMember(team.owner, team.organizationId, team.admin.userId, {
        role: 'owner',
      }).expect(200);
      // team.admin is now an owner and uses it
      await patchMember(team.admin, team.organizationId, team.manager.userId, {
        role: 'admin',
      }).expect(200);
      await patchMember(team.owner, team.organizationId, team.admin.userId, {
        role: 'member',
      }).expect(200);
      expectError(
        await patchMember(team.admin, team.organizationId, team.member.userId, {
          role: 'manager',
        }),
        403,
        'FORBIDDEN',
      );
    });
  });

  // ---------------------------------------------------------------- DELETE /organizations/current/members/{userId}

  describe('DELETE /organizations/current/members/{userId}', () => {
    let team: Team;
    beforeEach(async () => {
      team = await createTeam(t);
    });

    it('answers 204 and the removed user is NOT_A_MEMBER on their very next request', async () => {
      // the member has been using the organization (any cached membership is warm)
      expect((await getCurrent(team.member, team.organizationId)).status).toBe(200);
      expect((await listMembers(team.member, team.organizationId)).status).toBe(200);

      const res = await deleteMember(team.owner, team.organizationId, team.member.userId);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect(await dbRole(team.organizationId, team.member.userId)).toBeNull();

      expectError(await getCurrent(team.member, team.organizationId), 403, 'NOT_A_MEMBER');
      expectError(await listMembers(team.member, team.organizationId), 403, 'NOT_A_MEMBER');
      const mine = await t.http().get(`${ORGS}/me`).set(as(team.member));
      expect((mine.body as OrganizationWithRoleBody[]).map((o) => o.id)).toEqual([
        team.member.organizationId,
      ]);
      const members = await allMembers(team.owner, team.organizationId);
      expect(members.map((m) => m.userId)).not.toContain(team.member.userId);
    });

    it('lets a removed user be added again', async () => {
      await deleteMember(team.owner, team.organizationId, team.member.userId).expect(204);
      await addMember(team.admin, team.organizationId, team.member.email, 'manager');
      expect((await getCurrent(team.member, team.organizationId)).status).toBe(200);
      expect(await dbRole(team.organizationId, team.member.userId)).toBe('manager');
    });

    it('lets the owner remove an admin and the admin remove a manager and a member', async () => {
      await deleteMember(team.admin, team.organizationId, team.manager.userId).expect(204);
      await deleteMember(team.admin, team.organizationId, team.member.userId).expect(204);
      await deleteMember(team.owner, team.organizationId, team.admin.userId).expect(204);
      expect(await dbMemberCount(team.organizationId)).toBe(1);
      expectError(
        await patchCurrent(team.admin, team.organizationId, { name: 'Gone' }),
        403,
        'NOT_A_MEMBER',
      );
    });

    it('answers 403 FORBIDDEN when an admin removes an owner or an admin (himself included)', async () => {
      const secondAdmin = await register(t, 'admin2');
      await addMember(team.owner, team.organizationId, secondAdmin.email, 'admin');
      const before = await dbCounts();
      for (const target of [team.owner, secondAdmin, team.admin]) {
        expectError(
          await deleteMember(team.admin, team.organizationId, target.userId),
          403,
          'FORBIDDEN',
        );
      }
      expect(await dbCounts()).toEqual(before);
    });

    it.each(['manager', 'member'] as const)(
      'answers 403 FORBIDDEN to a %s (even for himself)',
      async (caller) => {
        const before = await dbCounts();
        const other = caller === 'member' ? team.manager : team.member;
        for (const target of [other, team[caller], team.owner]) {
          expectError(
            await deleteMember(team[caller], team.organizationId, target.userId),
            403,
            'FORBIDDEN',
          );
        }
        expect(await dbCounts()).toEqual(before);
      },
    );

    it('answers 409 LAST_OWNER when the last owner removes himself', async () => {
      const before = await dbCounts();
      expectError(
        await deleteMember(team.owner, team.organizationId, team.owner.userId),
        409,
        'LAST_OWNER',
      );
      expect(await dbRole(team.organizationId, team.owner.userId)).toBe('owner');
      expect(await dbCounts()).toEqual(before);
    });

    it('with two owners, one owner removes the other; then the remaining one is the last owner', async () => {
      const second = await register(t, 'owner2');
      await addMember(team.owner, team.organizationId, second.email, 'owner');
      await deleteMember(second, team.organizationId, team.owner.userId).expect(204);
      expect(await dbRole(team.organizationId, team.owner.userId)).toBeNull();
      expect(await dbOwnerCount(team.organizationId)).toBe(1);
      expectError(await getCurrent(team.owner, team.organizationId), 403, 'NOT_A_MEMBER');
      expectError(
        await deleteMember(second, team.organizationId, second.userId),
        409,
        'LAST_OWNER',
      );
    });

    it('answers 404 NOT_FOUND for a userId that is not a member', async () => {
      const before = await dbCounts();
      expectError(
        await deleteMember(team.owner, team.organizationId, randomUUID()),
        404,
        'NOT_FOUND',
      );
      expectError(
        await deleteMember(team.admin, team.organizationId, team.outsider.userId),
        404,
        'NOT_FOUND',
      );
      expect(await dbCounts()).toEqual(before);
    });

    it('answers 400 VALIDATION_FAILED for a userId that is not a UUID', async () => {
      expectValidation(await deleteMember(team.owner, team.organizationId, 'not-a-uuid'), 'userId');
    });
  });

  // ---------------------------------------------------------------- concurrency

  describe('two owners acting on each other at the same time', () => {
    let a: Session;
    let b: Session;
    beforeAll(async () => {
      a = await register(t, 'race-a');
      b = await register(t, 'race-b');
    });

    /** A fresh organization owned by exactly `a` and `b`, both having used it already. */
    async function twoOwners(): Promise<string> {
      const res = await t.http().post(ORGS).set(as(a)).send({ name: 'Race Org' });
      expect(res.status).toBe(201);
      const organizationId = (res.body as OrganizationBody).id;
      await addMember(a, organizationId, b.email, 'owner');
      await getCurrent(a, organizationId).expect(200);
      await getCurrent(b, organizationId).expect(200);
      expect(await dbOwnerCount(organizationId)).toBe(2);
      return organizationId;
    }

    async function expectOneWinner(
      organizationId: string,
      responses: Response[],
      success: number,
    ): Promise<void> {
      const winners = responses.filter((r) => r.status === success);
      expect(winners).toHaveLength(1);
      for (const r of responses.filter((x) => x.status !== success)) {
        const code = (r.body as { code?: string }).code;
        expect([`${r.status} ${code}`]).toEqual([
          expect.stringMatching(/^(409 LAST_OWNER|403 FORBIDDEN)$/),
        ]);
      }
      expect(await dbOwnerCount(organizationId)).toBe(1);
    }

    it('each demoting the other: exactly one succeeds and one owner remains', async () => {
      for (let round = 0; round < 5; round += 1) {
        const organizationId = await twoOwners();
        const responses = await Promise.all([
          patchMember(a, organizationId, b.userId, { role: 'member' }),
          patchMember(b, organizationId, a.userId, { role: 'member' }),
        ]);
        await expectOneWinner(organizationId, responses, 200);
        expect(await dbMemberCount(organizationId)).toBe(2);
      }
    });

    it('each removing the other: exactly one succeeds and one owner remains', async () => {
      for (let round = 0; round < 5; round += 1) {
        const organizationId = await twoOwners();
        const responses = await Promise.all([
          deleteMember(a, organizationId, b.userId),
          deleteMember(b, organizationId, a.userId),
        ]);
        await expectOneWinner(organizationId, responses, 204);
        expect(await dbMemberCount(organizationId)).toBe(1);
      }
    });

    it('one demoting, the other removing: at most one succeeds and an owner remains', async () => {
      for (let round = 0; round < 3; round += 1) {
        const organizationId = await twoOwners();
        const responses = await Promise.all([
          patchMember(a, organizationId, b.userId, { role: 'admin' }),
          deleteMember(b, organizationId, a.userId),
        ]);
        const ok = responses.filter((r) => r.status === 200 || r.status === 204);
        expect(ok.length).toBeLessThanOrEqual(1);
        for (const r of responses) expect([200, 204, 403, 409]).toContain(r.status);
        expect(await dbOwnerCount(organizationId)).toBeGreaterThanOrEqual(1);
      }
    });

    it('each demoting himself: exactly one succeeds and one owner remains', async () => {
      for (let round = 0; round < 3; round += 1) {
        const organizationId = await twoOwners();
        const responses = await Promise.all([
          patchMember(a, organizationId, a.userId, { role: 'manager' }),
          patchMember(b, organizationId, b.userId, { role: 'manager' }),
        ]);
        await expectOneWinner(organizationId, responses, 200);
      }
    });
  });

  // ---------------------------------------------------------------- tenant guard

  describe('tenant guard (X-Organization-Id, membership, role, precedence)', () => {
    let team: Team;
    let bystander: Session;
    beforeAll(async () => {
      team = await createTeam(t);
      bystander = await register(t, 'bystander');
    });

    const routes: { label: string; call: (headers: Record<string, string>) => Test }[] = [
      { label: 'GET /organizations/current', call: (h) => t.http().get(CURRENT).set(h) },
      {
        label: 'PATCH /organizations/current',
        call: (h) => t.http().patch(CURRENT).set(h).send({ name: 'Guarded' }),
      },
      { label: 'GET /organizations/current/members', call: (h) => t.http().get(MEMBERS).set(h) },
      {
        label: 'POST /organizations/current/members',
        call: (h) => t.http().post(MEMBERS).set(h).send({ email: bystander.email, role: 'member' }),
      },
      {
        label: 'PATCH /organizations/current/members/{userId}',
        call: (h) =>
          t.http().patch(`${MEMBERS}/${team.member.userId}`).set(h).send({ role: 'manager' }),
      },
      {
        label: 'DELETE /organizations/current/members/{userId}',
        call: (h) => t.http().delete(`${MEMBERS}/${team.member.userId}`).set(h),
      },
    ];

    /** The guards refused before any handler ran: the team is exactly as createTeam left it. */
    async function expectTeamUntouched(): Promise<void> {
      expect((await orgSnapshot(team.owner, team.organizationId)).name).toBe('Team Org');
      expect(await dbMemberCount(team.organizationId)).toBe(4);
      expect(await dbRole(team.organizationId, team.member.userId)).toBe('member');
      expect(await dbRole(team.organizationId, bystander.userId)).toBeNull();
    }

    it.each(routes)(
      '$label without X-Organization-Id -> 400 INVALID_ORGANIZATION_HEADER',
      async ({ call }) => {
        expectError(await call(as(team.owner)), 400, 'INVALID_ORGANIZATION_HEADER');
        await expectTeamUntouched();
      },
    );

    it.each(routes)(
      '$label with X-Organization-Id "not-a-uuid" (or empty) -> 400 INVALID_ORGANIZATION_HEADER',
      async ({ call }) => {
        for (const value of ['not-a-uuid', '', `${team.organizationId}x`]) {
          const headers = { ...as(team.owner), 'x-organization-id': value };
          expectError(await call(headers), 400, 'INVALID_ORGANIZATION_HEADER');
        }
        await expectTeamUntouched();
      },
    );

    it.each(routes)(
      '$label with a UUID of no organization -> 403 NOT_A_MEMBER',
      async ({ call }) => {
        expectError(await call(as(team.owner, randomUUID())), 403, 'NOT_A_MEMBER');
        await expectTeamUntouched();
      },
    );

    it.each(routes)(
      "$label with another organization's id -> 403 NOT_A_MEMBER",
      async ({ call }) => {
        // the owner of the team in the outsider's organization, and the outsider in the team's
        expectError(await call(as(team.owner, team.outsider.organizationId)), 403, 'NOT_A_MEMBER');
        expectError(await call(as(team.outsider, team.organizationId)), 403, 'NOT_A_MEMBER');
        await expectTeamUntouched();
      },
    );

    it.each(routes)(
      '$label without a token -> 401 UNAUTHENTICATED, even when the header is missing or bad',
      async ({ call }) => {
        expectError(await call({}), 401, 'UNAUTHENTICATED');
        expectError(await call({ 'x-organization-id': 'not-a-uuid' }), 401, 'UNAUTHENTICATED');
        expectError(
          await call({ 'x-organization-id': team.organizationId }),
          401,
          'UNAUTHENTICATED',
        );
        expectError(
          await call({ authorization: 'Bearer garbage', 'x-organization-id': 'nope' }),
          401,
          'UNAUTHENTICATED',
        );
        await expectTeamUntouched();
      },
    );

    it('accepts the organization id in upper case', async () => {
      const res = await getCurrent(team.member, team.organizationId.toUpperCase());
      expect(res.status).toBe(200);
      expect((res.body as OrganizationBody).id).toBe(team.organizationId);
    });

    it('answers 403 FORBIDDEN (role before validation) to a member or manager sending invalid input', async () => {
      for (const caller of [team.member, team.manager]) {
        expectError(
          await patchCurrent(caller, team.organizationId, { name: null, bogus: 1 }),
          403,
          'FORBIDDEN',
        );
        expectError(
          await postMember(caller, team.organizationId, { email: 'nope', role: 'king' }),
          403,
          'FORBIDDEN',
        );
        expectError(
          await patchMember(caller, team.organizationId, 'not-a-uuid', { role: 'king' }),
          403,
          'FORBIDDEN',
        );
        expectError(
          await deleteMember(caller, team.organizationId, 'not-a-uuid'),
          403,
          'FORBIDDEN',
        );
      }
      await expectTeamUntouched();
    });

    it('answers 403 NOT_A_MEMBER (membership before validation) to a non-member sending invalid input', async () => {
      expectError(
        await patchCurrent(team.outsider, team.organizationId, { name: null }),
        403,
        'NOT_A_MEMBER',
      );
      expectError(
        await patchMember(team.outsider, team.organizationId, 'not-a-uuid', { role: 'king' }),
        403,
        'NOT_A_MEMBER',
      );
      expectError(
        await listMembers(team.outsider, team.organizationId, '?page=0'),
        403,
        'NOT_A_MEMBER',
      );
    });

    it('answers 400 INVALID_ORGANIZATION_HEADER (header before validation) with a bad header and a bad body', async () => {
      expectError(
        await t
          .http()
          .patch(CURRENT)
          .set({ ...as(team.owner), 'x-organization-id': 'nope' })
          .send({ name: null }),
        400,
        'INVALID_ORGANIZATION_HEADER',
      );
    });

    it('answers 400 VALIDATION_FAILED to an owner with a valid header and an invalid body', async () => {
      expectValidation(await patchCurrent(team.owner, team.organizationId, { name: null }), 'name');
      expectValidation(
        await postMember(team.owner, team.organizationId, { email: 'nope', role: 'member' }),
        'email',
      );
      expectValidation(
        await patchMember(team.admin, team.organizationId, team.member.userId, { role: 'king' }),
        'role',
      );
      await expectTeamUntouched();
    });
  });

  // ---------------------------------------------------------------- cross-organization isolation

  describe('cross-organization isolation', () => {
    let team: Team;
    let both: Session;
    let bOnly: Session;
    beforeAll(async () => {
      team = await createTeam(t);
      // org B is the outsider's; `bOnly` belongs to B (and their own org) but not to A,
      // `both` belongs to A (member) and B (admin)
      bOnly = await register(t, 'b-only');
      both = await register(t, 'both');
      await addMember(team.outsider, team.outsider.organizationId, bOnly.email, 'manager');
      await addMember(team.outsider, team.outsider.organizationId, both.email, 'admin');
      await addMember(team.owner, team.organizationId, both.email, 'member');
    });

    it.each(['owner', 'admin'] as const)(
      'PATCH members/{userId of org B only} in org A as %s -> 404 NOT_FOUND; B is untouched',
      async (role) => {
        for (const target of [team.outsider, bOnly]) {
          expectError(
            await patchMember(team[role], team.organizationId, target.userId, {
              role: 'member',
            }),
            404,
            'NOT_FOUND',
          );
        }
        expect(await dbRole(team.outsider.organizationId, team.outsider.userId)).toBe('owner');
        expect(await dbRole(team.outsider.organizationId, bOnly.userId)).toBe('manager');
        expect(await dbRole(team.organizationId, bOnly.userId)).toBeNull();
      },
    );

    it.each(['owner', 'admin'] as const)(
      'DELETE members/{userId of org B only} in org A as %s -> 404 NOT_FOUND; B is untouched',
      async (role) => {
        for (const target of [team.outsider, bOnly]) {
          expectError(
            await deleteMember(team[role], team.organizationId, target.userId),
            404,
            'NOT_FOUND',
          );
        }
        expect(await dbRole(team.outsider.organizationId, team.outsider.userId)).toBe('owner');
        expect(await dbRole(team.outsider.organizationId, bOnly.userId)).toBe('manager');
      },
    );

    it("org A's member list never contains org B's users, and B's never contains A's", async () => {
      const a = (await allMembers(team.member, team.organizationId)).map((m) => m.userId).sort();
      expect(a).toEqual(
        [team.owner, team.admin, team.manager, team.member, both].map((s) => s.userId).sort(),
      );
      const b = (await allMembers(team.outsider, team.outsider.organizationId))
        .map((m) => m.userId)
        .sort();
      expect(b).toEqual([team.outsider, bOnly, both].map((s) => s.userId).sort());
      const res = await listMembers(team.owner, team.organizationId);
      expect((res.body as PageBody<MemberBody>).total).toBe(5);
    });

    it("GET /organizations/current answers only the header's organization", async () => {
      expect((await orgSnapshot(both, team.organizationId)).id).toBe(team.organizationId);
      expect((await orgSnapshot(both, team.outsider.organizationId)).id).toBe(
        team.outsider.organizationId,
      );
    });

    it('a member of both organizations acts with the role of the header organization', async () => {
      // admin in B: may rename B
      await patchCurrent(both, team.outsider.organizationId, { name: 'Other Org' }).expect(200);
      // member in A: may not rename A
      expectError(await patchCurrent(both, team.organizationId, { name: 'X' }), 403, 'FORBIDDEN');
    });

    it('changing or removing a shared user in org A leaves their membership in org B alone', async () => {
      await patchMember(team.owner, team.organizationId, both.userId, {
        role: 'manager',
      }).expect(200);
      expect(await dbRole(team.organizationId, both.userId)).toBe('manager');
      expect(await dbRole(team.outsider.organizationId, both.userId)).toBe('admin');
      await deleteMember(team.owner, team.organizationId, both.userId).expect(204);
      expect(await dbRole(team.organizationId, both.userId)).toBeNull();
      expect(await dbRole(team.outsider.organizationId, both.userId)).toBe('admin');
      expect((await getCurrent(both, team.outsider.organizationId)).status).toBe(200);
      expectError(await getCurrent(both, team.organizationId), 403, 'NOT_A_MEMBER');
    });
  });

  // ---------------------------------------------------------------- audit log

  describe('audit log', () => {
    let team: Team;
    beforeAll(async () => {
      team = await createTeam(t);
    });

    it('records organization_created with the organization and the actor', async () => {
      const res = await t.http().post(ORGS).set(as(team.member)).send({ name: 'Audited Org' });
      expect(res.status).toBe(201);
      const organizationId = (res.body as OrganizationBody).id;
      const rows = await auditRows(organizationId, 'organization_created');
      expect(rows).toEqual([
        expect.objectContaining({
          actor_user_id: team.member.userId,
          organization_id: organizationId,
          request_id: res.headers['x-request-id'],
        }),
      ]);
    });

    it('records organization_updated with the organization, the actor and the changes', async () => {
      const res = await patchCurrent(team.admin, team.organizationId, { defaultCurrency: 'sek' });
      expect(res.status).toBe(200);
      const rows = await auditRows(team.organizationId, 'organization_updated');
      expect(rows).toEqual([
        expect.objectContaining({
          actor_user_id: team.admin.userId,
          organization_id: team.organizationId,
          request_id: res.headers['x-request-id'],
        }),
      ]);
      expect(JSON.stringify(rows[0].details)).toContain('SEK');
    });

    it('records member_added for each added member', async () => {
      const rows = await auditRows(team.organizationId, 'member_added');
      expect(rows).toHaveLength(3);
      for (const [session, role] of [
        [team.admin, 'admin'],
        [team.manager, 'manager'],
        [team.member, 'member'],
      ] as const) {
        expect(rows).toContainEqual(
          expect.objectContaining({
            actor_user_id: team.owner.userId,
            organization_id: team.organizationId,
            target_id: session.userId,
            details: expect.objectContaining({ role }),
          }),
        );
      }
    });

    it('records member_role_changed with from and to', async () => {
      await patchMember(team.admin, team.organizationId, team.member.userId, {
        role: 'manager',
      }).expect(200);
      const rows = await auditRows(team.organizationId, 'member_role_changed');
      expect(rows).toEqual([
        expect.objectContaining({
          actor_user_id: team.admin.userId,
          organization_id: team.organizationId,
          target_id: team.member.userId,
          details: expect.objectContaining({ from: 'member', to: 'manager' }),
        }),
      ]);
    });

    it('records member_removed', async () => {
      await deleteMember(team.owner, team.organizationId, team.manager.userId).expect(204);
      const rows = await auditRows(team.organizationId, 'member_removed');
      expect(rows).toEqual([
        expect.objectContaining({
          actor_user_id: team.owner.userId,
          organization_id: team.organizationId,
          target_id: team.manager.userId,
          details: expect.objectContaining({ role: 'manager' }),
        }),
      ]);
    });

    it('records nothing for refused changes', async () => {
      const before = await dbCounts();
      expectError(
        await patchMember(team.owner, team.organizationId, team.owner.userId, { role: 'member' }),
        409,
        'LAST_OWNER',
      );
      expectError(
        await deleteMember(team.admin, team.organizationId, team.owner.userId),
        403,
        'FORBIDDEN',
      );
      expectError(
        await patchCurrent(team.owner, team.organizationId, { defaultCurrency: 'XXQ' }),
        422,
        'UNSUPPORTED_CURRENCY',
      );
      expect(await dbCounts()).toEqual(before);
    });
  });
});
