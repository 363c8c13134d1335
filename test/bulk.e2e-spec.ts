import { randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import { DataSource, QueryFailedError } from 'typeorm';
import { readRows } from '../src/common/pagination/raw-reads';
import { jest } from '@jest/globals';
import { Activity } from '../src/modules/activities/activity.entity';
import { ActivityType } from '../src/modules/activities/activity.enums';
import { Contact } from '../src/modules/contacts/contact.entity';
import { Notification } from '../src/modules/notifications/notification.entity';
import { ScopedRepository } from '../src/tenancy/scoped-repository';
import { systemActor } from '../src/tenancy/actor';
import { UnitOfWork } from '../src/tenancy/unit-of-work';
import { as, createTeam, expectError, type Session, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Bulk writes (API.md section 17): POST /contacts/bulk, /companies/bulk, /deals/bulk. Each
 * operation answers what its single-record endpoint would (status and exact error body), under
 * the same roles and visibility; atomic=true is all or nothing (409 BULK_FAILED, nothing written,
 * no event).
 */

const API = '/api/v1';

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: { field: string; message: string }[];
  requestId: string;
}
interface Result {
  index: number;
  status: number;
  id?: string;
  error?: ErrorBody;
}
interface Operation {
  op: string;
  id?: string;
  data?: Record<string, unknown>;
  [extra: string]: unknown;
}
type Collection = 'contacts' | 'companies' | 'deals';

describe('Bulk writes (API.md section 17)', () => {
  let t: TestApp;
  let team: Team;
  let org: string;

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    org = team.organizationId;
  });
  afterAll(() => t.close());

  // ---------------------------------------------------------------- helpers

  const bulk = (
    s: Session,
    collection: Collection,
    operations: unknown,
    query = '',
    organizationId = org,
  ) =>
    t
      .http()
      .post(`${API}/${collection}/bulk${query}`)
      .set(as(s, organizationId))
      .send({ operations });

  const post = (s: Session, collection: Collection, body: object, organizationId = org) =>
    t.http().post(`${API}/${collection}`).set(as(s, organizationId)).send(body);
  const patch = (s: Session, collection: Collection, id: string, body: object) =>
    t.http().patch(`${API}/${collection}/${id}`).set(as(s, org)).send(body);
  const get = (s: Session, collection: Collection, id: string) =>
    t.http().get(`${API}/${collection}/${id}`).set(as(s, org));
  const remove = (s: Session, collection: Collection, id: string) =>
    t.http().delete(`${API}/${collection}/${id}`).set(as(s, org));

  async function created(res: Promise<Response> | Response): Promise<Record<string, unknown>> {
    const r = await res;
    expect({ status: r.status, body: r.body as unknown }).toEqual({
      status: 201,
      body: expect.objectContaining({ id: expect.any(String) }),
    });
    return r.body as Record<string, unknown>;
  }

  const tag = () => randomUUID().slice(0, 8);
  const newContact = async (s: Session = team.owner, extra: object = {}) =>
    created(post(s, 'contacts', { name: `Contact ${tag()}`, ...extra }));

  const resultsOf = (res: Response): Result[] => (res.body as { results: Result[] }).results;

  /** 200 with one result per operation. */
  function okResults(res: Response, count: number): Result[] {
    expect({ status: res.status, count: resultsOf(res)?.length }).toEqual({ status: 200, count });
    resultsOf(res).forEach((r, i) => expect(r.index).toBe(i));
    return resultsOf(res);
  }

  /**
   * The error `result` carries is exactly the one the single-record endpoint answered in
   * `single` (its requestId aside, which is the bulk request's).
   */
  function expectSameError(result: Result, single: Response, bulkRes: Response): void {
    expect(single.status).toBeGreaterThanOrEqual(400);
    expect(result).toEqual({
      index: result.index,
      status: single.status,
      error: { ...(single.body as ErrorBody), requestId: bulkRes.headers['x-request-id'] },
    });
  }

  async function countRows(table: string): Promise<number> {
    const rows: { n: number }[] = await t.db.query(
      `SELECT count(*)::int AS n FROM ${table} WHERE organization_id = $1`,
      [org],
    );
    return rows[0].n;
  }
  const countEvents = () => countRows('events');
  async function eventsOf(subject: string): Promise<string[]> {
    const rows: { type: string }[] = await t.db.query(
      'SELECT type FROM events WHERE organization_id = $1 AND subject = $2 ORDER BY seq',
      [org, subject],
    );
    return rows.map((r) => r.type);
  }

  // ---------------------------------------------------------------- contacts

  describe('POST /contacts/bulk', () => {
    it('applies mixed operations, each answered as its single-record endpoint would', async () => {
      const a = await newContact(team.owner, { email: `a-${tag()}@example.com`, phone: '12345' });
      const withDeal = await newContact();
      await created(post(team.owner, 'deals', { contactId: withDeal.id, title: 'Keeps it' }));
      const doomed = await newContact();
      const newEmail = `new-${tag()}@example.com`;

      const operations: Operation[] = [
        { op: 'create', data: { name: '  New One ', email: newEmail } },
        { op: 'update', id: a.id as string, data: { phone: '+1 555 0100' } },
        { op: 'delete', id: doomed.id as string },
        { op: 'create', data: { name: 'Bad', email: 'not-an-email', bogus: 1 } },
        { op: 'update', id: randomUUID(), data: { name: 'Nobody' } },
        { op: 'create', data: { name: 'Twin', email: (a.email as string).toUpperCase() } },
        { op: 'create', data: { name: 'Orphan', ownerId: randomUUID() } },
        { op: 'delete', id: withDeal.id as string },
        { op: 'update', id: a.id as string, data: { name: null } },
      ];
      const res = await bulk(team.owner, 'contacts', operations);
      const results = okResults(res, operations.length);

      expect(results.slice(0, 3)).toEqual([
        { index: 0, status: 201, id: expect.any(String) },
        { index: 1, status: 200, id: a.id },
        { index: 2, status: 204, id: doomed.id },
      ]);
      // Failures: exactly the single endpoint's answers to the same input.
      expectSameError(results[3], await post(team.owner, 'contacts', operations[3].data!), res);
      expect(results[3].error?.details).toEqual(
        expect.arrayContaining([
          { field: 'email', message: 'email must be an email' },
          { field: 'bogus', message: expect.any(String) },
        ]),
      );
      expectSameError(
        results[4],
        await t
          .http()
          .put(`${API}/contacts/${operations[4].id}`)
          .set(as(team.owner, org))
          .send({ name: 'Nobody' }),
        res,
      );
      expect(results[4].status).toBe(404);
      expectSameError(results[5], await post(team.owner, 'contacts', operations[5].data!), res);
      expect(results[5].error?.code).toBe('CONTACT_EMAIL_TAKEN');
      expectSameError(results[6], await post(team.owner, 'contacts', operations[6].data!), res);
      expect(results[6].error?.code).toBe('INVALID_OWNER');
      expectSameError(results[7], await remove(team.owner, 'contacts', withDeal.id as string), res);
      expect(results[7].error?.code).toBe('CONTACT_HAS_DEALS');
      const nullName = await t
        .http()
        .put(`${API}/contacts/${String(a.id)}`)
        .set(as(team.owner, org))
        .send({ name: null });
      expectSameError(results[8], nullName, res);
      expect(results[8].error?.details).toContainEqual({
        field: 'name',
        message: expect.any(String),
      });

      // What was written: the create, the update of only the phone, the delete.
      const made = await get(team.owner, 'contacts', results[0].id!);
      expect(made.body).toMatchObject({
        name: 'New One',
        email: newEmail,
        ownerId: team.owner.userId,
      });
      const changed = await get(team.owner, 'contacts', a.id as string);
      expect(changed.body).toEqual({
        ...(changed.body as object),
        name: a.name,
        email: a.email,
        phone: '+1 555 0100',
        companyId: null,
        ownerId: team.owner.userId,
      });
      expect((await get(team.owner, 'contacts', doomed.id as string)).status).toBe(404);
      expect((await get(team.owner, 'contacts', withDeal.id as string)).status).toBe(200);
      // Each success recorded its usual event, once.
      expect(await eventsOf(`contacts/${results[0].id}`)).toEqual(['crm.contact.created.v1']);
      expect(await eventsOf(`contacts/${String(a.id)}`)).toEqual([
        'crm.contact.created.v1',
        'crm.contact.updated.v1',
      ]);
      expect(await eventsOf(`contacts/${String(doomed.id)}`)).toEqual([
        'crm.contact.created.v1',
        'crm.contact.deleted.v1',
      ]);
    });

    it('update has PATCH semantics: only the given fields change, null clears email, phone, company', async () => {
      const company = await created(post(team.owner, 'companies', { name: `Co ${tag()}` }));
      const email = `patch-${tag()}@example.com`;
      const c = await newContact(team.owner, { email, phone: '555-0101', companyId: company.id });

      const res = await bulk(team.owner, 'contacts', [
        { op: 'update', id: c.id as string, data: { name: 'Renamed' } },
      ]);
      expect(okResults(res, 1)[0]).toEqual({ index: 0, status: 200, id: c.id });
      const renamed = (await get(team.owner, 'contacts', c.id as string)).body as Record<
        string,
        unknown
      >;
      expect(renamed).toMatchObject({
        name: 'Renamed',
        email,
        phone: '555-0101',
        companyId: company.id,
        ownerId: team.owner.userId,
      });

      const cleared = await bulk(team.owner, 'contacts', [
        { op: 'update', id: c.id as string, data: { phone: null, companyId: null } },
      ]);
      expect(okResults(cleared, 1)[0].status).toBe(200);
      expect((await get(team.owner, 'contacts', c.id as string)).body).toMatchObject({
        name: 'Renamed',
        email,
        phone: null,
        companyId: null,
      });

      // Nothing to change: 200, nothing written, no event.
      const before = await eventsOf(`contacts/${String(c.id)}`);
      const same = await bulk(team.owner, 'contacts', [
        { op: 'update', id: c.id as string, data: { name: 'Renamed' } },
      ]);
      expect(okResults(same, 1)[0].status).toBe(200);
      expect(await eventsOf(`contacts/${String(c.id)}`)).toEqual(before);
    });

    it('PUT /contacts/{id} still replaces the whole contact (absent email/phone become null)', async () => {
      const c = await newContact(team.owner, { email: `put-${tag()}@example.com`, phone: '12345' });
      const res = await t
        .http()
        .put(`${API}/contacts/${String(c.id)}`)
        .set(as(team.owner, org))
        .send({ name: 'Replaced' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: 'Replaced', email: null, phone: null });
    });
  });

  // ---------------------------------------------------------------- companies

  describe('POST /companies/bulk', () => {
    it('applies mixed operations with the rules of POST, PATCH and DELETE /companies', async () => {
      const domain = `acme-${tag()}.example`;
      const acme = await created(
        post(team.owner, 'companies', { name: 'Acme', domain, industry: 'Retail', phone: '12345' }),
      );
      const doomed = await created(post(team.owner, 'companies', { name: 'Doomed' }));
      const linked = await newContact(team.owner, { companyId: doomed.id });

      const operations: Operation[] = [
        { op: 'create', data: { name: 'Globex', domain: `GLOBEX-${tag()}.example` } },
        { op: 'update', id: acme.id as string, data: { industry: 'Manufacturing' } },
        { op: 'delete', id: doomed.id as string },
        { op: 'create', data: { name: 'Dup', domain: domain.toUpperCase() } },
        { op: 'update', id: acme.id as string, data: { socialProfiles: [{ network: 'myspace' }] } },
        { op: 'delete', id: randomUUID() },
      ];
      const res = await bulk(team.owner, 'companies', operations);
      const results = okResults(res, operations.length);
      expect(results.slice(0, 3)).toEqual([
        { index: 0, status: 201, id: expect.any(String) },
        { index: 1, status: 200, id: acme.id },
        { index: 2, status: 204, id: doomed.id },
      ]);
      expectSameError(results[3], await post(team.owner, 'companies', operations[3].data!), res);
      expect(results[3].error?.code).toBe('COMPANY_DOMAIN_TAKEN');
      expectSameError(
        results[4],
        await patch(team.owner, 'companies', acme.id as string, operations[4].data!),
        res,
      );
      expect(results[4].status).toBe(400);
      expectSameError(results[5], await remove(team.owner, 'companies', operations[5].id!), res);
      expect(results[5].status).toBe(404);

      expect((await get(team.owner, 'companies', results[0].id!)).body).toMatchObject({
        name: 'Globex',
        domain: (operations[0].data!.domain as string).toLowerCase(),
      });
      expect((await get(team.owner, 'companies', acme.id as string)).body).toMatchObject({
        name: 'Acme',
        domain,
        industry: 'Manufacturing',
        phone: '12345',
      });
      expect((await get(team.owner, 'companies', doomed.id as string)).status).toBe(404);
      expect((await get(team.owner, 'contacts', linked.id as string)).body).toMatchObject({
        companyId: null,
      });
      expect(await eventsOf(`companies/${String(acme.id)}`)).toEqual([
        'crm.company.created.v1',
        'crm.company.updated.v1',
      ]);
    });
  });

  // ---------------------------------------------------------------- deals

  describe('POST /deals/bulk', () => {
    it('applies mixed operations with the rules of POST, PATCH and DELETE /deals', async () => {
      const contact = await newContact();
      const other = await newContact();
      const open = await created(
        post(team.owner, 'deals', { contactId: contact.id, title: 'Open', amount: 100 }),
      );
      const fresh = await created(
        post(team.owner, 'deals', { contactId: contact.id, title: 'New' }),
      );
      const twin = await created(
        post(team.owner, 'deals', { contactId: contact.id, title: 'New' }),
      );
      const doomed = await created(
        post(team.owner, 'deals', { contactId: contact.id, title: 'Bye' }),
      );
      const outsiderContact = await created(
        post(team.outsider, 'contacts', { name: 'Elsewhere' }, team.outsider.organizationId),
      );

      const operations: Operation[] = [
        { op: 'create', data: { contactId: contact.id, title: 'Bulk deal', amount: '250.5' } },
        { op: 'update', id: open.id as string, data: { status: 'in_progress' } },
        { op: 'update', id: fresh.id as string, data: { status: 'won' } },
        { op: 'update', id: fresh.id as string, data: { status: 'in_progress', amount: 0 } },
        { op: 'delete', id: doomed.id as string },
        { op: 'create', data: { contactId: outsiderContact.id, title: 'Not yours' } },
        { op: 'create', data: { contactId: contact.id, title: 'Bad amount', amount: -1 } },
        { op: 'update', id: open.id as string, data: { contactId: other.id, title: 'Moved' } },
      ];
      const res = await bulk(team.manager, 'deals', operations);
      const results = okResults(res, operations.length);
      expect(results[0]).toEqual({ index: 0, status: 201, id: expect.any(String) });
      expect(results[1]).toEqual({ index: 1, status: 200, id: open.id });
      // Compared with a deal in the state `fresh` was in (new): fresh itself has moved on.
      const single = await patch(team.manager, 'deals', twin.id as string, { status: 'won' });
      expectSameError(results[2], single, res);
      expect(results[2].error?.code).toBe('INVALID_STATUS_TRANSITION');
      expect(results[3]).toEqual({ index: 3, status: 200, id: fresh.id });
      expect(results[4]).toEqual({ index: 4, status: 204, id: doomed.id });
      expectSameError(results[5], await post(team.manager, 'deals', operations[5].data!), res);
      expect(results[5].status).toBe(404);
      expectSameError(results[6], await post(team.manager, 'deals', operations[6].data!), res);
      expect(results[6].status).toBe(400);
      expect(results[7]).toEqual({ index: 7, status: 200, id: open.id });

      // A won deal needs an amount: 422, as PATCH answers (fresh is in_progress with 0 now).
      const win = await bulk(team.manager, 'deals', [
        { op: 'update', id: fresh.id as string, data: { status: 'won' } },
      ]);
      expectSameError(
        okResults(win, 1)[0],
        await patch(team.manager, 'deals', fresh.id as string, { status: 'won' }),
        win,
      );
      expect(resultsOf(win)[0].error?.code).toBe('AMOUNT_REQUIRED_TO_WIN');

      expect((await get(team.owner, 'deals', results[0].id!)).body).toMatchObject({
        title: 'Bulk deal',
        amount: '250.50',
        status: 'new',
        ownerId: team.manager.userId,
      });
      // Only the given fields changed.
      expect((await get(team.owner, 'deals', open.id as string)).body).toMatchObject({
        title: 'Moved',
        contactId: other.id,
        status: 'in_progress',
        amount: '100.00',
      });
      expect((await get(team.owner, 'deals', doomed.id as string)).status).toBe(404);
      expect(await eventsOf(`deals/${results[0].id}`)).toEqual(['crm.deal.created.v1']);
    });
  });

  // ---------------------------------------------------------------- envelope

  describe('the envelope', () => {
    it.each<[string, unknown, string]>([
      [
        '101 operations',
        Array.from({ length: 101 }, () => ({ op: 'create', data: { name: 'x' } })),
        'operations',
      ],
      ['no operation', [], 'operations'],
      ['not an array', { op: 'create' }, 'operations'],
      ['an unknown op', [{ op: 'upsert', data: { name: 'x' } }], 'operations.0.op'],
      [
        'an id on create',
        [{ op: 'create', id: randomUUID(), data: { name: 'x' } }],
        'operations.0.id',
      ],
      ['no id on update', [{ op: 'update', data: { name: 'x' } }], 'operations.0.id'],
      ['a malformed id', [{ op: 'delete', id: 'nope' }], 'operations.0.id'],
      ['no data on create', [{ op: 'create' }], 'operations.0.data'],
      ['an operation that is an array', [[]], 'operations'],
      ['data not an object', [{ op: 'update', id: randomUUID(), data: [1] }], 'operations.0.data'],
      ['data on delete', [{ op: 'delete', id: randomUUID(), data: {} }], 'operations.0.data'],
      [
        'an unknown property',
        [{ op: 'create', data: { name: 'x' }, extra: 1 }],
        'operations.0.extra',
      ],
    ])(
      '%s -> 400 VALIDATION_FAILED for the whole request, nothing written',
      async (_, operations, field) => {
        const before = await countRows('contacts');
        // A valid operation first: it is not applied either.
        const valid = { op: 'create', data: { name: 'Would be written' } };
        const sent =
          Array.isArray(operations) && operations.length ? [valid, ...operations] : operations;
        const res = await bulk(team.owner, 'contacts', sent);
        expectError(res, 400, 'VALIDATION_FAILED');
        const shifted =
          Array.isArray(operations) && operations.length
            ? field.replace(/^operations\.0\./, 'operations.1.')
            : field;
        expect((res.body as ErrorBody).details).toEqual(
          expect.arrayContaining([
            { field: operations === undefined ? field : shifted, message: expect.any(String) },
          ]),
        );
        expect(await countRows('contacts')).toBe(before);
      },
    );

    it('100 operations are accepted', async () => {
      const res = await bulk(
        team.owner,
        'contacts',
        Array.from({ length: 100 }, (_, i) => ({ op: 'create', data: { name: `Many ${i}` } })),
      );
      expect(okResults(res, 100).every((r) => r.status === 201)).toBe(true);
    });

    it('atomic takes only true or false', async () => {
      const res = await bulk(
        team.owner,
        'contacts',
        [{ op: 'create', data: { name: 'x' } }],
        '?atomic=yes',
      );
      expectError(res, 400, 'VALIDATION_FAILED');
    });

    it('needs the organization header and a member, like every tenant route', async () => {
      const res = await t
        .http()
        .post(`${API}/contacts/bulk`)
        .set(as(team.owner))
        .send({ operations: [{ op: 'create', data: { name: 'x' } }] });
      expectError(res, 400, 'INVALID_ORGANIZATION_HEADER');
      const outsider = await bulk(team.outsider, 'contacts', [
        { op: 'create', data: { name: 'x' } },
      ]);
      expectError(outsider, 403, 'NOT_A_MEMBER');
    });
  });

  // ---------------------------------------------------------------- roles and tenancy

  describe('roles, visibility and organizations, per operation', () => {
    it("a member works on their own records only: another's is 404, ownerId of someone else 403", async () => {
      const mine = await newContact(team.member);
      const ownersContact = await newContact(team.owner);
      const ownersCompany = await created(
        post(team.owner, 'companies', { name: `Owned ${tag()}` }),
      );
      const operations: Operation[] = [
        { op: 'update', id: mine.id as string, data: { name: 'Mine renamed' } },
        { op: 'update', id: ownersContact.id as string, data: { name: 'Stolen' } },
        { op: 'delete', id: ownersContact.id as string },
        { op: 'create', data: { name: 'Given away', ownerId: team.owner.userId } },
        { op: 'update', id: mine.id as string, data: { ownerId: team.manager.userId } },
        { op: 'create', data: { name: 'Mine too' } },
      ];
      const res = await bulk(team.member, 'contacts', operations);
      const results = okResults(res, operations.length);
      expect(results[0]).toEqual({ index: 0, status: 200, id: mine.id });
      expectSameError(
        results[1],
        await t
          .http()
          .put(`${API}/contacts/${String(ownersContact.id)}`)
          .set(as(team.member, org))
          .send({ name: 'Stolen' }),
        res,
      );
      expect(results[1].status).toBe(404);
      expect(results[2]).toMatchObject({ status: 404, error: { code: 'NOT_FOUND' } });
      expectSameError(results[3], await post(team.member, 'contacts', operations[3].data!), res);
      expect(results[3].error?.code).toBe('FORBIDDEN');
      expect(results[4]).toMatchObject({ status: 403, error: { code: 'FORBIDDEN' } });
      expect(results[5]).toMatchObject({ status: 201 });
      expect((await get(team.owner, 'contacts', results[5].id!)).body).toMatchObject({
        ownerId: team.member.userId,
      });
      expect((await get(team.owner, 'contacts', ownersContact.id as string)).body).toMatchObject({
        name: ownersContact.name,
      });
      expect((await get(team.owner, 'contacts', mine.id as string)).body).toMatchObject({
        name: 'Mine renamed',
        ownerId: team.member.userId,
      });

      const companies = await bulk(team.member, 'companies', [
        { op: 'update', id: ownersCompany.id as string, data: { name: 'Stolen' } },
      ]);
      expect(okResults(companies, 1)[0]).toMatchObject({
        status: 404,
        error: { code: 'NOT_FOUND' },
      });

      // A manager may give a record to another member, as PATCH allows.
      const given = await bulk(team.manager, 'contacts', [
        { op: 'update', id: mine.id as string, data: { ownerId: team.manager.userId } },
      ]);
      expect(okResults(given, 1)[0].status).toBe(200);
    });

    it("another organization's records are 404 per operation, and are not touched", async () => {
      const elsewhere = await created(
        post(team.outsider, 'contacts', { name: 'Foreign' }, team.outsider.organizationId),
      );
      const foreignCompany = await created(
        post(team.outsider, 'companies', { name: 'Foreign Co' }, team.outsider.organizationId),
      );
      const res = await bulk(team.owner, 'contacts', [
        { op: 'update', id: elsewhere.id as string, data: { name: 'Hijacked' } },
        { op: 'delete', id: elsewhere.id as string },
        { op: 'create', data: { name: 'Linked abroad', companyId: foreignCompany.id } },
      ]);
      const results = okResults(res, 3);
      for (const r of results) {
        expect(r).toEqual({
          index: r.index,
          status: 404,
          error: expect.objectContaining({ statusCode: 404, code: 'NOT_FOUND' }),
        });
      }
      const still = await t
        .http()
        .get(`${API}/contacts/${String(elsewhere.id)}`)
        .set(as(team.outsider, team.outsider.organizationId));
      expect(still.body).toMatchObject({ name: 'Foreign' });
    });
  });

  // ---------------------------------------------------------------- atomic

  describe('atomic=true', () => {
    it('a failure in the middle -> 409 BULK_FAILED with results, and nothing written, no event', async () => {
      const a = await newContact(team.owner, { email: `atomic-${tag()}@example.com` });
      const doomed = await newContact();
      const email = `twice-${tag()}@example.com`;
      const [contactsBefore, eventsBefore] = [await countRows('contacts'), await countEvents()];

      const operations: Operation[] = [
        { op: 'create', data: { name: 'First', email } },
        { op: 'update', id: a.id as string, data: { name: 'Changed' } },
        { op: 'delete', id: doomed.id as string },
        // Sees the create above, in the same transaction: the email is taken.
        { op: 'create', data: { name: 'Second', email } },
        { op: 'create', data: { name: 'Never run' } },
      ];
      const res = await bulk(team.owner, 'contacts', operations, '?atomic=true');
      expectError(res, 409, 'BULK_FAILED');
      const body = res.body as ErrorBody & { results: Result[] };
      expect(Object.keys(body).sort()).toEqual([
        'code',
        'message',
        'requestId',
        'results',
        'statusCode',
      ]);
      expect(body.results).toEqual([
        { index: 0, status: 201, id: expect.any(String) },
        { index: 1, status: 200, id: a.id },
        { index: 2, status: 204, id: doomed.id },
        {
          index: 3,
          status: 409,
          error: {
            statusCode: 409,
            code: 'CONTACT_EMAIL_TAKEN',
            message: expect.any(String),
            requestId: res.headers['x-request-id'],
          },
        },
      ]);

      expect(await countRows('contacts')).toBe(contactsBefore);
      expect(await countEvents()).toBe(eventsBefore);
      expect((await get(team.owner, 'contacts', body.results[0].id!)).status).toBe(404);
      expect((await get(team.owner, 'contacts', a.id as string)).body).toMatchObject({
        name: a.name,
      });
      expect((await get(team.owner, 'contacts', doomed.id as string)).status).toBe(200);
    });

    it('a validation failure rolls back too (its 400 in results)', async () => {
      const contact = await newContact();
      const [dealsBefore, activitiesBefore, eventsBefore] = [
        await countRows('deals'),
        await countRows('activities'),
        await countEvents(),
      ];
      const res = await bulk(
        team.owner,
        'deals',
        [
          { op: 'create', data: { contactId: contact.id, title: 'Rolled back' } },
          { op: 'create', data: { contactId: contact.id, title: 'Bad', stage: 'Not A Key' } },
        ],
        '?atomic=true',
      );
      expectError(res, 409, 'BULK_FAILED');
      const results = (res.body as { results: Result[] }).results;
      expect(results).toHaveLength(2);
      expect(results[1]).toMatchObject({
        status: 400,
        error: {
          code: 'VALIDATION_FAILED',
          details: [{ field: 'stage', message: expect.any(String) }],
        },
      });
      expect(await countRows('deals')).toBe(dealsBefore);
      expect(await countRows('activities')).toBe(activitiesBefore);
      expect(await countEvents()).toBe(eventsBefore);
    });

    it('all good -> 200, everything written, each event recorded once', async () => {
      const a = await newContact();
      const doomed = await newContact();
      const [contactsBefore, eventsBefore] = [await countRows('contacts'), await countEvents()];
      const res = await bulk(
        team.owner,
        'contacts',
        [
          { op: 'create', data: { name: 'Atomic one' } },
          { op: 'create', data: { name: 'Atomic two' } },
          { op: 'update', id: a.id as string, data: { phone: '555-0199' } },
          { op: 'delete', id: doomed.id as string },
        ],
        '?atomic=true',
      );
      const results = okResults(res, 4);
      expect(results.map((r) => r.status)).toEqual([201, 201, 200, 204]);
      expect(await countRows('contacts')).toBe(contactsBefore + 1);
      expect(await countEvents()).toBe(eventsBefore + 4);
      expect(await eventsOf(`contacts/${results[0].id}`)).toEqual(['crm.contact.created.v1']);
      expect(await eventsOf(`contacts/${results[1].id}`)).toEqual(['crm.contact.created.v1']);
      expect(await eventsOf(`contacts/${String(a.id)}`)).toEqual([
        'crm.contact.created.v1',
        'crm.contact.updated.v1',
      ]);
      expect(await eventsOf(`contacts/${String(doomed.id)}`)).toEqual([
        'crm.contact.created.v1',
        'crm.contact.deleted.v1',
      ]);
      expect((await get(team.owner, 'contacts', results[1].id!)).body).toMatchObject({
        name: 'Atomic two',
      });
      expect((await get(team.owner, 'contacts', a.id as string)).body).toMatchObject({
        name: a.name,
        phone: '555-0199',
      });
    });

    it('deals: the operations see each other (a status change then the next step) and commit together', async () => {
      const contact = await newContact();
      const deal = await created(
        post(team.owner, 'deals', { contactId: contact.id, title: 'Step by step', amount: 10 }),
      );
      const res = await bulk(
        team.owner,
        'deals',
        [
          { op: 'update', id: deal.id as string, data: { status: 'in_progress' } },
          { op: 'update', id: deal.id as string, data: { status: 'won' } },
        ],
        '?atomic=true',
      );
      expect(okResults(res, 2).map((r) => r.status)).toEqual([200, 200]);
      expect((await get(team.owner, 'deals', deal.id as string)).body).toMatchObject({
        status: 'won',
        stage: 'closed',
      });
      expect(await eventsOf(`deals/${String(deal.id)}`)).toEqual([
        'crm.deal.created.v1',
        'crm.deal.updated.v1',
        'crm.deal.stage_changed.v1',
        'crm.deal.won.v1',
      ]);
    });
  });

  /** Contacts of the organization with this name. */
  const countNamed = async (name: string) => {
    const rows: { n: number }[] = await t.db.query(
      'SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1 AND name = $2',
      [org, name],
    );
    return rows[0].n;
  };

  describe('UnitOfWork.atomic (the transaction the services join)', () => {
    const probe = (name: string) => ({ ownerId: team.owner.userId, name });

    it('joined runs commit once, together: reads see earlier writes, after-commit work runs after', async () => {
      const uow = t.app.get(UnitOfWork);
      const actor = { ...systemActor(org), userId: team.owner.userId };
      const name = `Joined ${tag()}`;
      const ran: string[] = [];
      const eventsBefore = await countEvents();
      await uow.atomic(async () => {
        for (const i of [1, 2]) {
          await uow.run(actor, async (tx) => {
            await tx.repo(Contact).save(probe(name));
            tx.emit('crm.contact.created.v1', `contacts/joined-${i}`, {});
            tx.afterCommit(async () => void ran.push(`after ${i}: ${await countNamed(name)}`));
          });
        }
        // Inside: the joined writes are visible through run and read; outside, not yet.
        expect(await uow.read(actor).repo(Contact).countBy({ name })).toBe(2);
        expect(await countNamed(name)).toBe(0);
        expect(ran).toEqual([]);
      });
      expect(await countNamed(name)).toBe(2);
      expect(ran).toEqual(['after 1: 2', 'after 2: 2']);
      expect(await countEvents()).toBe(eventsBefore + 2);
    });

    it('a joined run that fails rolls the whole back, even when its error is caught', async () => {
      const uow = t.app.get(UnitOfWork);
      const actor = { ...systemActor(org), userId: team.owner.userId };
      const name = `Doomed ${tag()}`;
      const ran: string[] = [];
      const eventsBefore = await countEvents();
      await expect(
        uow.atomic(async () => {
          await uow.run(actor, async (tx) => {
            await tx.repo(Contact).save(probe(name));
            tx.emit('crm.contact.created.v1', 'contacts/doomed', {});
            tx.afterCommit(() => void ran.push('after'));
          });
          await uow.run(actor, () => Promise.reject(new Error('boom'))).catch(() => undefined);
          return 'would commit';
        }),
      ).rejects.toThrow('boom');
      expect(await countNamed(name)).toBe(0);
      expect(await countEvents()).toBe(eventsBefore);
      expect(ran).toEqual([]);
      // Outside atomic, each run is its own transaction again.
      await expect(
        uow.run(actor, async (tx) => {
          await tx.repo(Contact).save(probe(name));
          throw new Error('alone');
        }),
      ).rejects.toThrow('alone');
      expect(await countNamed(name)).toBe(0);
    });
  });

  describe('UnitOfWork.run: what a transaction sends', () => {
    /** The statements of each query runner the data source makes while `work` runs. */
    const statementsOf = async (work: () => Promise<unknown>): Promise<string[][]> => {
      const dataSource = t.app.get(DataSource);
      const make = dataSource.createQueryRunner.bind(dataSource);
      const runners: string[][] = [];
      const spy = jest.spyOn(dataSource, 'createQueryRunner').mockImplementation((mode) => {
        const runner = make(mode);
        const sent: string[] = [];
        runners.push(sent);
        const query = runner.query.bind(runner);
        runner.query = ((sql: string, ...rest: never[]) => {
          sent.push(sql.trim());
          return query(sql, ...rest);
        }) as typeof runner.query;
        return runner;
      });
      try {
        await work();
      } finally {
        spy.mockRestore();
      }
      return runners;
    };
    const actor = () => ({ ...systemActor(org), userId: team.owner.userId });

    it('a write commits in the statement that records its events: no COMMIT of its own after it', async () => {
      const name = `Round trips ${tag()}`;
      const runners = await statementsOf(() =>
        t.app.get(UnitOfWork).run(actor(), async (tx) => {
          await tx.repo(Contact).save({ ownerId: team.owner.userId, name });
          tx.emit('crm.contact.created.v1', 'contacts/round-trips', {});
        }),
      );
      const mine = runners.find((sent) =>
        sent.some((sql) => sql.startsWith('INSERT INTO "contacts"')),
      );
      expect(mine).toBeDefined();
      const sent = mine as string[];
      expect(sent[0]).toBe('START TRANSACTION');
      expect(sent.at(-1)).toMatch(/^WITH ordering AS MATERIALIZED[\s\S]*;\s*COMMIT$/);
      expect(sent.filter((sql) => /^(COMMIT|ROLLBACK)$/.test(sql))).toEqual([]);
      expect(await countNamed(name)).toBe(1);
    });

    it('a transaction without events commits with its own COMMIT', async () => {
      const runners = await statementsOf(() =>
        t.app.get(UnitOfWork).run(actor(), (tx) => tx.repo(Contact).countBy({ name: 'none' })),
      );
      const mine = runners.find((sent) => sent[0] === 'START TRANSACTION') as string[];
      expect(mine.at(-1)).toBe('COMMIT');
      expect(mine.filter((sql) => sql === 'COMMIT')).toHaveLength(1);
    });

    it('rows inserted at commit travel in the commit statement, before the events, values exact', async () => {
      const contact = await newContact();
      const deal = await created(post(team.owner, 'deals', { contactId: contact.id, title: 'At' }));
      const name = `At commit ${tag()}`;
      const payload = { quote: 'it\'s \\ "x"', text: "'); DROP TABLE activities; --", ü: ['ß', 1] };
      const at = '2026-01-02 03:04:05.123456+00';
      const runners = await statementsOf(() =>
        t.app.get(UnitOfWork).run(actor(), async (tx) => {
          await tx.repo(Contact).save({ ownerId: team.owner.userId, name });
          tx.insertAtCommit(Activity, [
            { dealId: deal.id as string, authorId: null, type: ActivityType.SYSTEM, payload },
          ]);
          tx.insertAtCommit(Activity, [
            {
              dealId: deal.id as string,
              authorId: team.owner.userId,
              type: ActivityType.SYSTEM,
              payload: { n: 2 },
              createdAt: at,
            },
          ]);
          // Not sent yet: the transaction's own reads do not see them.
          expect(await tx.repo(Activity).countBy({ dealId: deal.id as string })).toBe(1);
          tx.emit('crm.contact.created.v1', 'contacts/at-commit', {});
        }),
      );
      const mine = runners.find((sent) =>
        sent.some((sql) => sql.startsWith('INSERT INTO "contacts"')),
      ) as string[];
      // One round trip: the activities, then the events, then COMMIT.
      expect(mine.filter((sql) => sql.includes('INSERT INTO "activities"'))).toHaveLength(1);
      const last = mine.at(-1)!;
      const insert = 'INSERT INTO "activities"';
      expect(last.startsWith(insert)).toBe(true);
      expect(last.split(insert)).toHaveLength(3);
      expect(last.indexOf('WITH ordering AS MATERIALIZED')).toBeGreaterThan(
        last.lastIndexOf(insert),
      );
      expect(last).toMatch(/;\s*COMMIT$/);
      const rows = await t.db.query<{ payload: unknown; at: string; author_id: string | null }[]>(
        `SELECT payload, created_at::text AS at, author_id FROM activities
          WHERE deal_id = $1 AND payload <> '{"event": "deal_created"}'::jsonb ORDER BY created_at, id`,
        [deal.id],
      );
      expect(rows).toEqual([
        { payload: { n: 2 }, at: '2026-01-02 03:04:05.123456+00', author_id: team.owner.userId },
        { payload, at: expect.any(String), author_id: null },
      ]);
      expect(await countNamed(name)).toBe(1);
    });

    it('rows of a table without events inserted at commit go with a COMMIT of their own', async () => {
      const dedupeKey = `at-commit:${tag()}`;
      const runners = await statementsOf(() =>
        t.app.get(UnitOfWork).run(actor(), (tx) => {
          tx.insertAtCommit(Notification, [
            { userId: team.owner.userId, kind: 'test', title: 'T', body: 'B', dedupeKey },
          ]);
          return Promise.resolve();
        }),
      );
      const mine = runners.find((sent) => sent[0] === 'START TRANSACTION') as string[];
      expect(mine.at(-1)).toMatch(/^INSERT INTO "notifications" [\s\S]*;\s*COMMIT$/);
      const rows = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM notifications WHERE dedupe_key = $1',
        [dedupeKey],
      );
      expect(rows[0].n).toBe(1);
    });

    it('a row that cannot be inserted at commit rolls the whole transaction back', async () => {
      const uow = t.app.get(UnitOfWork);
      const name = `Doomed at commit ${tag()}`;
      await expect(
        uow.run(actor(), async (tx) => {
          await tx.repo(Contact).save({ ownerId: team.owner.userId, name });
          // No such deal: the foreign key fails the commit statement.
          tx.insertAtCommit(Activity, [
            { dealId: randomUUID(), authorId: null, type: ActivityType.SYSTEM, payload: {} },
          ]);
          tx.emit('crm.contact.created.v1', 'contacts/doomed-at-commit', {});
        }),
      ).rejects.toThrow(/foreign key/);
      expect(await countNamed(name)).toBe(0);
      // Plain values only, the same properties in every row.
      const repo = new ScopedRepository(t.app.get(DataSource).manager, Activity, org, () => {});
      expect(() =>
        repo.literalInsert([{ dealId: randomUUID(), payload: (() => '{}') as never }]),
      ).toThrow(/no function values/);
      expect(() => repo.literalInsert([{ dealId: randomUUID() }, { payload: {} }])).toThrow(
        /same properties/,
      );
    });

    it('events that cannot be recorded roll the write back, and the connection serves the next one', async () => {
      const uow = t.app.get(UnitOfWork);
      const name = `Unrecorded ${tag()}`;
      const runners = await statementsOf(() =>
        expect(
          uow.run(actor(), async (tx) => {
            await tx.repo(Contact).save({ ownerId: team.owner.userId, name });
            // A BigInt has no JSON form: the envelope cannot be written.
            tx.emit('crm.contact.created.v1', 'contacts/unrecorded', { n: BigInt(1) });
          }),
        ).rejects.toThrow(/BigInt/),
      );
      const mine = runners.find((sent) =>
        sent.some((sql) => sql.startsWith('INSERT INTO "contacts"')),
      );
      expect(mine?.at(-1)).toBe('ROLLBACK');
      expect(await countNamed(name)).toBe(0);
      await uow.run(actor(), async (tx) => {
        await tx.repo(Contact).save({ ownerId: team.owner.userId, name });
        tx.emit('crm.contact.created.v1', 'contacts/unrecorded', {});
      });
      expect(await countNamed(name)).toBe(1);
    });
  });

  describe('readRows (reads outside a transaction, on the pool)', () => {
    const contacts = () => t.app.get(DataSource).createQueryBuilder(Contact, 'c');

    it('answers the rows, and wraps PostgreSQL errors in a QueryFailedError as TypeORM does', async () => {
      const [row] = await readRows<{ n: number }>(contacts(), 'SELECT $1::int + 1 AS n', [41]);
      expect(row).toEqual({ n: 42 });
      const failed = await readRows(contacts(), 'SELECT 1 / $1::int', [0]).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(QueryFailedError);
      expect(
        (failed as QueryFailedError & { driverError: { code: string } }).driverError.code,
      ).toBe('22012');
      // The connection went back to the pool and works (a pool of DB_POOL_MAX, used again and again).
      for (let i = 0; i < 30; i++) {
        await readRows(contacts(), 'SELECT 1 / $1::int', [0]).catch(() => undefined);
      }
      expect(await readRows(contacts(), 'SELECT 2 AS n', [])).toEqual([{ n: 2 }]);
    });

    it("runs in the builder's transaction when it has one: sees its uncommitted writes", async () => {
      const name = `Raw read ${tag()}`;
      await t.app
        .get(UnitOfWork)
        .run({ ...systemActor(org), userId: team.owner.userId }, async (tx) => {
          await tx.repo(Contact).save({ ownerId: team.owner.userId, name });
          const query = tx.query(Contact, 'c').where('c.name = :name', { name });
          const [sql, parameters] = query.getQueryAndParameters();
          expect(await readRows(query, sql, parameters)).toHaveLength(1);
          // Outside it, not yet.
          const outside = contacts().where('c.name = :name', { name });
          expect(await readRows(outside, ...outside.getQueryAndParameters())).toHaveLength(0);
          tx.emit('crm.contact.created.v1', 'contacts/raw-read', {});
        });
    });
  });

  describe('the OpenAPI document', () => {
    it('describes the three bulk routes: body, query, 200 results and 409 BULK_FAILED with results', async () => {
      const res = await t.http().get('/docs-json');
      expect(res.status).toBe(200);
      const doc = res.body as {
        paths: Record<string, Record<string, Record<string, unknown>>>;
        components: {
          schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
        };
      };
      const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
      for (const [collection, body] of [
        ['contacts', 'ContactBulkRequestDto'],
        ['companies', 'CompanyBulkRequestDto'],
        ['deals', 'DealBulkRequestDto'],
      ]) {
        const op = doc.paths[`/api/v1/${collection}/bulk`]?.post as {
          summary: string;
          description: string;
          parameters: { name: string; in: string }[];
          requestBody: { content: Record<string, { schema: unknown }> };
          responses: Record<string, { content: Record<string, { schema: unknown }> }>;
        };
        expect(op).toBeDefined();
        expect(op.summary).toEqual(expect.any(String));
        expect(op.description).toContain('atomic=true');
        expect(op.parameters).toEqual(
          expect.arrayContaining([expect.objectContaining({ name: 'atomic', in: 'query' })]),
        );
        expect(op.requestBody.content['application/json'].schema).toEqual(ref(body));
        expect(op.responses['200'].content['application/json'].schema).toEqual(
          ref('BulkResponseDto'),
        );
        expect(op.responses['409'].content['application/json'].schema).toEqual(
          ref('BulkFailedErrorDto'),
        );
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '401', '403']));
      }
      const schemas = doc.components.schemas;
      expect(schemas.BulkFailedErrorDto.required).toEqual(
        expect.arrayContaining(['statusCode', 'code', 'message', 'requestId', 'results']),
      );
      // anyOf, not oneOf: every valid create body is also a valid update body (decision 0043).
      expect(schemas.ContactBulkOperationDto.properties?.data).toMatchObject({
        anyOf: [ref('ContactInputDto'), ref('UpdateContactDto')],
      });
      expect(schemas.ContactBulkOperationDto.required).toEqual(['op']);
      expect(schemas.UpdateContactDto.required ?? []).toEqual([]);
    });
  });

  describe('atomic=false (the default)', () => {
    it('a partial failure keeps the operations that succeeded', async () => {
      const email = `partial-${tag()}@example.com`;
      const [contactsBefore, eventsBefore] = [await countRows('contacts'), await countEvents()];
      const res = await bulk(
        team.owner,
        'contacts',
        [
          { op: 'create', data: { name: 'Kept one', email } },
          { op: 'create', data: { name: 'Refused', email } },
          { op: 'create', data: { name: 'Kept two' } },
        ],
        '?atomic=false',
      );
      const results = okResults(res, 3);
      expect(results.map((r) => r.status)).toEqual([201, 409, 201]);
      expect(await countRows('contacts')).toBe(contactsBefore + 2);
      expect(await countEvents()).toBe(eventsBefore + 2);
      for (const r of [results[0], results[2]]) {
        expect((await get(team.owner, 'contacts', r.id!)).status).toBe(200);
      }
    });
  });
});
