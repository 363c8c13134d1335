import { randomUUID } from 'node:crypto';
import type { Response, Test } from 'supertest';
import { as, createTeam, type Session, type Team } from './support/api';
import { ISO_TIMESTAMP, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';
import { eventLog, type Envelope, type Page } from './support/events';

/*
 * The domain events (API.md section 12) of the contact, company, lead and CSV import write
 * paths: the exact types in commit order, their subjects, `data` equal to what GET answers after
 * the change (before it, for a delete), `previous` where the catalog asks for it, the actor and
 * request ids; a failing, no-op or dry-run request records nothing; another organization never
 * sees them.
 */

const API = '/api/v1';
const EVENTS = `${API}/events`;
const CONTACTS = `${API}/contacts`;
const COMPANIES = `${API}/companies`;
const LEADS = `${API}/leads`;

interface Resource {
  id: string;
  [key: string]: unknown;
}
interface Conversion {
  lead: Resource;
  contact: Resource;
  company: Resource | null;
  deal: Resource;
}

describe('Domain events of contacts, companies, leads and imports (API.md section 12)', () => {
  let t: TestApp;
  let team: Team;

  const tenant = (s: Session): Record<string, string> => as(s, team.organizationId);
  const log = eventLog(
    () => t,
    () => tenant(team.owner),
  );
  const latestEvents = log.latest;
  const eventsOf = log.of;
  const expectNoEvent = log.expectNoEvent;

  /** Sends `test` as `session` with a fresh X-Request-Id; the answer and that id. */
  async function send(
    test: Test,
    session: Session = team.owner,
  ): Promise<{ res: Response; requestId: string }> {
    const requestId = randomUUID();
    const res = await test.set(tenant(session)).set('x-request-id', requestId);
    return { res, requestId };
  }

  /** The events the request `requestId` recorded, in commit order. */
  async function eventsOfRequest(requestId: string): Promise<Envelope[]> {
    return (await latestEvents()).filter((e) => e.requestid === requestId).reverse();
  }

  async function get(path: string): Promise<Resource> {
    const res = await t.http().get(path).set(tenant(team.owner));
    expect(res.status).toBe(200);
    return res.body as Resource;
  }

  async function create(path: string, body: object, session = team.owner): Promise<Resource> {
    const res = await t.http().post(path).set(tenant(session)).send(body);
    expect(res.status).toBe(201);
    return res.body as Resource;
  }

  /** Asserts the envelope of an event recorded by `requestId` as `actor`. */
  function expectEnvelope(
    event: Envelope,
    type: string,
    subject: string,
    actor: Session,
    requestId: string,
  ): void {
    expect(event).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(UUID),
      type,
      source: `/organizations/${team.organizationId}`,
      subject,
      time: expect.stringMatching(ISO_TIMESTAMP),
      datacontenttype: 'application/json',
      organizationid: team.organizationId,
      actorid: actor.userId,
      requestid: requestId,
      data: expect.any(Object),
    });
  }

  /** `[type, subject, data]` of each event, for exact comparisons. */
  const summary = (events: Envelope[]): [string, string, Record<string, unknown>][] =>
    events.map((e) => [e.type, e.subject, e.data]);

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('contacts', () => {
    it('POST records contact.created with the contact as GET answers it', async () => {
      const { res, requestId } = await send(
        t.http().post(CONTACTS).send({ name: 'Ada', email: 'ada@events.example' }),
        team.member,
      );
      expect(res.status).toBe(201);
      const contact = res.body as Resource;
      const events = await eventsOfRequest(requestId);
      expect(events).toHaveLength(1);
      expectEnvelope(
        events[0],
        'crm.contact.created.v1',
        `contacts/${contact.id}`,
        team.member,
        requestId,
      );
      expect(events[0].data).toEqual({ contact: await get(`${CONTACTS}/${contact.id}`) });
      // GET /events/{id} answers the same envelope.
      const one = await t.http().get(`${EVENTS}/${events[0].id}`).set(tenant(team.owner));
      expect(one.status).toBe(200);
      expect(one.body).toEqual(events[0]);
    });

    it('PUT records contact.updated with the changed fields in previous; a no-op PUT records nothing', async () => {
      const company = await create(COMPANIES, { name: 'Put Co' });
      const contact = await create(CONTACTS, {
        name: 'Grace',
        email: 'grace@events.example',
        phone: '+1 555 0100',
      });
      const { res, requestId } = await send(
        t
          .http()
          .put(`${CONTACTS}/${contact.id}`)
          .send({ name: 'Grace Hopper', email: 'grace@events.example', companyId: company.id }),
      );
      expect(res.status).toBe(200);
      const after = await get(`${CONTACTS}/${contact.id}`);
      expect(res.body).toEqual(after);
      const events = await eventsOfRequest(requestId);
      expect(events).toHaveLength(1);
      expectEnvelope(
        events[0],
        'crm.contact.updated.v1',
        `contacts/${contact.id}`,
        team.owner,
        requestId,
      );
      expect(events[0].data).toEqual({
        contact: after,
        previous: { name: 'Grace', phone: '+1 555 0100', companyId: null },
      });

      await expectNoEvent(async () => {
        const same = await t
          .http()
          .put(`${CONTACTS}/${contact.id}`)
          .set(tenant(team.owner))
          .send({ name: 'Grace Hopper', email: 'grace@events.example', companyId: company.id });
        expect(same.status).toBe(200);
        expect(same.body).toEqual(after);
      });
    });

    it('DELETE records contact.deleted with the contact as it was', async () => {
      const contact = await create(CONTACTS, { name: 'Gone', email: 'gone@events.example' });
      const before = await get(`${CONTACTS}/${contact.id}`);
      const { res, requestId } = await send(t.http().delete(`${CONTACTS}/${contact.id}`));
      expect(res.status).toBe(204);
      const events = await eventsOfRequest(requestId);
      expect(summary(events)).toEqual([
        ['crm.contact.deleted.v1', `contacts/${contact.id}`, { contact: before }],
      ]);
      // The contact's whole life, by subject, in commit order.
      expect((await eventsOf(`contacts/${contact.id}`)).map((e) => e.type)).toEqual([
        'crm.contact.created.v1',
        'crm.contact.deleted.v1',
      ]);
    });

    it('failing requests record nothing (400, 404, 409)', async () => {
      const taken = await create(CONTACTS, { name: 'Taken', email: 'taken@events.example' });
      const other = await create(CONTACTS, { name: 'Other' });
      await expectNoEvent(async () => {
        const invalid = await t.http().post(CONTACTS).set(tenant(team.owner)).send({ name: '' });
        expect(invalid.status).toBe(400);
        const duplicate = await t
          .http()
          .post(CONTACTS)
          .set(tenant(team.owner))
          .send({ name: 'Again', email: 'TAKEN@events.example' });
        expect(duplicate.status).toBe(409);
        const conflict = await t
          .http()
          .put(`${CONTACTS}/${other.id}`)
          .set(tenant(team.owner))
          .send({ name: 'Other', email: 'taken@events.example' });
        expect(conflict.status).toBe(409);
        const missing = await t
          .http()
          .delete(`${CONTACTS}/${randomUUID()}`)
          .set(tenant(team.owner));
        expect(missing.status).toBe(404);
        // A member cannot see the owner's contact: 404, nothing recorded.
        const hidden = await t.http().delete(`${CONTACTS}/${taken.id}`).set(tenant(team.member));
        expect(hidden.status).toBe(404);
      });
    });
  });

  describe('companies', () => {
    it('POST, PATCH and DELETE record company.created, company.updated (with previous) and company.deleted', async () => {
      const created = await send(
        t
          .http()
          .post(COMPANIES)
          .send({ name: 'Acme', domain: 'acme-events.example', address: { city: 'Paris' } }),
        team.manager,
      );
      expect(created.res.status).toBe(201);
      const company = created.res.body as Resource;
      const subject = `companies/${company.id}`;
      const [createdEvent, ...more] = await eventsOfRequest(created.requestId);
      expect(more).toEqual([]);
      expectEnvelope(
        createdEvent,
        'crm.company.created.v1',
        subject,
        team.manager,
        created.requestId,
      );
      expect(createdEvent.data).toEqual({ company: await get(`${COMPANIES}/${company.id}`) });

      const patched = await send(
        t
          .http()
          .patch(`${COMPANIES}/${company.id}`)
          .send({ industry: 'Anvils', address: { city: 'Lyon', country: 'FR' }, name: 'Acme' }),
        team.manager,
      );
      expect(patched.res.status).toBe(200);
      const after = await get(`${COMPANIES}/${company.id}`);
      const [updatedEvent, ...others] = await eventsOfRequest(patched.requestId);
      expect(others).toEqual([]);
      expectEnvelope(
        updatedEvent,
        'crm.company.updated.v1',
        subject,
        team.manager,
        patched.requestId,
      );
      expect(updatedEvent.data).toEqual({
        company: after,
        previous: {
          industry: null,
          address: {
            line1: null,
            line2: null,
            city: 'Paris',
            region: null,
            postalCode: null,
            country: null,
          },
        },
      });

      // Setting what is there already changes nothing and records nothing.
      await expectNoEvent(async () => {
        const same = await t
          .http()
          .patch(`${COMPANIES}/${company.id}`)
          .set(tenant(team.manager))
          .send({ industry: 'Anvils', name: 'Acme' });
        expect(same.status).toBe(200);
        expect(same.body).toEqual(after);
      });

      const deleted = await send(t.http().delete(`${COMPANIES}/${company.id}`), team.manager);
      expect(deleted.res.status).toBe(204);
      expect(summary(await eventsOfRequest(deleted.requestId))).toEqual([
        ['crm.company.deleted.v1', subject, { company: after }],
      ]);
      expect((await eventsOf(subject)).map((e) => e.type)).toEqual([
        'crm.company.created.v1',
        'crm.company.updated.v1',
        'crm.company.deleted.v1',
      ]);
    });

    it('failing requests record nothing (409 domain taken, 403, 404)', async () => {
      const company = await create(COMPANIES, { name: 'Taken Co', domain: 'taken-events.example' });
      await expectNoEvent(async () => {
        const duplicate = await t
          .http()
          .post(COMPANIES)
          .set(tenant(team.owner))
          .send({ name: 'Again', domain: 'taken-events.example' });
        expect(duplicate.status).toBe(409);
        const forbidden = await t
          .http()
          .delete(`${COMPANIES}/${company.id}`)
          .set(tenant(team.member));
        expect([403, 404]).toContain(forbidden.status);
        const missing = await t
          .http()
          .patch(`${COMPANIES}/${randomUUID()}`)
          .set(tenant(team.owner))
          .send({ name: 'X' });
        expect(missing.status).toBe(404);
      });
    });
  });

  describe('leads', () => {
    it('POST records lead.created; PATCH lead.updated with previous; no-op PATCH nothing', async () => {
      const created = await send(
        t.http().post(LEADS).send({ name: 'Lead One', source: 'web' }),
        team.member,
      );
      expect(created.res.status).toBe(201);
      const lead = created.res.body as Resource;
      const subject = `leads/${lead.id}`;
      const [createdEvent, ...more] = await eventsOfRequest(created.requestId);
      expect(more).toEqual([]);
      expectEnvelope(createdEvent, 'crm.lead.created.v1', subject, team.member, created.requestId);
      expect(createdEvent.data).toEqual({ lead: await get(`${LEADS}/${lead.id}`) });

      const patched = await send(
        t
          .http()
          .patch(`${LEADS}/${lead.id}`)
          .send({ status: 'contacted', phone: '+1 555 0199', source: 'web' }),
        team.member,
      );
      expect(patched.res.status).toBe(200);
      const after = await get(`${LEADS}/${lead.id}`);
      expect(summary(await eventsOfRequest(patched.requestId))).toEqual([
        ['crm.lead.updated.v1', subject, { lead: after, previous: { status: 'new', phone: null } }],
      ]);

      await expectNoEvent(async () => {
        const same = await t
          .http()
          .patch(`${LEADS}/${lead.id}`)
          .set(tenant(team.member))
          .send({ status: 'contacted', name: 'Lead One' });
        expect(same.status).toBe(200);
        expect(same.body).toEqual(after);
      });
    });

    it('qualify records lead.qualified (previous status); qualifying again records nothing', async () => {
      const lead = await create(LEADS, { name: 'Qualify Me' });
      const { res, requestId } = await send(t.http().post(`${LEADS}/${lead.id}/qualify`));
      expect(res.status).toBe(200);
      const after = await get(`${LEADS}/${lead.id}`);
      const events = await eventsOfRequest(requestId);
      expect(events).toHaveLength(1);
      expectEnvelope(events[0], 'crm.lead.qualified.v1', `leads/${lead.id}`, team.owner, requestId);
      expect(events[0].data).toEqual({ lead: after, previous: { status: 'new' } });

      await expectNoEvent(async () => {
        const again = await t.http().post(`${LEADS}/${lead.id}/qualify`).set(tenant(team.owner));
        expect(again.status).toBe(200);
      });
    });

    it('disqualify records lead.disqualified (previous status and reason); a 409 records nothing', async () => {
      const lead = await create(LEADS, { name: 'Disqualify Me' });
      const { res, requestId } = await send(
        t.http().post(`${LEADS}/${lead.id}/disqualify`).send({ reason: 'No budget' }),
      );
      expect(res.status).toBe(200);
      const after = await get(`${LEADS}/${lead.id}`);
      expect(after).toEqual(expect.objectContaining({ status: 'disqualified' }));
      expect(summary(await eventsOfRequest(requestId))).toEqual([
        [
          'crm.lead.disqualified.v1',
          `leads/${lead.id}`,
          { lead: after, previous: { status: 'new', disqualifyReason: null } },
        ],
      ]);

      await expectNoEvent(async () => {
        const again = await t
          .http()
          .post(`${LEADS}/${lead.id}/disqualify`)
          .set(tenant(team.owner))
          .send({ reason: 'Still no budget' });
        expect(again.status).toBe(409);
        const qualify = await t.http().post(`${LEADS}/${lead.id}/qualify`).set(tenant(team.owner));
        expect(qualify.status).toBe(409);
        const patch = await t
          .http()
          .patch(`${LEADS}/${lead.id}`)
          .set(tenant(team.owner))
          .send({ status: 'new' });
        expect(patch.status).toBe(409);
        const convert = await t
          .http()
          .post(`${LEADS}/${lead.id}/convert`)
          .set(tenant(team.owner))
          .send({});
        expect(convert.status).toBe(409);
      });
    });

    it('DELETE records lead.deleted with the lead as it was', async () => {
      const lead = await create(LEADS, { name: 'Delete Me' });
      const before = await get(`${LEADS}/${lead.id}`);
      const { res, requestId } = await send(t.http().delete(`${LEADS}/${lead.id}`));
      expect(res.status).toBe(204);
      expect(summary(await eventsOfRequest(requestId))).toEqual([
        ['crm.lead.deleted.v1', `leads/${lead.id}`, { lead: before }],
      ]);
    });

    it('convert records company.created, contact.created, deal.created, then lead.converted', async () => {
      const lead = await create(
        LEADS,
        { name: 'Convert Me', email: 'convert-me@events.example', companyName: 'Converted Co' },
        team.member,
      );
      const { res, requestId } = await send(
        t.http().post(`${LEADS}/${lead.id}/convert`).send({ dealTitle: 'Big deal', amount: '500' }),
        team.member,
      );
      expect(res.status).toBe(201);
      const body = res.body as Conversion;
      expect(body.company).not.toBeNull();
      const company = await get(`${COMPANIES}/${body.company!.id}`);
      const contact = await get(`${CONTACTS}/${body.contact.id}`);
      const deal = await get(`${API}/deals/${body.deal.id}`);
      const after = await get(`${LEADS}/${lead.id}`);
      expect(body).toEqual({ lead: after, contact, company, deal });

      const events = await eventsOfRequest(requestId);
      for (const event of events) {
        expectEnvelope(event, event.type, event.subject, team.member, requestId);
      }
      expect(summary(events)).toEqual([
        ['crm.company.created.v1', `companies/${company.id}`, { company }],
        ['crm.contact.created.v1', `contacts/${contact.id}`, { contact }],
        ['crm.deal.created.v1', `deals/${deal.id}`, { deal }],
        ['crm.lead.converted.v1', `leads/${lead.id}`, { lead: after, contact, deal, company }],
      ]);

      // Converting it again: 409, nothing recorded.
      await expectNoEvent(async () => {
        const again = await t
          .http()
          .post(`${LEADS}/${lead.id}/convert`)
          .set(tenant(team.member))
          .send({});
        expect(again.status).toBe(409);
      });
    });

    it('convert reusing a contact, without a company, records only deal.created and lead.converted', async () => {
      const existing = await create(CONTACTS, {
        name: 'Already Here',
        email: 'already-here@events.example',
      });
      const lead = await create(LEADS, {
        name: 'Reuse Me',
        email: 'ALREADY-HERE@events.example',
      });
      const { res, requestId } = await send(t.http().post(`${LEADS}/${lead.id}/convert`).send({}));
      expect(res.status).toBe(201);
      const body = res.body as Conversion;
      expect(body.contact.id).toBe(existing.id);
      expect(body.company).toBeNull();
      const deal = await get(`${API}/deals/${body.deal.id}`);
      const after = await get(`${LEADS}/${lead.id}`);
      const contact = await get(`${CONTACTS}/${existing.id}`);
      expect(summary(await eventsOfRequest(requestId))).toEqual([
        ['crm.deal.created.v1', `deals/${deal.id}`, { deal }],
        [
          'crm.lead.converted.v1',
          `leads/${lead.id}`,
          { lead: after, contact, deal, company: null },
        ],
      ]);
    });

    it('a failing conversion (404 pipeline) records nothing', async () => {
      const lead = await create(LEADS, { name: 'Not Yet', companyName: 'Never Co' });
      await expectNoEvent(async () => {
        const res = await t
          .http()
          .post(`${LEADS}/${lead.id}/convert`)
          .set(tenant(team.owner))
          .send({ pipelineId: randomUUID() });
        expect(res.status).toBe(404);
      });
    });
  });

  describe('CSV imports', () => {
    function importCsv(
      kind: 'contacts' | 'companies',
      csv: string,
      query: Record<string, string> = {},
      session = team.owner,
    ): Test {
      return t
        .http()
        .post(`${API}/${kind}/import`)
        .query(query)
        .attach('file', Buffer.from(csv, 'utf8'), `${kind}.csv`)
        .set(tenant(session));
    }

    it('a contacts import records one import.completed with its report, not one event per row', async () => {
      const csv =
        'name,email,phone,companyName\n' +
        'Row One,row-one@import-events.example,,Imported Co\n' +
        'Row Two,row-two@import-events.example,,\n' +
        ',bad-row@import-events.example,,\n';
      const { res, requestId } = await send(importCsv('contacts', csv), team.member);
      expect(res.status).toBe(200);
      const report = res.body as Record<string, unknown>;
      expect(report).toEqual(expect.objectContaining({ total: 3, created: 2, updated: 0 }));
      const events = await eventsOfRequest(requestId);
      expect(events).toHaveLength(1);
      const [event] = events;
      expect(event.subject).toMatch(/^imports\/[0-9a-f-]{36}$/);
      expectEnvelope(event, 'crm.import.completed.v1', event.subject, team.member, requestId);
      expect(event.data).toEqual({ import: { kind: 'contacts', ...report } });
    });

    it('a companies import that updates records one import.completed (kind companies)', async () => {
      await create(COMPANIES, { name: 'Old Name', domain: 'update-events.example' });
      const csv =
        'name,domain,industry,phone,country\n' +
        'New Name,update-events.example,Tools,,\n' +
        'Fresh,fresh-events.example,,,DE\n';
      const { res, requestId } = await send(importCsv('companies', csv, { onDuplicate: 'update' }));
      expect(res.status).toBe(200);
      const report = res.body as Record<string, unknown>;
      expect(report).toEqual({ total: 2, created: 1, updated: 1, skipped: 0, failed: [] });
      expect(summary(await eventsOfRequest(requestId))).toEqual([
        [
          'crm.import.completed.v1',
          expect.stringMatching(/^imports\/[0-9a-f-]{36}$/),
          { import: { kind: 'companies', ...report } },
        ],
      ]);
    });

    it('a dry run, an import that writes nothing, and a failing import record nothing', async () => {
      const csv = 'name,email,phone,companyName\nDry,dry@import-events.example,,Dry Co\n';
      await expectNoEvent(async () => {
        const dry = await importCsv('contacts', csv, { dryRun: 'true' });
        expect(dry.status).toBe(200);
        expect(dry.body).toEqual(expect.objectContaining({ created: 1 }));
      });
      await create(CONTACTS, { name: 'Exists', email: 'exists@import-events.example' });
      const duplicate = 'name,email,phone,companyName\nExists,exists@import-events.example,,\n';
      await expectNoEvent(async () => {
        const skipped = await importCsv('contacts', duplicate);
        expect(skipped.status).toBe(200);
        expect(skipped.body).toEqual(expect.objectContaining({ created: 0, skipped: 1 }));
        const invalid = await importCsv('contacts', 'name,email,phone,companyName\n,,,\n');
        expect(invalid.status).toBe(200);
        expect(invalid.body).toEqual(expect.objectContaining({ created: 0 }));
        const failed = await importCsv(
          'contacts',
          `${duplicate}New,new@import-events.example,,\n`,
          { onDuplicate: 'fail' },
        );
        expect(failed.status).toBe(409);
      });
    });
  });

  describe('across organizations', () => {
    it("another organization's owner never sees these events", async () => {
      const { res, requestId } = await send(
        t.http().post(CONTACTS).send({ name: 'Private', email: 'private@events.example' }),
      );
      expect(res.status).toBe(201);
      const [event] = await eventsOfRequest(requestId);
      expect(event.type).toBe('crm.contact.created.v1');

      const outsider = as(team.outsider, team.outsider.organizationId);
      const one = await t.http().get(`${EVENTS}/${event.id}`).set(outsider);
      expect(one.status).toBe(404);
      const list = await t.http().get(`${EVENTS}?limit=100`).set(outsider);
      expect(list.status).toBe(200);
      const theirs = (list.body as Page<Envelope>).items;
      expect(theirs.every((e) => e.organizationid === team.outsider.organizationId)).toBe(true);
      expect(theirs.map((e) => e.id)).not.toContain(event.id);
      // Nor through the team's organization header: they are not a member.
      const foreign = await t.http().get(`${EVENTS}/${event.id}`).set(tenant(team.outsider));
      expect(foreign.status).toBe(403);
    });

    it('newest first by default: the last request is on top', async () => {
      const { requestId } = await send(t.http().post(LEADS).send({ name: 'Newest' }));
      const [newest] = await latestEvents(1);
      expect(newest).toEqual(
        expect.objectContaining({ type: 'crm.lead.created.v1', requestid: requestId }),
      );
    });
  });
});
