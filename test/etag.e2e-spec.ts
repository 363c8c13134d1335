import { randomUUID } from 'node:crypto';
import type { OpenAPIObject, OperationObject, ParameterObject } from '@nestjs/swagger';
import type { Response, Test } from 'supertest';
import { as, createTeam, expectError, type Session, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * ETag / If-Match / If-None-Match (API.md section 17) on contacts, companies, leads, deals,
 * tasks and pipelines: every single-record answer carries a strong ETag that changes with every
 * change of the record; PATCH, PUT, DELETE and the deal and lead actions honour If-Match (412
 * PRECONDITION_FAILED, nothing changed); GET honours If-None-Match (304 without a body).
 * Precedence (section 1): 400 and 404 first, then 412, then the record's rules.
 */

const API = '/api/v1';
const STRONG_ETAG = /^"[A-Za-z0-9_-]{22}"$/;
const STALE = '"AAAAAAAAAAAAAAAAAAAAAA"';

const inDays = (days: number): string =>
  new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

type Body = Record<string, unknown> & { id: string };

/** How to create and change one resource through the API. */
interface Resource {
  name: string;
  path: string;
  /** Creates a record as `s`; answers the 201. */
  create: (s: Session) => Promise<Response>;
  /** The write that changes the record: its method and a body setting `field` to `value`. */
  write: { method: 'patch' | 'put'; body: (value: string) => object };
  field: string;
}

describe('ETag, If-Match and If-None-Match (API.md section 17)', () => {
  let t: TestApp;
  let team: Team;
  let owner: Session;
  let contactId: string;

  const headers = (s: Session): Record<string, string> =>
    as(s, s === team.outsider ? s.organizationId : team.organizationId);
  const get = (path: string, id: string, s: Session = owner): Test =>
    t.http().get(`${API}/${path}/${id}`).set(headers(s));

  async function created(res: Response): Promise<Body> {
    expect(res.status).toBe(201);
    return Promise.resolve(res.body as Body);
  }

  const post = (s: Session, path: string, body: object): Promise<Response> =>
    t
      .http()
      .post(`${API}/${path}`)
      .set(headers(s))
      .send(body)
      .then((res) => res);

  async function newContact(s: Session, name = 'Ada Lovelace'): Promise<Body> {
    return created(await post(s, 'contacts', { name }));
  }
  async function newDeal(s: Session, extra: object = {}): Promise<Body> {
    const contact = s === owner ? contactId : (await newContact(s)).id;
    return created(
      await post(s, 'deals', { contactId: contact, title: 'Deal', amount: 100, ...extra }),
    );
  }

  const RESOURCES: Resource[] = [
    {
      name: 'contacts',
      path: 'contacts',
      create: (s) => post(s, 'contacts', { name: 'Grace Hopper' }),
      write: { method: 'put', body: (name) => ({ name }) },
      field: 'name',
    },
    {
      name: 'companies',
      path: 'companies',
      create: (s) => post(s, 'companies', { name: 'Acme' }),
      write: { method: 'patch', body: (name) => ({ name }) },
      field: 'name',
    },
    {
      name: 'leads',
      path: 'leads',
      create: (s) => post(s, 'leads', { name: 'Lead' }),
      write: { method: 'patch', body: (name) => ({ name }) },
      field: 'name',
    },
    {
      name: 'deals',
      path: 'deals',
      create: async (s) =>
        post(s, 'deals', {
          contactId: s === owner ? contactId : (await newContact(s)).id,
          title: 'Deal',
        }),
      write: { method: 'patch', body: (title) => ({ title }) },
      field: 'title',
    },
    {
      name: 'tasks',
      path: 'tasks',
      create: async (s) =>
        post(s, 'tasks', { dealId: (await newDeal(s)).id, title: 'Call', dueDate: inDays(3) }),
      write: { method: 'patch', body: (title) => ({ title }) },
      field: 'title',
    },
    {
      name: 'pipelines',
      path: 'pipelines',
      create: (s) =>
        post(s, 'pipelines', {
          name: 'Sales',
          stages: [
            { key: 'lead', name: 'Lead', probability: 10 },
            { key: 'won', name: 'Won', probability: 100 },
          ],
        }),
      write: { method: 'patch', body: (name) => ({ name }) },
      field: 'name',
    },
  ];

  const write = (
    r: Resource,
    id: string,
    value: string,
    ifMatch?: string,
    s: Session = owner,
  ): Test => {
    const req = t.http()[r.write.method](`${API}/${r.path}/${id}`).set(headers(s));
    if (ifMatch !== undefined) void req.set('if-match', ifMatch);
    return req.send(r.write.body(value));
  };
  const remove = (r: Resource, id: string, ifMatch?: string, s: Session = owner): Test => {
    const req = t.http().delete(`${API}/${r.path}/${id}`).set(headers(s));
    return ifMatch === undefined ? req : req.set('if-match', ifMatch);
  };

  /** The record and its ETag, read again. */
  async function current(r: Resource, id: string): Promise<{ body: Body; etag: string }> {
    const res = await get(r.path, id);
    expect(res.status).toBe(200);
    return { body: res.body as Body, etag: res.headers.etag };
  }

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    owner = team.owner;
    contactId = (await newContact(owner, 'Deal contact')).id;
  });

  afterAll(async () => {
    await t.close();
  });

  describe.each(RESOURCES.map((r) => [r.name, r] as const))('%s', (_, r) => {
    it('every single-record answer carries a strong ETag; lists carry none', async () => {
      const res = await r.create(owner);
      const record = await created(res);
      expect(res.headers.etag).toMatch(STRONG_ETAG);
      // The body is the contract's, nothing added.
      expect(Object.keys(record)).not.toContain('version');
      const read = await get(r.path, record.id);
      expect(read.status).toBe(200);
      expect(read.headers.etag).toBe(res.headers.etag);
      expect(read.body).toEqual(record);
      const list = await t.http().get(`${API}/${r.path}`).set(headers(owner));
      expect(list.status).toBe(200);
      expect(list.headers.etag).toBeUndefined();
    });

    it('GET with a matching If-None-Match answers 304 without a body', async () => {
      const { id } = await created(await r.create(owner));
      const { etag } = await current(r, id);
      for (const header of [etag, `W/${etag}`, `${STALE}, ${etag}`, '*']) {
        const res = await get(r.path, id).set('if-none-match', header);
        expect(res.status).toBe(304);
        expect(res.text ?? '').toBe('');
        expect(res.headers.etag).toBe(etag);
      }
      const other = await get(r.path, id).set('if-none-match', STALE);
      expect(other.status).toBe(200);
      expect(other.headers.etag).toBe(etag);
      expect((other.body as Body).id).toBe(id);
    });

    it('a change gives a new ETag; the old one no longer matches', async () => {
      const { id } = await created(await r.create(owner));
      const before = await current(r, id);
      const res = await write(r, id, 'Changed once');
      expect(res.status).toBe(200);
      expect(res.headers.etag).toMatch(STRONG_ETAG);
      expect(res.headers.etag).not.toBe(before.etag);
      const after = await current(r, id);
      expect(after.etag).toBe(res.headers.etag);
      expect(after.body[r.field]).toBe('Changed once');
      const old = await get(r.path, id).set('if-none-match', before.etag);
      expect(old.status).toBe(200);
      expect((old.body as Body)[r.field]).toBe('Changed once');
      const fresh = await get(r.path, id).set('if-none-match', after.etag);
      expect(fresh.status).toBe(304);
      // Writing what is already there changes nothing, the ETag included.
      const same = await write(r, id, 'Changed once');
      expect(same.status).toBe(200);
      expect(same.headers.etag).toBe(after.etag);
    });

    it('a write with a stale If-Match answers 412 and changes nothing', async () => {
      const { id } = await created(await r.create(owner));
      const first = await current(r, id);
      expect((await write(r, id, 'Second')).status).toBe(200);
      const second = await current(r, id);

      for (const stale of [first.etag, STALE, `W/${second.etag}`, 'not-an-etag']) {
        expectError(await write(r, id, 'Lost update', stale), 412, 'PRECONDITION_FAILED');
      }
      expectError(await remove(r, id, first.etag), 412, 'PRECONDITION_FAILED');
      const after = await current(r, id);
      expect(after.body).toEqual(second.body);
      expect(after.etag).toBe(second.etag);
    });

    it('a write with the current If-Match (or *, or a list naming it) succeeds', async () => {
      const { id } = await created(await r.create(owner));
      const { etag } = await current(r, id);
      const res = await write(r, id, 'Third', etag);
      expect(res.status).toBe(200);
      expect((res.body as Body)[r.field]).toBe('Third');
      const listed = await write(r, id, 'Fourth', `${STALE}, ${res.headers.etag}`);
      expect(listed.status).toBe(200);
      const any = await write(r, id, 'Fifth', '*');
      expect(any.status).toBe(200);
      expect((await current(r, id)).body[r.field]).toBe('Fifth');
    });

    it('DELETE with the current If-Match deletes; * on a missing record is 404', async () => {
      const { id } = await created(await r.create(owner));
      const { etag } = await current(r, id);
      expect((await remove(r, id, etag)).status).toBe(204);
      expectError(await get(r.path, id), 404, 'NOT_FOUND');
      expectError(await remove(r, id, '*'), 404, 'NOT_FOUND');
      expectError(await write(r, id, 'Gone', etag), 404, 'NOT_FOUND');
    });

    it('another organization’s record is 404, never 412', async () => {
      const { id } = await created(await r.create(team.outsider));
      expectError(await write(r, id, 'Hijack', STALE), 404, 'NOT_FOUND');
      expectError(await remove(r, id, STALE), 404, 'NOT_FOUND');
      expectError(await get(r.path, id).set('if-none-match', '*'), 404, 'NOT_FOUND');
      expectError(await write(r, randomUUID(), 'Nobody', '*'), 404, 'NOT_FOUND');
    });

    it('validation (400) comes before If-Match (412)', async () => {
      const { id } = await created(await r.create(owner));
      const res = await t
        .http()
        [r.write.method](`${API}/${r.path}/${id}`)
        .set(headers(owner))
        .set('if-match', STALE)
        .send({ ...r.write.body('x'), unknownProperty: 1 });
      expectError(res, 400, 'VALIDATION_FAILED');
    });
  });

  describe('deal actions', () => {
    const act = (id: string, action: string, body: object, ifMatch?: string): Test => {
      const req = t.http().post(`${API}/deals/${id}/${action}`).set(headers(owner));
      if (ifMatch !== undefined) void req.set('if-match', ifMatch);
      return req.send(body);
    };

    it.each([
      ['move-stage', { stage: 'negotiation' }, { stage: 'negotiation' }],
      ['win', {}, { status: 'won' }],
      ['lose', { reason: 'Budget' }, { status: 'lost', lostReason: 'Budget' }],
    ])('%s honours If-Match and answers the new ETag', async (action, body, expected) => {
      const deal = await newDeal(owner);
      const initial = (await get('deals', deal.id)).headers.etag;
      expect((await act(deal.id, 'move-stage', { stage: 'proposal' }, initial)).status).toBe(200);
      const before = await get('deals', deal.id);
      const moved = before.headers.etag;
      expect(moved).not.toBe(initial);

      expectError(await act(deal.id, action, body, STALE), 412, 'PRECONDITION_FAILED');
      const unchanged = await get('deals', deal.id);
      expect(unchanged.body).toEqual(before.body);
      expect(unchanged.headers.etag).toBe(moved);

      // The status moves on first where the action needs it (win: in_progress).
      if (action === 'win') {
        const res = await t
          .http()
          .patch(`${API}/deals/${deal.id}`)
          .set(headers(owner))
          .set('if-match', moved)
          .send({ status: 'in_progress' });
        expect(res.status).toBe(200);
      }
      const etag = (await get('deals', deal.id)).headers.etag;
      const res = await act(deal.id, action, body, etag);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject(expected);
      const after = await get('deals', deal.id);
      expect(res.headers.etag).toBe(after.headers.etag);
      expect(res.headers.etag).not.toBe(etag);
    });

    it('If-Match (412) comes before the deal’s rules (409, 422)', async () => {
      const deal = await newDeal(owner);
      // new -> won is 409 INVALID_STATUS_TRANSITION, but the ETag is checked first.
      expectError(await act(deal.id, 'win', {}, STALE), 412, 'PRECONDITION_FAILED');
      expectError(await act(deal.id, 'win', {}), 409, 'INVALID_STATUS_TRANSITION');
      const { etag } = (await get('deals', deal.id)).headers as { etag: string };
      expectError(await act(deal.id, 'win', {}, etag), 409, 'INVALID_STATUS_TRANSITION');
    });

    it('two clients PATCH one deal with the same ETag: one wins, the other gets 412', async () => {
      const deal = await newDeal(owner);
      const { etag } = (await get('deals', deal.id)).headers as { etag: string };
      const patch = (title: string): Promise<Response> =>
        t
          .http()
          .patch(`${API}/deals/${deal.id}`)
          .set(headers(owner))
          .set('if-match', etag)
          .send({ title })
          .then((res) => res);
      const [a, b] = await Promise.all([patch('Client A'), patch('Client B')]);
      expect([a.status, b.status].sort()).toEqual([200, 412]);
      const [winner, loser] = a.status === 200 ? [a, b] : [b, a];
      expectError(loser, 412, 'PRECONDITION_FAILED');
      const after = await get('deals', deal.id);
      expect((after.body as Body).title).toBe((winner.body as Body).title);
      expect(after.headers.etag).toBe(winner.headers.etag);
    });
  });

  describe('lead actions', () => {
    const act = (id: string, action: string, body: object, ifMatch?: string): Test => {
      const req = t.http().post(`${API}/leads/${id}/${action}`).set(headers(owner));
      if (ifMatch !== undefined) void req.set('if-match', ifMatch);
      return req.send(body);
    };

    it.each([
      ['qualify', {}, { status: 'qualified' }],
      ['disqualify', { reason: 'Spam' }, { status: 'disqualified', disqualifyReason: 'Spam' }],
    ])('%s honours If-Match and answers the new ETag', async (action, body, expected) => {
      const lead = await created(await post(owner, 'leads', { name: 'Lead' }));
      const before = await get('leads', lead.id);
      expectError(await act(lead.id, action, body, STALE), 412, 'PRECONDITION_FAILED');
      const unchanged = await get('leads', lead.id);
      expect(unchanged.body).toEqual(before.body);
      expect(unchanged.headers.etag).toBe(before.headers.etag);

      const res = await act(lead.id, action, body, before.headers.etag);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject(expected);
      expect(res.headers.etag).toMatch(STRONG_ETAG);
      expect(res.headers.etag).not.toBe(before.headers.etag);
      expect((await get('leads', lead.id)).headers.etag).toBe(res.headers.etag);
    });

    it('convert honours If-Match; its answer (several records) has no ETag', async () => {
      const lead = await created(
        await post(owner, 'leads', { name: 'Convert me', email: `${randomUUID()}@example.com` }),
      );
      const before = await get('leads', lead.id);
      expectError(await act(lead.id, 'convert', {}, STALE), 412, 'PRECONDITION_FAILED');
      const unchanged = await get('leads', lead.id);
      expect(unchanged.body).toEqual(before.body);
      expect((unchanged.body as Body).status).toBe('new');

      const res = await act(lead.id, 'convert', {}, before.headers.etag);
      expect(res.status).toBe(201);
      expect(res.headers.etag).toBeUndefined();
      const after = await get('leads', lead.id);
      expect((after.body as Body).status).toBe('converted');
      expect(after.headers.etag).not.toBe(before.headers.etag);
      // A converted lead: the stale ETag is 412 before the 409 of its state.
      expectError(await act(lead.id, 'qualify', {}, STALE), 412, 'PRECONDITION_FAILED');
      expectError(
        await act(lead.id, 'qualify', {}, after.headers.etag),
        409,
        'LEAD_ALREADY_CONVERTED',
      );
    });
  });

  it('a pipeline’s ETag changes when a stage is renamed', async () => {
    const pipeline = await created(
      await post(owner, 'pipelines', {
        name: 'Renames',
        stages: [
          { key: 'open', name: 'Open', probability: 20 },
          { key: 'done', name: 'Done', probability: 100 },
        ],
      }),
    );
    const before = await get('pipelines', pipeline.id);
    const res = await t
      .http()
      .patch(`${API}/pipelines/${pipeline.id}`)
      .set(headers(owner))
      .set('if-match', before.headers.etag)
      .send({
        stages: [
          { key: 'open', name: 'Opened', probability: 20 },
          { key: 'done', name: 'Done', probability: 100 },
        ],
      });
    expect(res.status).toBe(200);
    expect(res.headers.etag).not.toBe(before.headers.etag);
    const after = await get('pipelines', pipeline.id);
    expect(after.headers.etag).toBe(res.headers.etag);
    expect((after.body as { stages: { name: string }[] }).stages[0].name).toBe('Opened');
    expect(
      (await get('pipelines', pipeline.id).set('if-none-match', before.headers.etag)).status,
    ).toBe(200);
  });

  it('a contact’s ETag changes when deleting its company unlinks it (no API write of the contact)', async () => {
    const company = await created(await post(owner, 'companies', { name: 'Unlinks' }));
    const contact = await created(
      await post(owner, 'contacts', { name: 'Linked', companyId: company.id }),
    );
    const before = await get('contacts', contact.id);
    expect((before.body as Body).companyId).toBe(company.id);
    const res = await t.http().delete(`${API}/companies/${company.id}`).set(headers(owner));
    expect(res.status).toBe(204);
    const after = await get('contacts', contact.id);
    expect((after.body as Body).companyId).toBeNull();
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(
      (await get('contacts', contact.id).set('if-none-match', before.headers.etag)).status,
    ).toBe(200);
  });

  it('a contact replaced with a stale If-Match and a taken email: 412 before 409', async () => {
    const taken = `${randomUUID()}@example.com`;
    await newContact(owner, 'Holder');
    expect((await post(owner, 'contacts', { name: 'Holder 2', email: taken })).status).toBe(201);
    const contact = await newContact(owner, 'Mover');
    const put = (ifMatch?: string): Test => {
      const req = t.http().put(`${API}/contacts/${contact.id}`).set(headers(owner));
      return (ifMatch === undefined ? req : req.set('if-match', ifMatch)).send({
        name: 'Mover',
        email: taken,
      });
    };
    expectError(await put(STALE), 412, 'PRECONDITION_FAILED');
    expectError(await put(), 409, 'CONTACT_EMAIL_TAKEN');
  });

  it('the OpenAPI document describes ETag, If-Match, If-None-Match, 304 and 412', async () => {
    const res = await t.http().get('/docs-json');
    expect(res.status).toBe(200);
    const doc = res.body as OpenAPIObject;
    const op = (
      path: string,
      method: 'get' | 'patch' | 'put' | 'delete' | 'post',
    ): OperationObject => doc.paths[`${API}${path}`][method]!;
    const headerNames = (o: OperationObject): string[] =>
      ((o.parameters ?? []) as ParameterObject[])
        .filter((p) => p.in === 'header')
        .map((p) => p.name);

    for (const name of ['contacts', 'companies', 'leads', 'deals', 'tasks', 'pipelines']) {
      const read = op(`/${name}/{id}`, 'get');
      expect(headerNames(read)).toContain('If-None-Match');
      expect(read.responses['304']).toBeDefined();
      expect(read.responses['200']).toMatchObject({ headers: { ETag: expect.any(Object) } });
      const create = op(`/${name}`, 'post');
      expect(create.responses['201']).toMatchObject({ headers: { ETag: expect.any(Object) } });
      expect(headerNames(create)).not.toContain('If-Match');
      const list = op(`/${name}`, 'get');
      expect(headerNames(list)).not.toContain('If-None-Match');
      const writes: OperationObject[] = [op(`/${name}/{id}`, 'delete')];
      writes.push(op(`/${name}/{id}`, name === 'contacts' ? 'put' : 'patch'));
      for (const w of writes) {
        expect(headerNames(w)).toContain('If-Match');
        expect(w.responses['412']).toBeDefined();
      }
    }
    for (const path of [
      '/deals/{id}/move-stage',
      '/deals/{id}/win',
      '/deals/{id}/lose',
      '/leads/{id}/qualify',
      '/leads/{id}/disqualify',
      '/leads/{id}/convert',
    ]) {
      const action = op(path, 'post');
      expect(headerNames(action)).toContain('If-Match');
      expect(action.responses['412']).toBeDefined();
    }
    expect(op('/deals/{id}/win', 'post').responses['200']).toMatchObject({
      headers: { ETag: expect.any(Object) },
    });
    const conversion = op('/leads/{id}/convert', 'post').responses['201'] as {
      headers?: Record<string, unknown>;
    };
    expect(conversion.headers ?? {}).not.toHaveProperty('ETag');
  });
});
