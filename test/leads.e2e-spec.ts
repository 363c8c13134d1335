import { randomUUID } from 'node:crypto';
import type { Test } from 'supertest';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { expectValidation, ISO_TIMESTAMP, keysOf, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Leads and their conversion (API.md section 11) under the roles and visibility rules of
 * section 4, the list conventions of section 1 (offset and keyset pages) and the precedence
 * order of failing rules; conversion creates contacts (section 5) and deals (section 6, with
 * the pipelines of section 11) and writes a timeline entry (section 8).
 */

const API = '/api/v1';
const LEADS = `${API}/leads`;
const ROLES = ['owner', 'admin', 'manager', 'member'] as const;
type Role = (typeof ROLES)[number];
const STATUSES = ['new', 'contacted', 'qualified', 'disqualified', 'converted'] as const;
type Status = (typeof STATUSES)[number];

const LEAD_KEYS = [
  'companyName',
  'convertedAt',
  'convertedContactId',
  'convertedDealId',
  'createdAt',
  'disqualifyReason',
  'email',
  'id',
  'name',
  'organizationId',
  'ownerId',
  'phone',
  'source',
  'status',
  'updatedAt',
];
const PAGE_KEYS = ['items', 'page', 'pageSize', 'total'];
const CURSOR_PAGE_KEYS = ['items', 'nextCursor'];

interface LeadBody {
  id: string;
  organizationId: string;
  ownerId: string;
  name: string;
  email: string | null;
  phone: string | null;
  companyName: string | null;
  source: string | null;
  status: Status;
  disqualifyReason: string | null;
  convertedAt: string | null;
  convertedContactId: string | null;
  convertedDealId: string | null;
  createdAt: string;
  updatedAt: string;
}
interface IdBody {
  id: string;
  [key: string]: unknown;
}
interface ConversionBody {
  lead: LeadBody;
  contact: IdBody & { ownerId: string; name: string; email: string | null };
  company: (IdBody & { ownerId: string; name: string }) | null;
  deal: IdBody & {
    contactId: string;
    ownerId: string;
    pipelineId: string;
    title: string;
    amount: string;
    currency: string;
    status: string;
    stage: string;
    createdAt: string;
  };
}
interface PageBody {
  items: LeadBody[];
  total: number;
  page: number;
  pageSize: number;
}
interface CursorBody {
  items: LeadBody[];
  nextCursor: string | null;
}
interface Counts {
  leads: number;
  contacts: number;
  companies: number;
  deals: number;
  activities: number;
}

const idsOf = (items: { id: string }[]): string[] => items.map((l) => l.id);
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Asserts the exact Lead shape of API.md section 11. */
function expectLead(value: unknown, expected: Partial<LeadBody>): void {
  expect(keysOf(value)).toEqual(LEAD_KEYS);
  expect(value).toEqual({
    id: expect.stringMatching(UUID),
    organizationId: expect.stringMatching(UUID),
    ownerId: expect.stringMatching(UUID),
    name: expect.any(String),
    email: null,
    phone: null,
    companyName: null,
    source: null,
    status: 'new',
    disqualifyReason: null,
    convertedAt: null,
    convertedContactId: null,
    convertedDealId: null,
    createdAt: expect.stringMatching(ISO_TIMESTAMP),
    updatedAt: expect.stringMatching(ISO_TIMESTAMP),
    ...expected,
  });
}

describe('Leads (API.md section 11)', () => {
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

  const session = (role: Role): Session => team[role];
  const post = (s: Session, body: unknown, organizationId = org): Test =>
    t
      .http()
      .post(LEADS)
      .set(as(s, organizationId))
      .send(body as object);
  const get = (s: Session, id: string, organizationId = org): Test =>
    t.http().get(`${LEADS}/${id}`).set(as(s, organizationId));
  const patch = (s: Session, id: string, body: unknown, organizationId = org): Test =>
    t
      .http()
      .patch(`${LEADS}/${id}`)
      .set(as(s, organizationId))
      .send(body as object);
  const del = (s: Session, id: string, organizationId = org): Test =>
    t.http().delete(`${LEADS}/${id}`).set(as(s, organizationId));
  const list = (s: Session, query = '', organizationId = org): Test =>
    t.http().get(`${LEADS}${query}`).set(as(s, organizationId));
  const qualify = (s: Session, id: string, organizationId = org): Test =>
    t.http().post(`${LEADS}/${id}/qualify`).set(as(s, organizationId));
  const disqualify = (s: Session, id: string, body: unknown, organizationId = org): Test =>
    t
      .http()
      .post(`${LEADS}/${id}/disqualify`)
      .set(as(s, organizationId))
      .send(body as object);
  const convert = (s: Session, id: string, body: unknown = {}, organizationId = org): Test =>
    t
      .http()
      .post(`${LEADS}/${id}/convert`)
      .set(as(s, organizationId))
      .send(body as object);

  async function createLead(
    s: Session,
    body: Record<string, unknown> = {},
    organizationId = org,
  ): Promise<LeadBody> {
    const res = await post(
      s,
      { name: `Lead ${randomUUID().slice(0, 8)}`, ...body },
      organizationId,
    );
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 201,
      body: expect.anything(),
    });
    return res.body as LeadBody;
  }

  async function fetchLead(s: Session, id: string, organizationId = org): Promise<LeadBody> {
    const res = await get(s, id, organizationId);
    expect(res.status).toBe(200);
    return res.body as LeadBody;
  }

  async function converted(
    s: Session,
    id: string,
    body: Record<string, unknown> = {},
  ): Promise<ConversionBody> {
    const res = await convert(s, id, body);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 201,
      body: expect.anything(),
    });
    return res.body as ConversionBody;
  }

  /** A lead of `s` brought into `status` through the API. */
  async function leadIn(
    status: Status,
    s: Session = team.owner,
    body: Record<string, unknown> = {},
  ): Promise<LeadBody> {
    const lead = await createLead(s, body);
    if (status === 'contacted') expect((await patch(s, lead.id, { status })).status).toBe(200);
    if (status === 'qualified') expect((await qualify(s, lead.id)).status).toBe(200);
    if (status === 'disqualified') {
      expect((await disqualify(s, lead.id, { reason: 'No budget' })).status).toBe(200);
    }
    if (status === 'converted') await converted(s, lead.id);
    return fetchLead(s, lead.id);
  }

  async function counts(organizationId = org): Promise<Counts> {
    const [row] = await t.db.query<Counts[]>(
      `SELECT (SELECT count(*)::int FROM leads WHERE organization_id = $1) AS leads,
              (SELECT count(*)::int FROM contacts WHERE organization_id = $1) AS contacts,
              (SELECT count(*)::int FROM companies WHERE organization_id = $1) AS companies,
              (SELECT count(*)::int FROM deals WHERE organization_id = $1) AS deals,
              (SELECT count(*)::int FROM activities WHERE organization_id = $1) AS activities`,
      [organizationId],
    );
    return row;
  }

  async function insertCompany(
    name: string,
    ownerId: string,
    organizationId = org,
  ): Promise<string> {
    const [row] = await t.db.query<{ id: string }[]>(
      `INSERT INTO companies (organization_id, owner_id, name) VALUES ($1, $2, $3) RETURNING id`,
      [organizationId, ownerId, name],
    );
    return row.id;
  }

  async function createContact(s: Session, body: Record<string, unknown>): Promise<IdBody> {
    const res = await t.http().post(`${API}/contacts`).set(as(s, org)).send(body);
    expect(res.status).toBe(201);
    return res.body as IdBody;
  }

  async function createPipeline(keys: string[]): Promise<string> {
    const res = await t
      .http()
      .post(`${API}/pipelines`)
      .set(as(team.owner, org))
      .send({
        name: `Pipeline ${randomUUID().slice(0, 8)}`,
        stages: keys.map((key, i) => ({ key, name: key, probability: i * 10 })),
      });
    expect(res.status).toBe(201);
    return (res.body as { id: string }).id;
  }

  /** Unique marker for names, so list assertions only see this test's leads. */
  const marker = (): string => `m${randomUUID().replace(/-/g, '').slice(0, 10)}`;

  // ---------------------------------------------------------------- shape and create

  describe('POST /leads and GET /leads/{id}', () => {
    it('creates a lead with status new, owned by the caller, with the exact Lead shape', async () => {
      const res = await post(team.member, {
        name: '  Ada Lovelace  ',
        email: ' ada@engines.example ',
        phone: '+44 (20) 7946-0000',
        companyName: ' Analytical Engines ',
        source: ' website ',
      });
      expect(res.status).toBe(201);
      expectLead(res.body, {
        organizationId: org,
        ownerId: team.member.userId,
        name: 'Ada Lovelace',
        email: 'ada@engines.example',
        phone: '+44 (20) 7946-0000',
        companyName: 'Analytical Engines',
        source: 'website',
      });
      const body = res.body as LeadBody;
      expect(body.updatedAt).toBe(body.createdAt);
      const again = await get(team.member, body.id);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(body);
    });

    it('needs only a name; the optional fields are null, also when sent as null', async () => {
      expectLead(await createLead(team.owner, { name: 'Only name' }), {
        name: 'Only name',
        ownerId: team.owner.userId,
      });
      expectLead(
        await createLead(team.owner, {
          name: 'Nulls',
          email: null,
          phone: null,
          companyName: null,
          source: null,
        }),
        { name: 'Nulls' },
      );
    });

    it('does not require lead emails to be unique (nor checks them against contacts)', async () => {
      const email = `dup-${randomUUID().slice(0, 8)}@example.com`;
      await createContact(team.owner, { name: 'Existing', email });
      const a = await createLead(team.owner, { email });
      const b = await createLead(team.member, { email: email.toUpperCase() });
      expect(a.id).not.toBe(b.id);
    });

    it.each(ROLES)('any role may create a lead (%s)', async (role) => {
      const lead = await createLead(session(role));
      expect(lead.ownerId).toBe(session(role).userId);
    });

    describe('validation (400 VALIDATION_FAILED, nothing written)', () => {
      it.each([
        ['missing name', {}, 'name'],
        ['null name', { name: null }, 'name'],
        ['empty name', { name: '' }, 'name'],
        ['blank name', { name: '   ' }, 'name'],
        ['201-character name', { name: 'x'.repeat(201) }, 'name'],
        ['numeric name', { name: 42 }, 'name'],
        ['bad email', { name: 'A', email: 'not-an-email' }, 'email'],
        ['too long email', { name: 'A', email: `${'a'.repeat(250)}@x.io` }, 'email'],
        ['numeric email', { name: 'A', email: 5 }, 'email'],
        ['letters in phone', { name: 'A', phone: '555-CALL-ME' }, 'phone'],
        ['4-character phone', { name: 'A', phone: '1234' }, 'phone'],
        ['33-character phone', { name: 'A', phone: '1'.repeat(33) }, 'phone'],
        ['phone with an inner +', { name: 'A', phone: '12+345' }, 'phone'],
        ['empty companyName', { name: 'A', companyName: '' }, 'companyName'],
        ['201-character companyName', { name: 'A', companyName: 'c'.repeat(201) }, 'companyName'],
        ['empty source', { name: 'A', source: ' ' }, 'source'],
        ['101-character source', { name: 'A', source: 's'.repeat(101) }, 'source'],
        ['status in the body', { name: 'A', status: 'new' }, 'status'],
        ['disqualifyReason in the body', { name: 'A', disqualifyReason: 'x' }, 'disqualifyReason'],
        ['unknown property', { name: 'A', organizationId: randomUUID() }, 'organizationId'],
        ['ownerId not a UUID', { name: 'A', ownerId: 'me' }, 'ownerId'],
        ['null ownerId', { name: 'A', ownerId: null }, 'ownerId'],
        ['NUL in name', { name: 'A\u0000B' }, 'name'],
      ])('%s', async (_label, body, field) => {
        const before = await counts();
        expectValidation(await post(team.owner, body), field);
        expect(await counts()).toEqual(before);
      });

      it('malformed JSON', async () => {
        const res = await t
          .http()
          .post(LEADS)
          .set(as(team.owner, org))
          .set('content-type', 'application/json')
          .send('{"name": ');
        expectError(res, 400, 'VALIDATION_FAILED');
      });

      it.each(['get', 'patch', 'delete', 'qualify', 'disqualify', 'convert'] as const)(
        'a non-UUID id on %s',
        async (op) => {
          const s = team.owner;
          const bad = 'not-a-uuid';
          const res = await {
            get: () => get(s, bad),
            patch: () => patch(s, bad, { name: 'X' }),
            delete: () => del(s, bad),
            qualify: () => qualify(s, bad),
            disqualify: () => disqualify(s, bad, { reason: 'x' }),
            convert: () => convert(s, bad),
          }[op]();
          expectValidation(res, 'id');
        },
      );
    });

    it('GET an unknown id -> 404 NOT_FOUND', async () => {
      expectError(await get(team.owner, randomUUID()), 404, 'NOT_FOUND');
    });
  });

  // ---------------------------------------------------------------- ownerId rules

  describe('ownerId (API.md section 4)', () => {
    it.each(['owner', 'admin', 'manager'] as const)(
      '%s may create a lead for another member',
      async (role) => {
        const lead = await createLead(session(role), { ownerId: team.member.userId });
        expect(lead.ownerId).toBe(team.member.userId);
        expect((await get(team.member, lead.id)).status).toBe(200);
      },
    );

    it('a member may name themselves, not anyone else (403 FORBIDDEN, nothing written)', async () => {
      const own = await createLead(team.member, { ownerId: team.member.userId.toUpperCase() });
      expect(own.ownerId).toBe(team.member.userId);
      const before = await counts();
      expectError(
        await post(team.member, { name: 'X', ownerId: team.owner.userId }),
        403,
        'FORBIDDEN',
      );
      expect(await counts()).toEqual(before);
    });

    it.each([
      ['the outsider', () => team.outsider.userId],
      ['an unknown user', () => randomUUID()],
    ])('ownerId of %s -> 422 INVALID_OWNER (create and PATCH)', async (_label, ownerId) => {
      const before = await counts();
      expectError(
        await post(team.manager, { name: 'X', ownerId: ownerId() }),
        422,
        'INVALID_OWNER',
      );
      expect(await counts()).toEqual(before);
      const lead = await createLead(team.manager);
      expectError(await patch(team.manager, lead.id, { ownerId: ownerId() }), 422, 'INVALID_OWNER');
      expect(await fetchLead(team.manager, lead.id)).toEqual(lead);
    });

    it('a member changing ownerId on their lead -> 403 (a no-op to themselves is fine)', async () => {
      const lead = await createLead(team.member);
      expectError(
        await patch(team.member, lead.id, { ownerId: team.admin.userId }),
        403,
        'FORBIDDEN',
      );
      const same = await patch(team.member, lead.id, { ownerId: team.member.userId });
      expect(same.status).toBe(200);
      expect(same.body).toEqual(lead);
    });

    it('a manager reassigns a lead; the old member owner no longer sees it', async () => {
      const lead = await createLead(team.member);
      const res = await patch(team.manager, lead.id, { ownerId: team.admin.userId });
      expect(res.status).toBe(200);
      expect((res.body as LeadBody).ownerId).toBe(team.admin.userId);
      expectError(await get(team.member, lead.id), 404, 'NOT_FOUND');
    });

    it('precedence: 403 (member ownerId) before 409 (converted), and 409 before 422 (invalid owner)', async () => {
      const lead = await leadIn('converted', team.member);
      expectError(
        await patch(team.member, lead.id, { ownerId: team.owner.userId }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await patch(team.manager, lead.id, { ownerId: randomUUID() }),
        409,
        'LEAD_ALREADY_CONVERTED',
      );
    });
  });

  // ---------------------------------------------------------------- PATCH

  describe('PATCH /leads/{id}', () => {
    it('changes only the fields given, clears nullable ones with null, trims', async () => {
      const lead = await createLead(team.owner, {
        name: 'Before',
        email: 'before@example.com',
        phone: '12345',
        companyName: 'Before Inc',
        source: 'fair',
      });
      const res = await patch(team.owner, lead.id, { name: ' After ', phone: null, source: 'web' });
      expect(res.status).toBe(200);
      expectLead(res.body, {
        ...lead,
        name: 'After',
        phone: null,
        source: 'web',
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect((res.body as LeadBody).updatedAt > lead.updatedAt).toBe(true);
      const cleared = await patch(team.owner, lead.id, { email: null, companyName: null });
      expect(cleared.body).toEqual(
        expect.objectContaining({ name: 'After', email: null, companyName: null, source: 'web' }),
      );
      expect(await fetchLead(team.owner, lead.id)).toEqual(cleared.body);
    });

    it('an empty or unchanged PATCH writes nothing (updatedAt stays)', async () => {
      const lead = await createLead(team.owner, { email: 'same@example.com' });
      for (const body of [{}, { name: lead.name, email: 'same@example.com', status: 'new' }]) {
        const res = await patch(team.owner, lead.id, body);
        expect(res.status).toBe(200);
        expect(res.body).toEqual(lead);
      }
    });

    it('moves between new and contacted', async () => {
      const lead = await createLead(team.member);
      const contacted = await patch(team.member, lead.id, { status: 'contacted' });
      expect(contacted.status).toBe(200);
      expect((contacted.body as LeadBody).status).toBe('contacted');
      const back = await patch(team.member, lead.id, { status: 'new' });
      expect((back.body as LeadBody).status).toBe('new');
    });

    it.each([
      ['status qualified', { status: 'qualified' }, 'status'],
      ['status disqualified', { status: 'disqualified' }, 'status'],
      ['status converted', { status: 'converted' }, 'status'],
      ['unknown status', { status: 'won' }, 'status'],
      ['null status', { status: null }, 'status'],
      ['null name', { name: null }, 'name'],
      ['empty name', { name: '' }, 'name'],
      ['bad email', { email: 'x@' }, 'email'],
      ['bad phone', { phone: 'abc' }, 'phone'],
      ['null ownerId', { ownerId: null }, 'ownerId'],
      ['disqualifyReason', { disqualifyReason: 'x' }, 'disqualifyReason'],
      ['convertedDealId', { convertedDealId: randomUUID() }, 'convertedDealId'],
      ['unknown property', { foo: 1 }, 'foo'],
    ])('%s -> 400, lead unchanged', async (_label, body, field) => {
      const lead = await createLead(team.owner);
      expectValidation(await patch(team.owner, lead.id, body), field);
      expect(await fetchLead(team.owner, lead.id)).toEqual(lead);
    });

    it('400 comes before 404 (invalid body on an unknown id)', async () => {
      expectValidation(await patch(team.owner, randomUUID(), { status: 'won' }), 'status');
    });
  });

  // ---------------------------------------------------------------- status flow

  describe('status flow (every action from every status)', () => {
    type Action =
      | 'qualify'
      | 'disqualify'
      | 'convert'
      | 'patch status new'
      | 'patch status contacted'
      | 'patch name'
      | 'delete';
    const run = (action: Action, id: string): Test => {
      const s = team.owner;
      switch (action) {
        case 'qualify':
          return qualify(s, id);
        case 'disqualify':
          return disqualify(s, id, { reason: 'Went with a competitor' });
        case 'convert':
          return convert(s, id);
        case 'patch status new':
          return patch(s, id, { status: 'new' });
        case 'patch status contacted':
          return patch(s, id, { status: 'contacted' });
        case 'patch name':
          return patch(s, id, { name: 'Renamed' });
        case 'delete':
          return del(s, id);
      }
    };
    /** [from, action, status code, resulting status or error code]. */
    const TABLE: [Status, Action, number, string][] = [
      ['new', 'qualify', 200, 'qualified'],
      ['contacted', 'qualify', 200, 'qualified'],
      ['qualified', 'qualify', 200, 'qualified'],
      ['disqualified', 'qualify', 409, 'INVALID_LEAD_STATUS'],
      ['converted', 'qualify', 409, 'LEAD_ALREADY_CONVERTED'],
      ['new', 'disqualify', 200, 'disqualified'],
      ['contacted', 'disqualify', 200, 'disqualified'],
      ['qualified', 'disqualify', 200, 'disqualified'],
      ['disqualified', 'disqualify', 409, 'INVALID_LEAD_STATUS'],
      ['converted', 'disqualify', 409, 'LEAD_ALREADY_CONVERTED'],
      ['new', 'convert', 201, 'converted'],
      ['contacted', 'convert', 201, 'converted'],
      ['qualified', 'convert', 201, 'converted'],
      ['disqualified', 'convert', 409, 'INVALID_LEAD_STATUS'],
      ['converted', 'convert', 409, 'LEAD_ALREADY_CONVERTED'],
      ['new', 'patch status new', 200, 'new'],
      ['contacted', 'patch status new', 200, 'new'],
      ['qualified', 'patch status new', 409, 'INVALID_LEAD_STATUS'],
      ['disqualified', 'patch status new', 409, 'INVALID_LEAD_STATUS'],
      ['converted', 'patch status new', 409, 'LEAD_ALREADY_CONVERTED'],
      ['new', 'patch status contacted', 200, 'contacted'],
      ['contacted', 'patch status contacted', 200, 'contacted'],
      ['qualified', 'patch status contacted', 409, 'INVALID_LEAD_STATUS'],
      ['disqualified', 'patch status contacted', 409, 'INVALID_LEAD_STATUS'],
      ['converted', 'patch status contacted', 409, 'LEAD_ALREADY_CONVERTED'],
      ['new', 'patch name', 200, 'new'],
      ['contacted', 'patch name', 200, 'contacted'],
      ['qualified', 'patch name', 200, 'qualified'],
      ['disqualified', 'patch name', 200, 'disqualified'],
      ['converted', 'patch name', 409, 'LEAD_ALREADY_CONVERTED'],
      ...STATUSES.map((s): [Status, Action, number, string] => [s, 'delete', 204, '']),
    ];

    it.each(TABLE)('%s lead, %s -> %i %s', async (from, action, status, outcome) => {
      const lead = await leadIn(from);
      const before = await counts();
      const res = await run(action, lead.id);
      if (status >= 400) {
        expectError(res, status, outcome);
        expect(await fetchLead(team.owner, lead.id)).toEqual(lead);
        expect(await counts()).toEqual(before);
        return;
      }
      expect(res.status).toBe(status);
      if (action === 'delete') {
        expect(res.body).toEqual({});
        expectError(await get(team.owner, lead.id), 404, 'NOT_FOUND');
        // A converted lead's contact, company and deal stay.
        expect(await counts()).toEqual({ ...before, leads: before.leads - 1 });
        return;
      }
      const body = (
        action === 'convert' ? (res.body as ConversionBody).lead : res.body
      ) as LeadBody;
      expect(body.status).toBe(outcome);
      expect(await fetchLead(team.owner, lead.id)).toEqual(body);
      if (from === outcome && action !== 'patch name') {
        // Setting the status it has is a no-op: nothing written.
        expect(body).toEqual(lead);
      }
    });

    it('disqualify stores the trimmed reason; the disqualified lead keeps it through edits', async () => {
      const lead = await leadIn('qualified');
      const res = await disqualify(team.owner, lead.id, { reason: '  No budget this year ' });
      expect(res.status).toBe(200);
      expectLead(res.body, {
        ...lead,
        status: 'disqualified',
        disqualifyReason: 'No budget this year',
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      const edited = await patch(team.owner, lead.id, { name: 'Still out' });
      expect(edited.body).toEqual(
        expect.objectContaining({
          status: 'disqualified',
          disqualifyReason: 'No budget this year',
        }),
      );
      expectError(
        await disqualify(team.owner, lead.id, { reason: 'Another reason' }),
        409,
        'INVALID_LEAD_STATUS',
      );
      expect((await fetchLead(team.owner, lead.id)).disqualifyReason).toBe('No budget this year');
    });

    it.each([
      ['missing reason', {}],
      ['empty reason', { reason: '' }],
      ['blank reason', { reason: '   ' }],
      ['1001-character reason', { reason: 'r'.repeat(1001) }],
      ['numeric reason', { reason: 12 }],
      ['unknown property', { reason: 'x', status: 'new' }],
    ])('disqualify with %s -> 400, lead unchanged', async (_label, body) => {
      const lead = await createLead(team.owner);
      expectValidation(await disqualify(team.owner, lead.id, body));
      expect(await fetchLead(team.owner, lead.id)).toEqual(lead);
    });

    it('a 1000-character reason is accepted', async () => {
      const lead = await createLead(team.owner);
      const res = await disqualify(team.owner, lead.id, { reason: 'r'.repeat(1000) });
      expect(res.status).toBe(200);
    });

    it('400 (invalid reason) comes before 404 and 409', async () => {
      expectValidation(await disqualify(team.owner, randomUUID(), {}), 'reason');
      const lead = await leadIn('converted');
      expectValidation(await disqualify(team.owner, lead.id, {}), 'reason');
    });
  });

  // ---------------------------------------------------------------- visibility

  describe('visibility (members see their own leads only)', () => {
    let leads: Record<Role, LeadBody>;
    let tag: string;

    beforeAll(async () => {
      tag = marker();
      leads = {} as Record<Role, LeadBody>;
      for (const role of ROLES) {
        leads[role] = await createLead(session(role), { name: `${tag} ${role}` });
      }
    });

    it('the member lists only their own leads; the others list all four', async () => {
      const seen = async (role: Role): Promise<string[]> => {
        const res = await list(session(role), `?search=${tag}&pageSize=100`);
        expect(res.status).toBe(200);
        return idsOf((res.body as PageBody).items).sort();
      };
      expect(await seen('member')).toEqual([leads.member.id]);
      const all = ROLES.map((r) => leads[r].id).sort();
      for (const role of ['owner', 'admin', 'manager'] as const)
        expect(await seen(role)).toEqual(all);
      const res = await list(team.member, `?search=${tag}&ownerId=${team.owner.userId}`);
      expect((res.body as PageBody).items).toEqual([]);
      expect((res.body as PageBody).total).toBe(0);
    });

    it.each(['owner', 'admin', 'manager'] as const)(
      '%s may read and act on any lead of the organization',
      async (role) => {
        const lead = await createLead(team.member);
        expect((await get(session(role), lead.id)).status).toBe(200);
        expect((await patch(session(role), lead.id, { name: `By ${role}` })).status).toBe(200);
        expect((await qualify(session(role), lead.id)).status).toBe(200);
        const conversion = await converted(session(role), lead.id);
        // Everything the conversion creates belongs to the lead's owner.
        expect(conversion.contact.ownerId).toBe(team.member.userId);
        expect(conversion.deal.ownerId).toBe(team.member.userId);
        expect(conversion.lead.ownerId).toBe(team.member.userId);
        expect((await del(session(role), lead.id)).status).toBe(204);
      },
    );

    it.each(['owner', 'admin', 'manager'] as const)(
      "every endpoint answers 404 for the member on %s's lead, and nothing changes",
      async (role) => {
        const lead = await createLead(session(role), { companyName: 'Hidden Co' });
        const before = await counts();
        const m = team.member;
        for (const res of [
          await get(m, lead.id),
          await patch(m, lead.id, { name: 'X' }),
          await del(m, lead.id),
          await qualify(m, lead.id),
          await disqualify(m, lead.id, { reason: 'x' }),
          await convert(m, lead.id),
        ]) {
          expectError(res, 404, 'NOT_FOUND');
        }
        expect(await fetchLead(team.owner, lead.id)).toEqual(lead);
        expect(await counts()).toEqual(before);
      },
    );
  });

  // ---------------------------------------------------------------- conversion

  describe('POST /leads/{id}/convert', () => {
    it('creates contact, company and deal (default pipeline) and converts the lead', async () => {
      const tag = marker();
      const lead = await createLead(team.member, {
        name: `Grace ${tag}`,
        email: `grace-${tag}@navy.example`,
        phone: '+1 555 0100',
        companyName: `Navy ${tag}`,
        source: 'referral',
      });
      const before = await counts();
      const res = await convert(team.member, lead.id);
      expect(res.status).toBe(201);
      const body = res.body as ConversionBody;
      expect(keysOf(body)).toEqual(['company', 'contact', 'deal', 'lead']);
      expect(await counts()).toEqual({
        ...before,
        contacts: before.contacts + 1,
        companies: before.companies + 1,
        deals: before.deals + 1,
        activities: before.activities + 2,
      });

      // The lead.
      expectLead(body.lead, {
        ...lead,
        status: 'converted',
        convertedAt: expect.stringMatching(ISO_TIMESTAMP),
        convertedContactId: body.contact.id,
        convertedDealId: body.deal.id,
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(body.lead.updatedAt).toBe(body.lead.convertedAt);
      expect(body.lead.convertedAt! >= body.deal.createdAt).toBe(true);
      expect(await fetchLead(team.member, lead.id)).toEqual(body.lead);

      // The contact, as the contacts module answers it.
      const contact = await t
        .http()
        .get(`${API}/contacts/${body.contact.id}`)
        .set(as(team.member, org));
      expect(contact.status).toBe(200);
      expect(body.contact).toEqual(contact.body);
      expect(body.contact).toEqual(
        expect.objectContaining({
          organizationId: org,
          ownerId: team.member.userId,
          name: lead.name,
          email: lead.email,
          phone: lead.phone,
        }),
      );

      // The company.
      expect(body.company).toEqual(
        expect.objectContaining({
          id: expect.stringMatching(UUID),
          organizationId: org,
          ownerId: team.member.userId,
          name: `Navy ${tag}`,
          domain: null,
          industry: null,
          phone: null,
          address: null,
          socialProfiles: [],
          createdAt: expect.stringMatching(ISO_TIMESTAMP),
          updatedAt: expect.stringMatching(ISO_TIMESTAMP),
        }),
      );
      const [link] = await t.db.query<{ company_id: string }[]>(
        `SELECT company_id FROM contacts WHERE id = $1`,
        [body.contact.id],
      );
      expect(link.company_id).toBe(body.company!.id);

      // The deal, as the deals module answers it.
      const deal = await t.http().get(`${API}/deals/${body.deal.id}`).set(as(team.member, org));
      expect(deal.status).toBe(200);
      expect(body.deal).toEqual(deal.body);
      const [defaultPipeline] = await t.db.query<{ id: string }[]>(
        `SELECT id FROM pipelines WHERE organization_id = $1 AND is_default`,
        [org],
      );
      expect(body.deal).toEqual(
        expect.objectContaining({
          organizationId: org,
          contactId: body.contact.id,
          ownerId: team.member.userId,
          pipelineId: defaultPipeline.id,
          title: lead.name,
          amount: '0.00',
          currency: 'USD',
          status: 'new',
          stage: 'qualification',
        }),
      );

      // The timeline: deal_created, then the conversion entry (newest first).
      const timeline = await t
        .http()
        .get(`${API}/deals/${body.deal.id}/activities`)
        .set(as(team.member, org));
      expect(timeline.status).toBe(200);
      expect((timeline.body as { items: unknown[] }).items).toEqual([
        expect.objectContaining({
          dealId: body.deal.id,
          authorId: null,
          type: 'system',
          payload: { event: 'converted_from_lead', leadId: lead.id, leadName: lead.name },
        }),
        expect.objectContaining({
          dealId: body.deal.id,
          authorId: null,
          type: 'system',
          payload: { event: 'deal_created' },
        }),
      ]);
    });

    it('uses dealTitle, amount and currency (case-insensitive) when given', async () => {
      const lead = await createLead(team.owner);
      const body = await converted(team.owner, lead.id, {
        dealTitle: '  Big deal ',
        amount: '1500.5',
        currency: 'eur',
      });
      expect(body.deal).toEqual(
        expect.objectContaining({ title: 'Big deal', amount: '1500.50', currency: 'EUR' }),
      );
      const numeric = await converted(team.owner, (await createLead(team.owner)).id, {
        amount: 99,
      });
      expect(numeric.deal.amount).toBe('99.00');
    });

    it("takes the organization's default currency when none is given", async () => {
      const own = await register(t, 'currency-owner');
      await t
        .http()
        .patch(`${API}/organizations/current`)
        .set(as(own, own.organizationId))
        .send({ defaultCurrency: 'GBP' })
        .expect(200);
      const lead = await createLead(own, {}, own.organizationId);
      const res = await convert(own, lead.id, {}, own.organizationId);
      expect(res.status).toBe(201);
      expect((res.body as ConversionBody).deal.currency).toBe('GBP');
    });

    it('starts the deal at the first stage of a custom pipeline', async () => {
      const pipelineId = await createPipeline(['inbound', 'demo', 'won_lost']);
      const lead = await createLead(team.member);
      const body = await converted(team.member, lead.id, { pipelineId: pipelineId.toUpperCase() });
      expect(body.deal).toEqual(
        expect.objectContaining({ pipelineId, stage: 'inbound', status: 'new' }),
      );
    });

    it('reuses the contact with the same email (case-insensitive), whoever owns it, unchanged', async () => {
      const tag = marker();
      const existing = await createContact(team.manager, {
        name: 'Existing contact',
        email: `Reuse-${tag}@Example.com`,
        phone: '99999',
      });
      const lead = await createLead(team.member, {
        name: 'Lead name',
        email: `reuse-${tag}@example.COM`,
        phone: '11111',
        companyName: `Reuse Co ${tag}`,
      });
      const before = await counts();
      const body = await converted(team.member, lead.id);
      expect(body.contact.id).toBe(existing.id);
      expect(body.contact).toEqual(existing);
      expect(body.deal.contactId).toBe(existing.id);
      expect(body.deal.ownerId).toBe(team.member.userId);
      expect(body.lead.convertedContactId).toBe(existing.id);
      expect(await counts()).toEqual({
        ...before,
        companies: before.companies + 1,
        deals: before.deals + 1,
        activities: before.activities + 2,
      });
      // The member owns the deal; the manager's contact stays invisible to them.
      expect(
        (await t.http().get(`${API}/deals/${body.deal.id}`).set(as(team.member, org))).status,
      ).toBe(200);
      expectError(
        await t.http().get(`${API}/contacts/${existing.id}`).set(as(team.member, org)),
        404,
        'NOT_FOUND',
      );
      const managerView = await t
        .http()
        .get(`${API}/contacts/${existing.id}`)
        .set(as(team.manager, org));
      expect(managerView.body).toEqual(existing);
    });

    it('reuses the company with the same name (case-insensitive, the oldest), whoever owns it', async () => {
      const tag = marker();
      const oldest = await insertCompany(`Acme ${tag} Ltd`, team.admin.userId);
      await insertCompany(`ACME ${tag} LTD`, team.owner.userId);
      const lead = await createLead(team.member, { companyName: `acme ${tag} ltd` });
      const before = await counts();
      const body = await converted(team.member, lead.id);
      expect(body.company).toEqual(
        expect.objectContaining({
          id: oldest,
          name: `Acme ${tag} Ltd`,
          ownerId: team.admin.userId,
        }),
      );
      expect(await counts()).toEqual({
        ...before,
        contacts: before.contacts + 1,
        deals: before.deals + 1,
        activities: before.activities + 2,
      });
      const [link] = await t.db.query<{ company_id: string }[]>(
        `SELECT company_id FROM contacts WHERE id = $1`,
        [body.contact.id],
      );
      expect(link.company_id).toBe(oldest);
    });

    it('does not reuse a company or contact of another organization', async () => {
      const tag = marker();
      const email = `cross-${tag}@example.com`;
      await insertCompany(`Cross ${tag}`, team.outsider.userId, team.outsider.organizationId);
      await t
        .http()
        .post(`${API}/contacts`)
        .set(as(team.outsider, team.outsider.organizationId))
        .send({ name: 'Theirs', email })
        .expect(201);
      const lead = await createLead(team.owner, { email, companyName: `Cross ${tag}` });
      const before = await counts();
      const body = await converted(team.owner, lead.id);
      expect(body.contact.organizationId).toBe(org);
      expect(body.company!.organizationId).toBe(org);
      expect(await counts()).toEqual({
        ...before,
        contacts: before.contacts + 1,
        companies: before.companies + 1,
        deals: before.deals + 1,
        activities: before.activities + 2,
      });
    });

    it('answers company null and links no company when the lead has no companyName', async () => {
      const lead = await createLead(team.owner, { email: `nocompany-${marker()}@example.com` });
      const before = await counts();
      const body = await converted(team.owner, lead.id);
      expect(body.company).toBeNull();
      const [link] = await t.db.query<{ company_id: string | null }[]>(
        `SELECT company_id FROM contacts WHERE id = $1`,
        [body.contact.id],
      );
      expect(link.company_id).toBeNull();
      expect(await counts()).toEqual({
        ...before,
        contacts: before.contacts + 1,
        deals: before.deals + 1,
        activities: before.activities + 2,
      });
    });

    it('creates a new contact for every lead without email', async () => {
      const name = `No email ${marker()}`;
      const a = await converted(team.owner, (await createLead(team.owner, { name })).id);
      const b = await converted(team.owner, (await createLead(team.owner, { name })).id);
      expect(a.contact.id).not.toBe(b.contact.id);
      expect(a.contact.email).toBeNull();
    });

    it('invalidates the analytics cache of the organization', async () => {
      const summary = async (): Promise<number> => {
        const res = await t.http().get(`${API}/analytics/deals/summary`).set(as(team.owner, org));
        expect(res.status).toBe(200);
        return (res.body as { byStatus: { new: { count: number } } }).byStatus.new.count;
      };
      const before = await summary();
      await converted(team.owner, (await createLead(team.owner)).id);
      expect(await summary()).toBe(before + 1);
    });

    it('a second conversion -> 409 LEAD_ALREADY_CONVERTED, nothing written', async () => {
      const lead = await createLead(team.member, { companyName: `Twice ${marker()}` });
      const first = await converted(team.member, lead.id);
      const before = await counts();
      expectError(await convert(team.member, lead.id), 409, 'LEAD_ALREADY_CONVERTED');
      expect(await counts()).toEqual(before);
      expect(await fetchLead(team.member, lead.id)).toEqual(first.lead);
    });

    it('two (and ten) concurrent conversions of one lead: exactly one 201, the others 409, one of each record', async () => {
      for (const parallel of [2, 10]) {
        const tag = marker();
        const lead = await createLead(team.member, {
          email: `race-${tag}@example.com`,
          companyName: `Race ${tag}`,
        });
        const before = await counts();
        const responses = await Promise.all(
          Array.from({ length: parallel }, () => convert(team.member, lead.id)),
        );
        const statuses = responses.map((r) => r.status).sort();
        expect(statuses).toEqual([201, ...Array.from({ length: parallel - 1 }, () => 409)]);
        for (const res of responses.filter((r) => r.status === 409)) {
          expectError(res, 409, 'LEAD_ALREADY_CONVERTED');
        }
        expect(await counts()).toEqual({
          ...before,
          contacts: before.contacts + 1,
          companies: before.companies + 1,
          deals: before.deals + 1,
          activities: before.activities + 2,
        });
        const [rows] = await t.db.query<{ contacts: number; companies: number }[]>(
          `SELECT (SELECT count(*)::int FROM contacts WHERE lower(email) = $1) AS contacts,
                  (SELECT count(*)::int FROM companies WHERE name = $2) AS companies`,
          [`race-${tag}@example.com`, `Race ${tag}`],
        );
        expect(rows).toEqual({ contacts: 1, companies: 1 });
        const winner = responses.find((r) => r.status === 201)!.body as ConversionBody;
        expect(await fetchLead(team.member, lead.id)).toEqual(winner.lead);
      }
    });

    it('concurrent conversions of different leads naming one company and one email share them', async () => {
      const tag = marker();
      const email = `shared-${tag}@example.com`;
      const leads = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          createLead(i % 2 ? team.member : team.owner, {
            email: i % 2 ? email.toUpperCase() : email,
            companyName: i % 2 ? `SHARED ${tag}` : `Shared ${tag}`,
          }),
        ),
      );
      const responses = await Promise.all(
        leads.map((l, i) => convert(i % 2 ? team.member : team.owner, l.id)),
      );
      expect(responses.map((r) => r.status)).toEqual([201, 201, 201, 201]);
      const bodies = responses.map((r) => r.body as ConversionBody);
      expect(new Set(bodies.map((b) => b.contact.id)).size).toBe(1);
      expect(new Set(bodies.map((b) => b.company!.id)).size).toBe(1);
      expect(new Set(bodies.map((b) => b.deal.id)).size).toBe(4);
    });

    it('concurrent conversions of leads with one new email and no company share one contact', async () => {
      const email = `nocomp-race-${marker()}@example.com`;
      const leads = await Promise.all(
        Array.from({ length: 6 }, () => createLead(team.owner, { email })),
      );
      const responses = await Promise.all(leads.map((l) => convert(team.owner, l.id)));
      expect(responses.map((r) => r.status)).toEqual(leads.map(() => 201));
      const contacts = new Set(responses.map((r) => (r.body as ConversionBody).contact.id));
      expect(contacts.size).toBe(1);
    });

    describe('a failing conversion writes nothing', () => {
      it.each([
        [
          'an unsupported currency -> 422 UNSUPPORTED_CURRENCY',
          { currency: 'ZZZ' },
          422,
          'UNSUPPORTED_CURRENCY',
        ],
        ['an unknown pipeline -> 404 NOT_FOUND', { pipelineId: randomUUID() }, 404, 'NOT_FOUND'],
      ])('%s', async (_label, body, status, code) => {
        const tag = marker();
        const lead = await createLead(team.member, {
          email: `fail-${tag}@example.com`,
          companyName: `Fail ${tag}`,
        });
        const before = await counts();
        expectError(await convert(team.member, lead.id, body), status, code);
        expect(await counts()).toEqual(before);
        expect(await fetchLead(team.member, lead.id)).toEqual(lead);
        // The lead can still be converted afterwards.
        expect((await convert(team.member, lead.id)).status).toBe(201);
      });

      it("another organization's pipeline -> 404", async () => {
        const [theirs] = await t.db.query<{ id: string }[]>(
          `SELECT id FROM pipelines WHERE organization_id = $1 AND is_default`,
          [team.outsider.organizationId],
        );
        const lead = await createLead(team.owner, { companyName: `Foreign ${marker()}` });
        const before = await counts();
        expectError(
          await convert(team.owner, lead.id, { pipelineId: theirs.id }),
          404,
          'NOT_FOUND',
        );
        expect(await counts()).toEqual(before);
      });

      it('a lead whose owner left the organization -> 422 INVALID_OWNER (reassign first)', async () => {
        const leaver = await register(t, 'leaver');
        await t
          .http()
          .post(`${API}/organizations/current/members`)
          .set(as(team.owner, org))
          .send({ email: leaver.email, role: 'member' })
          .expect(201);
        const lead = await createLead(leaver, { companyName: `Leaver ${marker()}` });
        await t
          .http()
          .delete(`${API}/organizations/current/members/${leaver.userId}`)
          .set(as(team.owner, org))
          .expect(204);
        const before = await counts();
        expectError(await convert(team.owner, lead.id), 422, 'INVALID_OWNER');
        expect(await counts()).toEqual(before);
        expect(await fetchLead(team.owner, lead.id)).toEqual(lead);
        // The unchanged (departed) owner is no reason to refuse other edits.
        expect((await patch(team.owner, lead.id, { name: 'Still here' })).status).toBe(200);
        expect((await patch(team.owner, lead.id, { ownerId: team.member.userId })).status).toBe(
          200,
        );
        const body = await converted(team.owner, lead.id);
        expect(body.deal.ownerId).toBe(team.member.userId);
      });
    });

    describe('validation (400, before 404 and 409)', () => {
      it.each([
        ['negative amount', { amount: -1 }, 'amount'],
        ['three fraction digits', { amount: '1.005' }, 'amount'],
        ['amount as words', { amount: 'ten' }, 'amount'],
        ['null amount', { amount: null }, 'amount'],
        ['4-letter currency', { currency: 'EURO' }, 'currency'],
        ['null currency', { currency: null }, 'currency'],
        ['pipelineId not a UUID', { pipelineId: 'default' }, 'pipelineId'],
        ['null pipelineId', { pipelineId: null }, 'pipelineId'],
        ['empty dealTitle', { dealTitle: ' ' }, 'dealTitle'],
        ['201-character dealTitle', { dealTitle: 't'.repeat(201) }, 'dealTitle'],
        ['null dealTitle', { dealTitle: null }, 'dealTitle'],
        ['status', { status: 'won' }, 'status'],
        ['ownerId', { ownerId: randomUUID() }, 'ownerId'],
        ['contactId', { contactId: randomUUID() }, 'contactId'],
      ])('%s', async (_label, body, field) => {
        const lead = await createLead(team.owner);
        const before = await counts();
        expectValidation(await convert(team.owner, lead.id, body), field);
        expectValidation(await convert(team.owner, randomUUID(), body), field);
        expect(await counts()).toEqual(before);
        expect(await fetchLead(team.owner, lead.id)).toEqual(lead);
      });

      it('accepts a request without a body', async () => {
        const lead = await createLead(team.owner);
        const res = await t.http().post(`${LEADS}/${lead.id}/convert`).set(as(team.owner, org));
        expect(res.status).toBe(201);
      });
    });

    it('precedence: 404 (unknown pipeline) before 409 (converted); 409 before 422 (currency)', async () => {
      const done = await leadIn('converted');
      expectError(
        await convert(team.owner, done.id, { pipelineId: randomUUID() }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await convert(team.owner, done.id, { currency: 'ZZZ' }),
        409,
        'LEAD_ALREADY_CONVERTED',
      );
      const out = await leadIn('disqualified');
      expectError(
        await convert(team.owner, out.id, { currency: 'ZZZ' }),
        409,
        'INVALID_LEAD_STATUS',
      );
    });

    it('deleting the deal or contact later keeps the converted lead (ids become null)', async () => {
      const lead = await createLead(team.owner);
      const body = await converted(team.owner, lead.id);
      await t.http().delete(`${API}/deals/${body.deal.id}`).set(as(team.owner, org)).expect(204);
      await t
        .http()
        .delete(`${API}/contacts/${body.contact.id}`)
        .set(as(team.owner, org))
        .expect(204);
      expect(await fetchLead(team.owner, lead.id)).toEqual({
        ...body.lead,
        convertedContactId: null,
        convertedDealId: null,
      });
    });
  });

  // ---------------------------------------------------------------- lists

  describe('GET /leads: filters, search, ordering, pages', () => {
    let owner: Session;
    let other: Session;
    let o: string;
    let all: LeadBody[];

    beforeAll(async () => {
      owner = await register(t, 'list-owner', 'List Org');
      other = await register(t, 'list-other');
      o = owner.organizationId;
      await t
        .http()
        .post(`${API}/organizations/current/members`)
        .set(as(owner, o))
        .send({ email: other.email, role: 'manager' })
        .expect(201);
      const specs: Record<string, unknown>[] = [
        {
          name: 'Charles Babbage',
          email: 'charles@engines.example',
          source: 'fair',
          companyName: 'Difference Ltd',
        },
        {
          name: 'Ada Lovelace',
          email: 'ada@engines.example',
          source: 'web',
          companyName: 'Analytical Engines',
        },
        { name: 'Alan Turing', phone: '+44 161 555 0199', source: 'web' },
        { name: 'grace hopper', email: 'grace@navy.example', source: 'Web' },
        { name: '100% Sure_Thing', source: 'fair' },
        { name: 'Zed', companyName: 'Zed & Co' },
      ];
      all = [];
      for (const [i, spec] of specs.entries()) {
        all.push(await createLead(i % 2 ? other : owner, spec, o));
      }
      for (let i = 0; i < 19; i += 1) {
        all.push(
          await createLead(
            owner,
            { name: `Bulk ${String(i).padStart(2, '0')}`, source: 'bulk' },
            o,
          ),
        );
      }
      await patch(owner, all[0].id, { status: 'contacted' }, o).expect(200);
      await qualify(owner, all[1].id, o).expect(200);
      await disqualify(owner, all[2].id, { reason: 'x' }, o).expect(200);
      await convert(owner, all[3].id, {}, o).expect(201);
      all = await Promise.all(all.map((l) => fetchLead(owner, l.id, o)));
    });

    const page = async (query: string): Promise<PageBody> => {
      const res = await list(owner, query, o);
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(PAGE_KEYS);
      return res.body as PageBody;
    };
    const names = async (query: string): Promise<string[]> =>
      (await page(`?pageSize=100&${query}`)).items.map((l) => l.name).sort(byCodeUnit);

    it('answers offset pages, newest first by default, items in the Lead shape', async () => {
      const first = await page('');
      expect(first).toEqual({
        items: expect.any(Array),
        total: all.length,
        page: 1,
        pageSize: 20,
      });
      expect(first.items).toHaveLength(20);
      first.items.forEach((item) => expectLead(item, { ...all.find((l) => l.id === item.id)! }));
      const newestFirst = [...all]
        .sort((a, b) => byCodeUnit(b.createdAt, a.createdAt) || byCodeUnit(b.id, a.id))
        .map((l) => l.id);
      const second = await page('?page=2');
      expect([...idsOf(first.items), ...idsOf(second.items)]).toEqual(newestFirst);
    });

    it('filters by one or several statuses', async () => {
      expect(await names('status=converted')).toEqual(['grace hopper']);
      expect(await names('status=qualified&status=disqualified')).toEqual([
        'Ada Lovelace',
        'Alan Turing',
      ]);
      expect((await page('?status=new')).total).toBe(all.length - 4);
      expectValidation(await list(owner, '?status=won', o), 'status');
      expectValidation(await list(owner, '?status=new&status=lost', o), 'status');
    });

    it('filters by source (exact match) and ownerId', async () => {
      expect(await names('source=web')).toEqual(['Ada Lovelace', 'Alan Turing']);
      expect(await names('source=Web')).toEqual(['grace hopper']);
      expect((await page('?source=bulk')).total).toBe(19);
      expect(await names(`ownerId=${other.userId}`)).toEqual([
        'Ada Lovelace',
        'Zed',
        'grace hopper',
      ]);
      expect(await names(`ownerId=${other.userId}&source=web`)).toEqual(['Ada Lovelace']);
      expectValidation(await list(owner, '?ownerId=nope', o), 'ownerId');
      expectValidation(await list(owner, `?source=${'s'.repeat(101)}`, o), 'source');
    });

    it('searches words (fragments, any order, case-insensitive) over name, email, phone and companyName', async () => {
      expect(await names('search=ADA')).toEqual(['Ada Lovelace']);
      expect(await names('search=engines')).toEqual(['Ada Lovelace', 'Charles Babbage']);
      expect(await names('search=analytical%20lovelace')).toEqual(['Ada Lovelace']);
      expect(await names('search=love%20ADA')).toEqual(['Ada Lovelace']);
      expect(await names('search=navy')).toEqual(['grace hopper']);
      expect(await names('search=0199')).toEqual(['Alan Turing']);
      expect(await names('search=difference')).toEqual(['Charles Babbage']);
      expect(await names('search=%26%20co')).toEqual(['Zed']);
      expect(await names('search=ada%20turing')).toEqual([]);
    });

    it('matches LIKE wildcards literally', async () => {
      expect(await names('search=100%25')).toEqual(['100% Sure_Thing']);
      expect(await names('search=e_t')).toEqual(['100% Sure_Thing']);
      expect(await names('search=%25')).toEqual(['100% Sure_Thing']);
    });

    it('orders by name or createdAt, asc or desc, ties by id', async () => {
      const byName = [...all]
        .sort((a, b) => byCodeUnit(a.name, b.name) || byCodeUnit(a.id, b.id))
        .map((l) => l.id);
      const ascending = await page('?orderBy=name&order=asc&pageSize=100');
      // PostgreSQL collation may differ from code units for mixed case: compare as a set and
      // check the order the database gives is stable and reversed by desc.
      expect(idsOf(ascending.items).sort()).toEqual([...byName].sort());
      const descending = await page('?orderBy=name&order=desc&pageSize=100');
      expect(idsOf(descending.items)).toEqual(idsOf(ascending.items).reverse());
      const oldestFirst = await page('?orderBy=createdAt&order=asc&pageSize=100');
      expect(idsOf(oldestFirst.items)).toEqual(
        [...all]
          .sort((a, b) => byCodeUnit(a.createdAt, b.createdAt) || byCodeUnit(a.id, b.id))
          .map((l) => l.id),
      );
      expectValidation(await list(owner, '?orderBy=email', o), 'orderBy');
      expectValidation(await list(owner, '?order=up', o), 'order');
    });

    it.each(['(no filter)', '&orderBy=name&order=asc', '&status=new&source=bulk', '&search=a'])(
      'keyset pages with %s walk the same rows as offset pages',
      async (label) => {
        const filters = label.startsWith('&') ? label : '';
        const expected = idsOf((await page(`?pageSize=100${filters}`)).items);
        const ids: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
          const res = await list(owner, `?limit=7${filters}${suffix}`, o);
          expect(res.status).toBe(200);
          expect(keysOf(res.body)).toEqual(CURSOR_PAGE_KEYS);
          const body = res.body as CursorBody;
          ids.push(...idsOf(body.items));
          cursor = body.nextCursor;
          pages += 1;
        } while (cursor && pages < 20);
        expect(ids).toEqual(expected);
        expect(pages).toBe(Math.max(1, Math.ceil(expected.length / 7)));
      },
    );

    it('refuses mixed, tampered and foreign cursors', async () => {
      const first = (await list(owner, '?limit=2', o)).body as CursorBody;
      expect(first.nextCursor).toEqual(expect.any(String));
      const c = encodeURIComponent(first.nextCursor!);
      expectValidation(await list(owner, `?limit=2&page=1`, o));
      expectValidation(await list(owner, `?cursor=${c}&pageSize=5`, o));
      expectValidation(await list(owner, `?cursor=${c}&status=new`, o), 'cursor');
      expectValidation(await list(owner, `?cursor=${c}&orderBy=name`, o), 'cursor');
      expectValidation(await list(owner, `?cursor=x${c}`, o), 'cursor');
      // Another endpoint's cursor (contacts) is refused too.
      await t.http().post(`${API}/contacts`).set(as(owner, o)).send({ name: 'C1' }).expect(201);
      await t.http().post(`${API}/contacts`).set(as(owner, o)).send({ name: 'C2' }).expect(201);
      const contacts = await t.http().get(`${API}/contacts?limit=1`).set(as(owner, o));
      const foreign = (contacts.body as CursorBody).nextCursor!;
      expectValidation(await list(owner, `?cursor=${encodeURIComponent(foreign)}`, o), 'cursor');
    });

    it('rejects out-of-range page parameters', async () => {
      for (const q of ['?page=0', '?pageSize=0', '?pageSize=101', '?limit=101', '?limit=0']) {
        expectValidation(await list(owner, q, o));
      }
      expectValidation(await list(owner, `?search=${'s'.repeat(201)}`, o), 'search');
    });
  });

  // ---------------------------------------------------------------- tenancy

  describe('cross-organization isolation', () => {
    it("every endpoint answers 404 for another organization's lead, and nothing changes", async () => {
      const theirs = await createLead(
        team.outsider,
        { companyName: 'Theirs Inc' },
        team.outsider.organizationId,
      );
      const before = await counts(team.outsider.organizationId);
      for (const role of ROLES) {
        const s = session(role);
        for (const res of [
          await get(s, theirs.id),
          await patch(s, theirs.id, { name: 'Hijacked' }),
          await del(s, theirs.id),
          await qualify(s, theirs.id),
          await disqualify(s, theirs.id, { reason: 'x' }),
          await convert(s, theirs.id),
        ]) {
          expectError(res, 404, 'NOT_FOUND');
        }
      }
      expect(await fetchLead(team.outsider, theirs.id, team.outsider.organizationId)).toEqual(
        theirs,
      );
      expect(await counts(team.outsider.organizationId)).toEqual(before);
    });

    it('the outsider gets 404 for our leads in their own organization', async () => {
      const ours = await createLead(team.owner);
      const x = team.outsider;
      const xo = x.organizationId;
      for (const res of [
        await get(x, ours.id, xo),
        await patch(x, ours.id, { name: 'Hijacked' }, xo),
        await del(x, ours.id, xo),
        await qualify(x, ours.id, xo),
        await disqualify(x, ours.id, { reason: 'x' }, xo),
        await convert(x, ours.id, {}, xo),
      ]) {
        expectError(res, 404, 'NOT_FOUND');
      }
      expect(await fetchLead(team.owner, ours.id)).toEqual(ours);
    });

    it('lists never show another organization’s leads, whatever the filters', async () => {
      const tag = marker();
      const ours = await createLead(team.owner, { name: `${tag} ours`, source: tag });
      const theirs = await createLead(
        team.outsider,
        { name: `${tag} theirs`, source: tag },
        team.outsider.organizationId,
      );
      const seen = async (s: Session, organizationId: string, query: string): Promise<string[]> => {
        const res = await list(s, query, organizationId);
        expect(res.status).toBe(200);
        return idsOf((res.body as PageBody).items);
      };
      for (const query of [
        `?search=${tag}`,
        `?source=${tag}`,
        `?ownerId=${team.outsider.userId}&search=${tag}`,
      ]) {
        expect(await seen(team.owner, org, query)).not.toContain(theirs.id);
        expect(await seen(team.outsider, team.outsider.organizationId, query)).not.toContain(
          ours.id,
        );
      }
      expect(await seen(team.outsider, team.outsider.organizationId, `?search=${tag}`)).toEqual([
        theirs.id,
      ]);
    });
  });

  // ---------------------------------------------------------------- precedence

  describe('precedence (401, organization header, membership, then validation)', () => {
    const calls = (id: string): [string, (h: Record<string, string>) => Test][] => [
      ['GET /leads', (h) => t.http().get(LEADS).set(h)],
      ['POST /leads', (h) => t.http().post(LEADS).set(h).send({ name: '' })],
      ['GET /leads/{id}', (h) => t.http().get(`${LEADS}/${id}`).set(h)],
      ['PATCH /leads/{id}', (h) => t.http().patch(`${LEADS}/${id}`).set(h).send({ status: 'x' })],
      ['DELETE /leads/{id}', (h) => t.http().delete(`${LEADS}/${id}`).set(h)],
      ['qualify', (h) => t.http().post(`${LEADS}/${id}/qualify`).set(h)],
      ['disqualify', (h) => t.http().post(`${LEADS}/${id}/disqualify`).set(h).send({})],
      ['convert', (h) => t.http().post(`${LEADS}/${id}/convert`).set(h).send({ amount: -1 })],
    ];

    it('no or a bad token -> 401 UNAUTHENTICATED, even with an invalid body', async () => {
      const lead = await createLead(team.owner);
      for (const [, call] of calls(lead.id)) {
        expectError(await call({ 'x-organization-id': org }), 401, 'UNAUTHENTICATED');
        expectError(
          await call({ authorization: 'Bearer nope', 'x-organization-id': org }),
          401,
          'UNAUTHENTICATED',
        );
      }
    });

    it('a missing or malformed X-Organization-Id -> 400 INVALID_ORGANIZATION_HEADER', async () => {
      const lead = await createLead(team.owner);
      for (const [, call] of calls(lead.id)) {
        expectError(await call(as(team.owner)), 400, 'INVALID_ORGANIZATION_HEADER');
        expectError(
          await call({ ...as(team.owner), 'x-organization-id': 'not-a-uuid' }),
          400,
          'INVALID_ORGANIZATION_HEADER',
        );
      }
    });

    it('a non-member of the organization -> 403 NOT_A_MEMBER before validation and 404', async () => {
      const lead = await createLead(team.owner);
      for (const [, call] of calls(lead.id)) {
        expectError(await call(as(team.outsider, org)), 403, 'NOT_A_MEMBER');
        expectError(await call(as(team.owner, randomUUID())), 403, 'NOT_A_MEMBER');
      }
      expect(await fetchLead(team.owner, lead.id)).toEqual(lead);
    });

    it('then validation (400) before visibility (404)', async () => {
      const unknown = randomUUID();
      for (const [label, call] of calls(unknown)) {
        const res = await call(as(team.member, org));
        if (['POST /leads', 'PATCH /leads/{id}', 'disqualify', 'convert'].includes(label)) {
          expectError(res, 400, 'VALIDATION_FAILED');
        } else if (label === 'GET /leads') {
          expect(res.status).toBe(200);
        } else {
          expectError(res, 404, 'NOT_FOUND');
        }
      }
    });
  });
});
