import { EventRetention } from '../src/events/event-retention';
import { as, createTeam, expectError, type Session, type Team } from './support/api';
import { expectValidation } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';
import type { Envelope } from './support/events';

/**
 * The event log API (API.md section 12): GET /events and GET /events/{id}, their filters, keyset
 * pages in commit order, roles and tenant isolation. What each write records is tested with
 * its module (test/events-*.e2e-spec.ts).
 */

interface Page {
  items: Envelope[];
  nextCursor?: string | null;
  total?: number;
}

describe('Events API (API.md section 12)', () => {
  let t: TestApp;
  let team: Team;
  const contactIds: string[] = [];

  const events = (session: Session, query = '', organizationId = team.organizationId) =>
    t.http().get(`/api/v1/events${query}`).set(as(session, organizationId));

  beforeAll(async () => {
    // The relay looks at start, then sleeps: an event marked unpublished here stays so.
    t = await createTestApp({ RELAY_POLL_MS: '3600000' });
    team = await createTeam(t);
    for (const name of ['Ada', 'Grace', 'Edsger']) {
      const res = await t
        .http()
        .post('/api/v1/contacts')
        .set(as(team.owner, team.organizationId))
        .set('x-request-id', `req-${name}`)
        .send({ name });
      expect(res.status).toBe(201);
      contactIds.push((res.body as { id: string }).id);
    }
    await t
      .http()
      .put(`/api/v1/contacts/${contactIds[0]}`)
      .set(as(team.owner, team.organizationId))
      .send({ name: 'Ada Lovelace' })
      .expect(200);
    // The outsider's organization has events of its own.
    await t
      .http()
      .post('/api/v1/contacts')
      .set(as(team.outsider, team.outsider.organizationId))
      .send({ name: 'Not yours' })
      .expect(201);
  });
  afterAll(() => t.close());

  const contactEvents = async (query = ''): Promise<Envelope[]> => {
    const res = await events(team.owner, `?type=crm.contact.*${query}`);
    expect(res.status).toBe(200);
    return (res.body as Page).items;
  };

  it('lists the envelopes newest first, CloudEvents 1.0, with actor, request id and the resource', async () => {
    const items = await contactEvents();
    expect(items.map((e) => e.type)).toEqual([
      'crm.contact.updated.v1',
      'crm.contact.created.v1',
      'crm.contact.created.v1',
      'crm.contact.created.v1',
    ]);
    const created = items[3];
    expect(created).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'crm.contact.created.v1',
      source: `/organizations/${team.organizationId}`,
      subject: `contacts/${contactIds[0]}`,
      time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      datacontenttype: 'application/json',
      organizationid: team.organizationId,
      actorid: team.owner.userId,
      requestid: 'req-Ada',
      data: { contact: expect.objectContaining({ id: contactIds[0], name: 'Ada' }) },
    });
    const got = await t
      .http()
      .get(`/api/v1/contacts/${contactIds[0]}`)
      .set(as(team.owner, team.organizationId));
    expect(items[0].data.contact).toEqual(got.body);
  });

  it('order=asc gives commit order; GET /events/{id} answers the same envelope', async () => {
    const ascending = await contactEvents('&order=asc');
    expect(ascending.map((e) => e.subject)).toEqual([
      `contacts/${contactIds[0]}`,
      `contacts/${contactIds[1]}`,
      `contacts/${contactIds[2]}`,
      `contacts/${contactIds[0]}`,
    ]);
    const one = await events(team.owner, `/${ascending[1].id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(ascending[1]);
  });

  it('filters by exact type, type prefix, subject, since (inclusive) and until (exclusive)', async () => {
    const all = await contactEvents('&order=asc');
    const exact = await events(team.owner, '?type=crm.contact.updated.v1');
    expect((exact.body as Page).items.map((e) => e.id)).toEqual([all[3].id]);
    const two = await events(
      team.owner,
      '?type=crm.contact.updated.v1&type=crm.nothing.*&order=asc',
    );
    expect((two.body as Page).items.map((e) => e.id)).toEqual([all[3].id]);
    const bySubject = await events(team.owner, `?subject=contacts/${contactIds[0]}&order=asc`);
    expect((bySubject.body as Page).items.map((e) => e.id)).toEqual([all[0].id, all[3].id]);
    const since = await events(
      team.owner,
      `?type=crm.contact.*&since=${encodeURIComponent(all[3].time)}`,
    );
    expect((since.body as Page).items.map((e) => e.id)).toContain(all[3].id);
    const until = await events(
      team.owner,
      `?type=crm.contact.*&until=${encodeURIComponent(all[0].time)}`,
    );
    expect((until.body as Page).items.map((e) => e.id)).not.toContain(all[0].id);
  });

  it('keyset pages walk every event once, in order', async () => {
    const all = await contactEvents();
    const seen: string[] = [];
    let cursor: string | null | undefined;
    do {
      const res = await events(
        team.owner,
        `?type=crm.contact.*&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status).toBe(200);
      const page = res.body as Page;
      seen.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.map((e) => e.id));
  });

  it('refuses malformed filters with 400', async () => {
    expectValidation(await events(team.owner, '?type=CRM.DEAL'), 'type');
    expectValidation(await events(team.owner, '?type=crm.*.won'), 'type');
    expectValidation(await events(team.owner, '?since=yesterday'), 'since');
    expectValidation(await events(team.owner, '?limit=0'), 'limit');
  });

  it('owners and admins only: a manager or member gets 403', async () => {
    expect((await events(team.admin)).status).toBe(200);
    expectError(await events(team.manager), 403, 'FORBIDDEN');
    expectError(await events(team.member), 403, 'FORBIDDEN');
  });

  it("another organization's events are invisible: not listed, 404 by id", async () => {
    const outsiderItems = (
      (await events(team.outsider, '', team.outsider.organizationId)).body as Page
    ).items;
    expect(outsiderItems.every((e) => e.organizationid === team.outsider.organizationId)).toBe(
      true,
    );
    expect(outsiderItems.map((e) => e.data.contact)).toContainEqual(
      expect.objectContaining({ name: 'Not yours' }),
    );
    const ours = (await contactEvents())[0];
    expectError(
      await events(team.outsider, `/${ours.id}`, team.outsider.organizationId),
      404,
      'NOT_FOUND',
    );
    const own = (await events(team.owner)).body as Page;
    expect(own.items.every((e) => e.organizationid === team.organizationId)).toBe(true);
  });

  it('retention: events older than EVENTS_RETENTION_DAYS are purged once published, by one copy at a time', async () => {
    const [oldest] = await contactEvents('&order=asc');
    // Old and not published yet (a broker down for longer than the retention).
    await t.db.query(
      `UPDATE events SET created_at = now() - interval '31 days', published_at = NULL WHERE id = $1`,
      [oldest.id],
    );
    const retention = t.app.get(EventRetention);
    // Another copy purging holds the lock: this one skips the round.
    const runner = t.db.createQueryRunner();
    await runner.startTransaction();
    await runner.query("SELECT pg_advisory_xact_lock(hashtextextended('events:retention', 0))");
    expect(await retention.purge()).toBeNull();
    await runner.rollbackTransaction();
    await runner.release();
    // Kept until it is published.
    expect(await retention.purge()).toBe(0);
    await t.db.query('UPDATE events SET published_at = now() WHERE id = $1', [oldest.id]);
    expect(await retention.purge()).toBe(1);
    expectError(await events(team.owner, `/${oldest.id}`), 404, 'NOT_FOUND');
    expect(await retention.purge()).toBe(0);
  });

  it('a request that fails records no event', async () => {
    const before = (await contactEvents()).length;
    const res = await t
      .http()
      .post('/api/v1/contacts')
      .set(as(team.owner, team.organizationId))
      .send({ name: 'Dup', email: 'dup@example.com' });
    expect(res.status).toBe(201);
    const again = await t
      .http()
      .post('/api/v1/contacts')
      .set(as(team.owner, team.organizationId))
      .send({ name: 'Dup', email: 'dup@example.com' });
    expectError(again, 409, 'CONTACT_EMAIL_TAKEN');
    expect((await contactEvents()).length).toBe(before + 1);
  });
});
