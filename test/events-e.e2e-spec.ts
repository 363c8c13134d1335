import { randomUUID } from 'node:crypto';
import {
  as,
  createTeam,
  expectError,
  PASSWORD,
  register,
  uniqueEmail,
  type Session,
  type Team,
} from './support/api';
import { createTestApp, type TestApp } from './support/test-app';
import type { Envelope } from './support/events';

/*
 * Domain events (API.md section 12) of registration, organizations and members: each write
 * records its events in its own transaction, with the resource exactly as GET returns it after
 * the change, `previous` where the catalog says so, the actor and the request id; a refused
 * write records nothing, and no organization ever sees another's events.
 */

const API = '/api/v1';
const EVENTS = `${API}/events`;
const ORGS = `${API}/organizations`;
const CURRENT = `${ORGS}/current`;
const MEMBERS = `${CURRENT}/members`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface MemberBody {
  userId: string;
  email: string;
  name: string;
  role: string;
  createdAt: string;
}

describe('Domain events of registration, organizations and members (API.md section 12)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  // ---------------------------------------------------------------- helpers

  /** The organization's events as `session` sees them (oldest first with order=asc). */
  async function events(
    session: Session,
    organizationId: string,
    query: Record<string, string> = {},
  ): Promise<Envelope[]> {
    const res = await t
      .http()
      .get(EVENTS)
      .query({ limit: '100', ...query })
      .set(as(session, organizationId));
    expect(res.status).toBe(200);
    return (res.body as { items: Envelope[] }).items;
  }
  const inOrder = (s: Session, organizationId: string): Promise<Envelope[]> =>
    events(s, organizationId, { order: 'asc' });

  async function totalEvents(): Promise<number> {
    const [{ n }] = await t.db.query<{ n: number }[]>('SELECT count(*)::int AS n FROM events');
    return n;
  }

  async function me(s: Session): Promise<unknown> {
    const res = await t.http().get(`${API}/users/me`).set(as(s));
    expect(res.status).toBe(200);
    return res.body;
  }
  async function organization(s: Session, organizationId: string): Promise<unknown> {
    const res = await t.http().get(CURRENT).set(as(s, organizationId));
    expect(res.status).toBe(200);
    return res.body;
  }
  async function member(
    s: Session,
    organizationId: string,
    userId: string,
  ): Promise<MemberBody | undefined> {
    const res = await t.http().get(MEMBERS).query({ pageSize: 100 }).set(as(s, organizationId));
    expect(res.status).toBe(200);
    return (res.body as { items: MemberBody[] }).items.find((m) => m.userId === userId);
  }

  /** The envelope's fixed fields for a change by `actorId` in `organizationId`. */
  function expectEnvelope(
    event: Envelope,
    organizationId: string,
    actorId: string,
    requestId: string,
  ): void {
    expect(event).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(UUID),
      type: expect.any(String),
      source: `/organizations/${organizationId}`,
      subject: expect.any(String),
      time: expect.stringMatching(ISO),
      datacontenttype: 'application/json',
      organizationid: organizationId,
      actorid: actorId,
      requestid: requestId,
      data: expect.any(Object),
    });
  }

  const typesOf = (list: Envelope[]): string[] => list.map((e) => e.type);

  // ---------------------------------------------------------------- registration

  describe('registration', () => {
    it('records user.registered, organization.created and member.added in the new organization', async () => {
      const requestId = `reg-${randomUUID()}`;
      const email = uniqueEmail('events');
      const res = await t
        .http()
        .post(`${API}/auth/register`)
        .set('x-request-id', requestId)
        .send({ email, password: PASSWORD, name: 'Eve Events', organizationName: 'Evented' });
      expect(res.status).toBe(201);
      const body = res.body as {
        user: { id: string };
        organization: { id: string };
        accessToken: string;
      };
      const session: Session = {
        userId: body.user.id,
        email,
        accessToken: body.accessToken,
        refreshToken: '',
        organizationId: body.organization.id,
      };
      const orgId = session.organizationId;

      const list = await inOrder(session, orgId);
      expect(typesOf(list)).toEqual([
        'crm.user.registered.v1',
        'crm.organization.created.v1',
        'crm.member.added.v1',
      ]);
      for (const event of list) expectEnvelope(event, orgId, session.userId, requestId);
      const [registered, created, added] = list;
      expect(registered.subject).toBe(`users/${session.userId}`);
      expect(registered.data).toEqual({ user: await me(session) });
      expect(created.subject).toBe(`organizations/${orgId}`);
      expect(created.data).toEqual({ organization: await organization(session, orgId) });
      expect(added.subject).toBe(`members/${session.userId}`);
      expect(added.data).toEqual({ member: await member(session, orgId, session.userId) });
      expect((added.data.member as MemberBody).role).toBe('owner');

      // Newest first by default; each one by id is the same envelope.
      expect(await events(session, orgId)).toEqual([...list].reverse());
      for (const event of list) {
        const one = await t.http().get(`${EVENTS}/${event.id}`).set(as(session, orgId));
        expect(one.status).toBe(200);
        expect(one.body).toEqual(event);
      }
    });

    it('records nothing for a refused registration (409 EMAIL_TAKEN, 400)', async () => {
      const existing = await register(t, 'taken');
      const before = await totalEvents();
      expectError(
        await t
          .http()
          .post(`${API}/auth/register`)
          .send({ email: existing.email, password: PASSWORD, name: 'X', organizationName: 'Y' }),
        409,
        'EMAIL_TAKEN',
      );
      expectError(
        await t
          .http()
          .post(`${API}/auth/register`)
          .send({ email: uniqueEmail(), password: 'short', name: 'X', organizationName: 'Y' }),
        400,
        'VALIDATION_FAILED',
      );
      expect(await totalEvents()).toBe(before);
    });

    it('records no event for sign-in and token refresh (no catalog entry)', async () => {
      const s = await register(t, 'signin');
      const before = await totalEvents();
      const login = await t
        .http()
        .post(`${API}/auth/login`)
        .send({ email: s.email, password: PASSWORD });
      expect(login.status).toBe(200);
      const refreshed = await t
        .http()
        .post(`${API}/auth/refresh`)
        .send({ refreshToken: (login.body as { refreshToken: string }).refreshToken });
      expect(refreshed.status).toBe(200);
      expect(await totalEvents()).toBe(before);
    });
  });

  // ---------------------------------------------------------------- organizations

  describe('organizations', () => {
    let team: Team;
    beforeAll(async () => {
      team = await createTeam(t);
    });

    it('POST /organizations records organization.created and member.added in the new organization only', async () => {
      const before = await inOrder(team.manager, team.manager.organizationId);
      const requestId = `org-${randomUUID()}`;
      const res = await t
        .http()
        .post(ORGS)
        .set(as(team.manager))
        .set('x-request-id', requestId)
        .send({ name: 'Second Org', defaultCurrency: 'eur' });
      expect(res.status).toBe(201);
      const orgId = (res.body as { id: string }).id;

      const list = await inOrder(team.manager, orgId);
      expect(typesOf(list)).toEqual(['crm.organization.created.v1', 'crm.member.added.v1']);
      for (const event of list) expectEnvelope(event, orgId, team.manager.userId, requestId);
      expect(list[0].subject).toBe(`organizations/${orgId}`);
      expect(list[0].data).toEqual({ organization: await organization(team.manager, orgId) });
      expect(list[1].subject).toBe(`members/${team.manager.userId}`);
      expect(list[1].data).toEqual({
        member: await member(team.manager, orgId, team.manager.userId),
      });
      // The caller's other organization records nothing.
      expect(await inOrder(team.manager, team.manager.organizationId)).toEqual(before);
    });

    it('PATCH /organizations/current records organization.updated with previous (changed fields only)', async () => {
      const orgId = team.organizationId;
      const old = (await organization(team.owner, orgId)) as { name: string };
      const requestId = `patch-${randomUUID()}`;
      const res = await t
        .http()
        .patch(CURRENT)
        .set(as(team.admin, orgId))
        .set('x-request-id', requestId)
        .send({ name: old.name, defaultCurrency: 'gbp' });
      expect(res.status).toBe(200);

      const [latest] = await events(team.owner, orgId, { limit: '1' });
      expectEnvelope(latest, orgId, team.admin.userId, requestId);
      expect(latest.type).toBe('crm.organization.updated.v1');
      expect(latest.subject).toBe(`organizations/${orgId}`);
      expect(latest.data).toEqual({
        organization: await organization(team.owner, orgId),
        previous: { defaultCurrency: null },
      });

      const renamed = await t
        .http()
        .patch(CURRENT)
        .set(as(team.owner, orgId))
        .send({ name: 'Renamed Team', defaultCurrency: null });
      expect(renamed.status).toBe(200);
      const [again] = await events(team.owner, orgId, { limit: '1' });
      expect(again.type).toBe('crm.organization.updated.v1');
      expect(again.data).toEqual({
        organization: renamed.body,
        previous: { name: old.name, defaultCurrency: 'GBP' },
      });
      expect(renamed.body).toEqual(await organization(team.owner, orgId));
    });

    it('a no-op PATCH and refused PATCHes record nothing', async () => {
      const orgId = team.organizationId;
      const current = (await organization(team.owner, orgId)) as { name: string };
      const before = await totalEvents();
      const same = await t
        .http()
        .patch(CURRENT)
        .set(as(team.owner, orgId))
        .send({ name: current.name });
      expect(same.status).toBe(200);
      expect((await t.http().patch(CURRENT).set(as(team.owner, orgId)).send({})).status).toBe(200);
      expectError(
        await t
          .http()
          .patch(CURRENT)
          .set(as(team.owner, orgId))
          .send({ name: 'Valid', defaultCurrency: 'XXQ' }),
        422,
        'UNSUPPORTED_CURRENCY',
      );
      expectError(
        await t.http().patch(CURRENT).set(as(team.owner, orgId)).send({ name: '' }),
        400,
        'VALIDATION_FAILED',
      );
      expectError(
        await t.http().patch(CURRENT).set(as(team.member, orgId)).send({ name: 'Nope' }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await t.http().post(ORGS).set(as(team.owner)).send({ name: 'X', defaultCurrency: 'XXQ' }),
        422,
        'UNSUPPORTED_CURRENCY',
      );
      expect(await totalEvents()).toBe(before);
    });
  });

  // ---------------------------------------------------------------- members

  describe('members', () => {
    let team: Team;
    let newcomer: Session;
    beforeAll(async () => {
      team = await createTeam(t);
      newcomer = await register(t, 'newcomer');
    });

    it('createTeam recorded one member.added per added member, by the owner', async () => {
      const added = await events(team.owner, team.organizationId, {
        type: 'crm.member.added.v1',
        order: 'asc',
      });
      expect(added.map((e) => e.subject)).toEqual([
        `members/${team.owner.userId}`,
        `members/${team.admin.userId}`,
        `members/${team.manager.userId}`,
        `members/${team.member.userId}`,
      ]);
      for (const event of added.slice(1)) expect(event.actorid).toBe(team.owner.userId);
    });

    it('adding a member records member.added with the member as the list returns it', async () => {
      const orgId = team.organizationId;
      const requestId = `add-${randomUUID()}`;
      const res = await t
        .http()
        .post(MEMBERS)
        .set(as(team.admin, orgId))
        .set('x-request-id', requestId)
        .send({ email: newcomer.email.toUpperCase(), role: 'member' });
      expect(res.status).toBe(201);
      const list = await events(team.owner, orgId, { subject: `members/${newcomer.userId}` });
      expect(typesOf(list)).toEqual(['crm.member.added.v1']);
      expectEnvelope(list[0], orgId, team.admin.userId, requestId);
      const listed = await member(team.owner, orgId, newcomer.userId);
      expect(list[0].data).toEqual({ member: listed });
      expect(res.body).toEqual(listed);
    });

    it('changing a role records member.role_changed with previous {role}; the same role records nothing', async () => {
      const orgId = team.organizationId;
      const requestId = `role-${randomUUID()}`;
      const res = await t
        .http()
        .patch(`${MEMBERS}/${newcomer.userId}`)
        .set(as(team.owner, orgId))
        .set('x-request-id', requestId)
        .send({ role: 'manager' });
      expect(res.status).toBe(200);
      const [latest] = await events(team.owner, orgId, { limit: '1' });
      expectEnvelope(latest, orgId, team.owner.userId, requestId);
      expect(latest.type).toBe('crm.member.role_changed.v1');
      expect(latest.subject).toBe(`members/${newcomer.userId}`);
      expect(latest.data).toEqual({
        member: await member(team.owner, orgId, newcomer.userId),
        previous: { role: 'member' },
      });
      expect((latest.data.member as MemberBody).role).toBe('manager');

      const before = await totalEvents();
      const same = await t
        .http()
        .patch(`${MEMBERS}/${newcomer.userId}`)
        .set(as(team.owner, orgId))
        .send({ role: 'manager' });
      expect(same.status).toBe(200);
      expect(await totalEvents()).toBe(before);
    });

    it('refused member changes record nothing', async () => {
      const orgId = team.organizationId;
      const before = await totalEvents();
      expectError(
        await t
          .http()
          .post(MEMBERS)
          .set(as(team.owner, orgId))
          .send({ email: team.member.email, role: 'member' }),
        409,
        'ALREADY_MEMBER',
      );
      expectError(
        await t
          .http()
          .post(MEMBERS)
          .set(as(team.owner, orgId))
          .send({ email: uniqueEmail('nobody'), role: 'member' }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t
          .http()
          .post(MEMBERS)
          .set(as(team.admin, orgId))
          .send({ email: team.outsider.email, role: 'owner' }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await t
          .http()
          .patch(`${MEMBERS}/${team.owner.userId}`)
          .set(as(team.owner, orgId))
          .send({ role: 'member' }),
        409,
        'LAST_OWNER',
      );
      expectError(
        await t
          .http()
          .patch(`${MEMBERS}/${team.owner.userId}`)
          .set(as(team.admin, orgId))
          .send({ role: 'member' }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await t.http().delete(`${MEMBERS}/${team.owner.userId}`).set(as(team.owner, orgId)),
        409,
        'LAST_OWNER',
      );
      expectError(
        await t.http().delete(`${MEMBERS}/${team.outsider.userId}`).set(as(team.owner, orgId)),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t
          .http()
          .patch(`${MEMBERS}/${newcomer.userId}`)
          .set(as(team.owner, orgId))
          .send({ role: 'king' }),
        400,
        'VALIDATION_FAILED',
      );
      expect(await totalEvents()).toBe(before);
    });

    it('removing a member records member.removed with the member as it was', async () => {
      const orgId = team.organizationId;
      const was = await member(team.owner, orgId, newcomer.userId);
      const requestId = `remove-${randomUUID()}`;
      const res = await t
        .http()
        .delete(`${MEMBERS}/${newcomer.userId}`)
        .set(as(team.admin, orgId))
        .set('x-request-id', requestId);
      expect(res.status).toBe(204);
      expect(await member(team.owner, orgId, newcomer.userId)).toBeUndefined();
      const list = await events(team.owner, orgId, { subject: `members/${newcomer.userId}` });
      expect(typesOf(list)).toEqual([
        'crm.member.removed.v1',
        'crm.member.role_changed.v1',
        'crm.member.added.v1',
      ]);
      expectEnvelope(list[0], orgId, team.admin.userId, requestId);
      expect(list[0].data).toEqual({ member: was });
    });

    it('another organization never sees these events', async () => {
      const orgId = team.organizationId;
      const ours = await events(team.owner, orgId);
      expect(ours.length).toBeGreaterThan(0);
      const theirs = await events(team.outsider, team.outsider.organizationId);
      const theirIds = new Set(theirs.map((e) => e.id));
      for (const event of ours) {
        expect(theirIds.has(event.id)).toBe(false);
        expectError(
          await t
            .http()
            .get(`${EVENTS}/${event.id}`)
            .set(as(team.outsider, team.outsider.organizationId)),
          404,
          'NOT_FOUND',
        );
      }
      for (const event of theirs) expect(event.organizationid).toBe(team.outsider.organizationId);
      // Nor does a caller reach them through an organization they do not belong to.
      expectError(await t.http().get(EVENTS).set(as(team.outsider, orgId)), 403, 'NOT_A_MEMBER');
    });
  });
});
