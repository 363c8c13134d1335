import type { Response, Test } from 'supertest';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { consumersIdle, recordStatements } from './support/background';
import { expectValidation } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Related records in one call (API.md section 18): `include` on deals, contacts and leads, by id
 * and in lists. Every embedded record is compared with a real GET of that record by the same
 * caller; visibility is checked with a member and with a custom role that reads deals but only
 * some of what they relate to; a page's statements are counted.
 */

const API = '/api/v1';
const DEAL_NAMES = ['contact', 'company', 'pipeline', 'tasks', 'activities'] as const;
type DealName = (typeof DEAL_NAMES)[number];
const ALL = DEAL_NAMES.join(',');
const LEAD_NAMES = 'convertedContact,convertedDeal';

type Body = Record<string, unknown>;
interface Item extends Body {
  id: string;
}
interface DealBody extends Item {
  contactId: string;
  pipelineId: string;
  ownerId: string;
  tasks?: Item[];
  activities?: Item[];
}
interface LeadBody extends Item {
  convertedContactId: string | null;
  convertedDealId: string | null;
}
interface Page<T> {
  items: T[];
  total?: number;
  nextCursor?: string | null;
}

/** Reads deals and every contact; reads only the tasks of its own deals; nothing else. */
const DEAL_READER = {
  key: 'deal_reader',
  name: 'Deal reader',
  permissions: [
    { resource: 'deals', actions: ['read'], scope: 'all' },
    { resource: 'contacts', actions: ['read'], scope: 'all' },
    { resource: 'tasks', actions: ['read'], scope: 'own' },
  ],
};

describe('Related records in one call: include (API.md section 18)', () => {
  let t: TestApp;
  let team: Team;
  let org: string;
  let owner: Session;
  /** A member of DEAL_READER's custom role. */
  let reader: Session;

  let company: Item;
  /** The owner's contact at `company`, and one without a company. */
  let atCompany: Item;
  let noCompany: Item;
  let renewals: Item;
  /** The owner's deal for `atCompany`: 2 tasks, 22 timeline entries. */
  let main: DealBody;
  /** The owner's deal in the second pipeline, for `noCompany`. */
  let renewal: DealBody;
  /** The member's deal, for the manager's contact (which the member cannot see). */
  let membersDeal: DealBody;
  /** The custom role's own deal, with a task. */
  let readersDeal: DealBody;
  let convertedLead: LeadBody;
  let openLead: LeadBody;
  /** The member's lead, converted onto the owner's contact `atCompany`. */
  let membersLead: LeadBody;

  const orgOf = (s: Session): string => (s === team.outsider ? s.organizationId : org);
  const get = (s: Session, path: string): Test =>
    t
      .http()
      .get(`${API}${path}`)
      .set(as(s, orgOf(s)));
  async function ok<T = Body>(s: Session, path: string): Promise<T> {
    const res = await get(s, path);
    expect({ path, status: res.status }).toEqual({ path, status: 200 });
    return res.body as T;
  }
  async function create<T = Item>(s: Session, path: string, body: object): Promise<T> {
    const res = await t
      .http()
      .post(`${API}${path}`)
      .set(as(s, orgOf(s)))
      .send(body);
    expect({ path, status: res.status }).toEqual({ path, status: 201 });
    return res.body as T;
  }
  const join = async (role: string): Promise<Session> => {
    const session = await register(t, role);
    const res = await t
      .http()
      .post(`${API}/organizations/current/members`)
      .set(as(owner, org))
      .send({ email: session.email, role });
    expect(res.status).toBe(201);
    return session;
  };
  const task = (s: Session, dealId: string, title: string): Promise<Item> =>
    create(s, '/tasks', { dealId, title, dueDate: '2099-01-01' });

  /** What the related records of `deal` are for `s`, each from its own GET. */
  async function relatedOf(s: Session, deal: DealBody): Promise<Record<DealName, unknown>> {
    const contact = await get(s, `/contacts/${deal.contactId}`);
    const companyId =
      contact.status === 200 ? (contact.body as { companyId: string | null }).companyId : null;
    const companyRes = companyId ? await get(s, `/companies/${companyId}`) : undefined;
    const pipeline = await get(s, `/pipelines/${deal.pipelineId}`);
    const tasks = await get(s, `/tasks?dealId=${deal.id}&pageSize=100`);
    const activities = await get(s, `/deals/${deal.id}/activities?pageSize=20`);
    const bodyOr = (res: Response | undefined, otherwise: unknown): unknown =>
      res?.status === 200 ? res.body : otherwise;
    return {
      contact: bodyOr(contact, null),
      company: bodyOr(companyRes, null),
      pipeline: bodyOr(pipeline, null),
      tasks: tasks.status === 200 ? (tasks.body as Page<Item>).items : [],
      activities: activities.status === 200 ? (activities.body as Page<Item>).items : [],
    };
  }

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    org = team.organizationId;
    owner = team.owner;
    await create(owner, '/roles', DEAL_READER);
    reader = await join(DEAL_READER.key);

    company = await create(owner, '/companies', {
      name: 'Acme Corporation',
      domain: 'acme.example',
    });
    atCompany = await create(owner, '/contacts', {
      name: 'Grace Hopper',
      email: 'grace@acme.example',
      companyId: company.id,
    });
    noCompany = await create(owner, '/contacts', { name: 'Alan Turing' });
    renewals = await create(owner, '/pipelines', {
      name: 'Renewals',
      stages: [
        { key: 'open', name: 'Open', probability: 20 },
        { key: 'renewed', name: 'Renewed', probability: 100 },
      ],
    });

    main = await create<DealBody>(owner, '/deals', {
      contactId: atCompany.id,
      title: 'Annual licence',
      amount: 1500,
    });
    await task(owner, main.id, 'Send the proposal');
    await task(owner, main.id, 'Call back');
    for (let i = 1; i <= 19; i += 1) {
      await create(owner, `/deals/${main.id}/activities`, {
        type: 'comment',
        payload: { text: `Note ${i}` },
      });
    }
    renewal = await create<DealBody>(owner, '/deals', {
      contactId: noCompany.id,
      title: 'Renewal',
      pipelineId: renewals.id,
    });

    const managersContact = await create(team.manager, '/contacts', { name: 'Katherine Johnson' });
    membersDeal = await create<DealBody>(team.manager, '/deals', {
      contactId: managersContact.id,
      title: 'Assigned to the member',
      ownerId: team.member.userId,
    });
    await task(team.manager, membersDeal.id, 'Prepare the demo');
    readersDeal = await create<DealBody>(owner, '/deals', {
      contactId: atCompany.id,
      title: 'The reader’s own',
      ownerId: reader.userId,
    });
    await task(owner, readersDeal.id, 'Follow up');

    const lead = await create<LeadBody>(owner, '/leads', {
      name: 'Ada Lovelace',
      email: 'ada@engines.example',
      companyName: 'Analytical Engines',
    });
    convertedLead = (await create<{ lead: LeadBody }>(owner, `/leads/${lead.id}/convert`, {})).lead;
    openLead = await create<LeadBody>(owner, '/leads', { name: 'Charles Babbage' });
    const members = await create<LeadBody>(team.member, '/leads', {
      name: 'Grace again',
      email: 'grace@acme.example',
    });
    membersLead = (
      await create<{ lead: LeadBody }>(team.member, `/leads/${members.id}/convert`, {})
    ).lead;
  });
  afterAll(() => t?.close());

  // ---------------------------------------------------------------- deals

  describe('GET /deals/{id}', () => {
    it('embeds each named record exactly as its own GET answers it', async () => {
      const plain = await ok<DealBody>(owner, `/deals/${main.id}`);
      const related = await relatedOf(owner, main);
      expect(related.contact).toEqual(expect.objectContaining({ id: atCompany.id }));
      expect(related.company).toEqual(expect.objectContaining({ id: company.id }));
      expect(related.pipeline).toEqual(expect.objectContaining({ id: main.pipelineId }));
      expect(related.tasks).toHaveLength(2);
      // deal_created, 2 task_created, 19 comments: the first 20 of 22 entries.
      expect(related.activities).toHaveLength(20);

      for (const name of DEAL_NAMES) {
        const res = await get(owner, `/deals/${main.id}?include=${name}`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ ...plain, [name]: related[name] });
      }
      const all = await get(owner, `/deals/${main.id}?include=${ALL}`);
      expect(all.body).toEqual({ ...plain, ...related });
    });

    it('embeds the 20 newest activities of a longer timeline, newest first', async () => {
      await create(owner, `/deals/${main.id}/activities`, {
        type: 'comment',
        payload: { text: 'The newest note' },
      });
      const timeline = await ok<Page<Item>>(owner, `/deals/${main.id}/activities?pageSize=100`);
      expect(timeline.items.length).toBeGreaterThan(20);
      const deal = await ok<DealBody>(owner, `/deals/${main.id}?include=activities`);
      expect(deal.activities).toEqual(timeline.items.slice(0, 20));
      expect(deal.activities![0]).toEqual(
        expect.objectContaining({ payload: { text: 'The newest note' } }),
      );
    });

    it('embeds nothing without include, and carries the ETag only then', async () => {
      const plain = await get(owner, `/deals/${main.id}`);
      for (const name of DEAL_NAMES) expect(plain.body).not.toHaveProperty(name);
      expect(plain.headers.etag).toEqual(expect.any(String));
      const withRelations = await get(owner, `/deals/${main.id}?include=contact`);
      // The answer changes with the contact too: the deal's ETag would be a lie.
      expect(withRelations.headers.etag).toBeUndefined();
      const conditional = await get(owner, `/deals/${main.id}?include=contact`).set(
        'if-none-match',
        String(plain.headers.etag),
      );
      expect(conditional.status).toBe(200);
    });

    it('answers null for a contact without a company, and the deal’s own pipeline', async () => {
      const deal = await ok<DealBody>(owner, `/deals/${renewal.id}?include=${ALL}`);
      expect(deal).toEqual(expect.objectContaining(await relatedOf(owner, renewal)));
      expect(deal).toEqual(
        expect.objectContaining({
          contact: expect.objectContaining({ id: noCompany.id, companyId: null }),
          company: null,
          pipeline: expect.objectContaining({ id: renewals.id, name: 'Renewals' }),
          tasks: [],
        }),
      );
    });

    it('reads the parameter comma-separated or repeated, and ignores repeats', async () => {
      const once = await ok(owner, `/deals/${main.id}?include=contact,pipeline`);
      expect(await ok(owner, `/deals/${main.id}?include=pipeline&include=contact`)).toEqual(once);
      expect(await ok(owner, `/deals/${main.id}?include=contact,pipeline,contact`)).toEqual(once);
    });
  });

  describe('GET /deals', () => {
    it('embeds in every deal of a page what GET /deals/{id} embeds', async () => {
      const page = await ok<Page<DealBody>>(owner, `/deals?include=${ALL}&pageSize=100`);
      const plain = await ok<Page<DealBody>>(owner, '/deals?pageSize=100');
      // The four deals made here and the two of the lead conversions.
      expect(page.total).toBe(6);
      expect(page.items.map(({ id }) => id)).toEqual(plain.items.map(({ id }) => id));
      for (const deal of page.items) {
        expect(deal).toEqual(await ok(owner, `/deals/${deal.id}?include=${ALL}`));
      }
      for (const deal of plain.items)
        for (const name of DEAL_NAMES) expect(deal).not.toHaveProperty(name);
    });

    it('embeds in keyset pages too', async () => {
      const items: DealBody[] = [];
      let cursor: string | null | undefined;
      do {
        const next = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
        const page = await ok<Page<DealBody>>(owner, `/deals?limit=2&include=contact,tasks${next}`);
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      const plain = await ok<Page<DealBody>>(owner, '/deals?pageSize=100');
      expect(items.map(({ id }) => id)).toEqual(plain.items.map(({ id }) => id));
      for (const deal of items) {
        expect(deal).toEqual(await ok(owner, `/deals/${deal.id}?include=contact,tasks`));
      }
    });
  });

  // ---------------------------------------------------------------- contacts

  describe('GET /contacts/{id} and GET /contacts with include=company', () => {
    it('embeds the company as GET /companies/{id} answers it, null without one', async () => {
      const plain = await ok(owner, `/contacts/${atCompany.id}`);
      const res = await get(owner, `/contacts/${atCompany.id}?include=company`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ...plain, company: await ok(owner, `/companies/${company.id}`) });
      expect(res.headers.etag).toBeUndefined();
      expect(await ok(owner, `/contacts/${noCompany.id}?include=company`)).toEqual({
        ...(await ok(owner, `/contacts/${noCompany.id}`)),
        company: null,
      });
      expect(await ok(owner, `/contacts/${noCompany.id}`)).not.toHaveProperty('company');
    });

    it('embeds in every contact of a page what GET /contacts/{id} embeds', async () => {
      const page = await ok<Page<Item>>(owner, '/contacts?include=company&pageSize=100');
      expect(page.items.length).toBeGreaterThanOrEqual(4);
      for (const contact of page.items) {
        expect(contact).toEqual(await ok(owner, `/contacts/${contact.id}?include=company`));
      }
      const search = await ok<Page<Item>>(owner, '/contacts?search=grace&include=company');
      expect(search.items).toEqual([
        expect.objectContaining({ id: atCompany.id, company: expect.objectContaining(company) }),
      ]);
    });
  });

  // ---------------------------------------------------------------- leads

  describe('GET /leads/{id} and GET /leads with include', () => {
    it('embeds the contact and the deal of the conversion as their own GETs answer them', async () => {
      const plain = await ok<LeadBody>(owner, `/leads/${convertedLead.id}`);
      expect(plain.convertedContactId).toEqual(expect.any(String));
      const expected = {
        ...plain,
        convertedContact: await ok(owner, `/contacts/${plain.convertedContactId}`),
        convertedDeal: await ok(owner, `/deals/${plain.convertedDealId}`),
      };
      const res = await get(owner, `/leads/${convertedLead.id}?include=${LEAD_NAMES}`);
      expect(res.body).toEqual(expected);
      expect(res.headers.etag).toBeUndefined();
      expect(await ok(owner, `/leads/${convertedLead.id}?include=convertedDeal`)).toEqual({
        ...plain,
        convertedDeal: expected.convertedDeal,
      });
      expect(await ok(owner, `/leads/${openLead.id}?include=${LEAD_NAMES}`)).toEqual({
        ...(await ok(owner, `/leads/${openLead.id}`)),
        convertedContact: null,
        convertedDeal: null,
      });
    });

    it('embeds in every lead of a page what GET /leads/{id} embeds', async () => {
      const page = await ok<Page<LeadBody>>(owner, `/leads?include=${LEAD_NAMES}&pageSize=100`);
      expect(page.items).toHaveLength(3);
      for (const lead of page.items) {
        expect(lead).toEqual(await ok(owner, `/leads/${lead.id}?include=${LEAD_NAMES}`));
      }
    });
  });

  // ---------------------------------------------------------------- validation

  describe('unknown names', () => {
    const cases: [string, string][] = [
      ['/deals', 'owner'],
      ['/deals', 'contact,owner'],
      ['/deals', 'Contact'],
      ['/deals', ''],
      ['/deals', 'contact,'],
      ['/contacts', 'deals'],
      ['/contacts', 'company,contact'],
      ['/leads', 'contact'],
      ['/leads', 'convertedcontact'],
    ];

    it.each(cases)(
      '%s?include=%s: 400 VALIDATION_FAILED on include, by id and list',
      async (path, include) => {
        const id = { '/deals': main.id, '/contacts': atCompany.id, '/leads': convertedLead.id }[
          path
        ]!;
        for (const url of [`${path}/${id}`, path]) {
          const res = await get(owner, `${url}?include=${encodeURIComponent(include)}`);
          expectValidation(res, 'include');
        }
      },
    );

    it('is refused before the record is looked up (validation before visibility)', async () => {
      expectValidation(await get(team.outsider, `/deals/${main.id}?include=owner`), 'include');
    });
  });

  // ---------------------------------------------------------------- visibility

  describe('visibility of every embedded record', () => {
    it('a member gets null for the contact they may not see, and what they may see', async () => {
      // The manager's contact and its (missing) company are not the member's to read.
      expectError(await get(team.member, `/contacts/${membersDeal.contactId}`), 404, 'NOT_FOUND');
      const deal = await ok<DealBody>(team.member, `/deals/${membersDeal.id}?include=${ALL}`);
      const related = await relatedOf(team.member, membersDeal);
      expect(deal).toEqual({ ...(await ok(team.member, `/deals/${membersDeal.id}`)), ...related });
      expect(deal.contact).toBeNull();
      expect(deal.company).toBeNull();
      expect(deal.pipeline).toEqual(expect.objectContaining({ id: membersDeal.pipelineId }));
      expect(deal.tasks).toHaveLength(1);
      expect(deal.activities!.length).toBeGreaterThan(0);

      const page = await ok<Page<DealBody>>(team.member, `/deals?include=${ALL}`);
      const plain = await ok<Page<DealBody>>(team.member, '/deals');
      // Their deal and the one of their lead's conversion.
      expect(page.items.map(({ id }) => id)).toEqual(plain.items.map(({ id }) => id));
      expect(page.items).toHaveLength(2);
      for (const item of page.items) {
        expect(item).toEqual(await ok(team.member, `/deals/${item.id}?include=${ALL}`));
      }
      expect(page.items).toContainEqual(deal);
    });

    it('a custom role gets what each resource of its role lets it read', async () => {
      // deals: all; contacts: all; tasks: its own deals'; companies, pipelines, activities: none.
      const deal = await ok<DealBody>(reader, `/deals/${main.id}?include=${ALL}`);
      expect(deal).toEqual({
        ...(await ok(reader, `/deals/${main.id}`)),
        contact: await ok(reader, `/contacts/${main.contactId}`),
        company: null,
        pipeline: null,
        tasks: [],
        activities: [],
      });
      expectError(await get(reader, `/companies/${company.id}`), 403, 'FORBIDDEN');
      expectError(await get(reader, `/pipelines/${main.pipelineId}`), 403, 'FORBIDDEN');
      // The owner sees the tasks the reader does not.
      expect((await ok<DealBody>(owner, `/deals/${main.id}?include=tasks`)).tasks).toHaveLength(2);

      const own = await ok<DealBody>(reader, `/deals/${readersDeal.id}?include=tasks,activities`);
      const tasks = await ok<Page<Item>>(reader, `/tasks?dealId=${readersDeal.id}`);
      expect(tasks.items).toHaveLength(1);
      expect(own.tasks).toEqual(tasks.items);
      expect(own.activities).toEqual([]);

      const page = await ok<Page<DealBody>>(reader, `/deals?include=${ALL}&pageSize=100`);
      expect(page.items).toHaveLength(6);
      for (const item of page.items) {
        expect(item).toEqual(await ok(reader, `/deals/${item.id}?include=${ALL}`));
      }

      expect(await ok(reader, `/contacts/${atCompany.id}?include=company`)).toEqual({
        ...(await ok(reader, `/contacts/${atCompany.id}`)),
        company: null,
      });
    });

    it('a member’s converted lead embeds the deal they own, not the reused contact', async () => {
      expect(membersLead.convertedContactId).toBe(atCompany.id);
      const lead = await ok<LeadBody>(
        team.member,
        `/leads/${membersLead.id}?include=${LEAD_NAMES}`,
      );
      expect(lead).toEqual({
        ...(await ok(team.member, `/leads/${membersLead.id}`)),
        convertedContact: null,
        convertedDeal: await ok(team.member, `/deals/${membersLead.convertedDealId}`),
      });
      const asOwner = await ok<LeadBody>(owner, `/leads/${membersLead.id}?include=${LEAD_NAMES}`);
      expect(asOwner.convertedContact).toEqual(await ok(owner, `/contacts/${atCompany.id}`));
    });
  });

  describe('another organization', () => {
    it('still answers 404 for an id of another organization, whatever is included', async () => {
      const outsider = team.outsider;
      for (const path of [
        `/deals/${main.id}?include=${ALL}`,
        `/contacts/${atCompany.id}?include=company`,
        `/leads/${convertedLead.id}?include=${LEAD_NAMES}`,
      ]) {
        expectError(await get(outsider, path), 404, 'NOT_FOUND');
      }
      const theirContact = await create(outsider, '/contacts', { name: 'Their contact' });
      const theirDeal = await create<DealBody>(outsider, '/deals', {
        contactId: theirContact.id,
        title: 'Theirs',
      });
      const page = await ok<Page<DealBody>>(outsider, `/deals?include=${ALL}`);
      expect(page.items).toEqual([
        expect.objectContaining({ id: theirDeal.id, contact: theirContact, company: null }),
      ]);
      expect(page.items[0].pipeline).toEqual(
        await ok(outsider, `/pipelines/${theirDeal.pipelineId}`),
      );
    });
  });

  // ---------------------------------------------------------------- query cost

  describe('query cost of a page with include (no N+1)', () => {
    it('a page costs the same number of SQL statements for 5 and for 50 records', async () => {
      const bulk = await register(t, 'bulk', 'Bulk Org');
      // 55 companies, 55 contacts (one per company), 55 deals (one per contact) with a task and
      // two timeline entries each, 55 leads converted to them.
      await t.db.query(
        `WITH companies AS (
           INSERT INTO companies (organization_id, owner_id, name)
           SELECT $1, $2, 'Company ' || i FROM generate_series(1, 55) AS i RETURNING id, name
         ), contacts AS (
           INSERT INTO contacts (organization_id, owner_id, name, company_id)
           SELECT $1, $2, 'Contact of ' || name, id FROM companies RETURNING id, name
         ), deals AS (
           INSERT INTO deals (organization_id, contact_id, owner_id, title, amount, currency, pipeline_id, stage)
           SELECT $1, c.id, $2, 'Deal with ' || c.name, 10, 'USD', p.id, 'qualification'
           FROM contacts c, pipelines p WHERE p.organization_id = $1 AND p.is_default
           RETURNING id, contact_id, title
         ), tasks AS (
           INSERT INTO tasks (organization_id, deal_id, title, due_date)
           SELECT $1, id, 'Task of ' || title, DATE '2099-01-01' FROM deals RETURNING id
         ), activities AS (
           INSERT INTO activities (organization_id, deal_id, type, payload)
           SELECT $1, d.id, CAST(a.type AS activity_type), CAST(a.payload AS jsonb)
           FROM deals d, (VALUES ('system', '{"event":"deal_created"}'), ('comment', '{"text":"a note"}'))
             AS a (type, payload)
           RETURNING id
         )
         INSERT INTO leads (organization_id, owner_id, name, status, converted_at, converted_contact_id, converted_deal_id)
         SELECT $1, $2, 'Lead of ' || title, 'converted', now(), contact_id, id FROM deals`,
        [bulk.organizationId, bulk.userId],
      );
      const list = (path: string): Test =>
        t.http().get(`${API}${path}`).set(as(bulk, bulk.organizationId));
      // warm up (membership cache, list totals)
      for (const path of ['/deals', '/contacts', '/leads']) {
        expect((await list(`${path}?pageSize=5`)).status).toBe(200);
      }

      const recorded = recordStatements();
      try {
        const cost = async (path: string, n: number): Promise<number> => {
          await consumersIdle(t.db);
          recorded.clear();
          const res = await list(path);
          expect(res.status).toBe(200);
          const { items } = res.body as Page<Body>;
          expect(items).toHaveLength(n);
          // Every record of the seed has each of its relations (and the owner reads them all).
          const embedded = new URLSearchParams(path.split('?')[1]).get('include')?.split(',') ?? [];
          for (const item of items) {
            for (const name of embedded) {
              const value = item[name];
              if (!Array.isArray(value)) {
                expect(value).toEqual(expect.objectContaining({ id: expect.any(String) }));
                continue;
              }
              expect(value.length).toBeGreaterThan(0);
              for (const child of value) expect(child).toMatchObject({ dealId: item.id });
            }
          }
          // The request's statements (not the background workers' polls).
          return recorded.statements().length;
        };
        const dealsSmall = await cost(`/deals?pageSize=5&include=${ALL}`, 5);
        const dealsLarge = await cost(`/deals?pageSize=50&include=${ALL}`, 50);
        expect(dealsLarge).toBe(dealsSmall);
        // One statement per relation, on top of the page itself.
        expect(dealsLarge - (await cost('/deals?pageSize=50', 50))).toBe(DEAL_NAMES.length);
        expect(await cost(`/deals?limit=50&include=${ALL}`, 50)).toBe(
          await cost(`/deals?limit=5&include=${ALL}`, 5),
        );
        expect(await cost('/contacts?pageSize=51&include=company', 51)).toBe(
          await cost('/contacts?pageSize=5&include=company', 5),
        );
        expect(await cost(`/leads?pageSize=50&include=${LEAD_NAMES}`, 50)).toBe(
          await cost(`/leads?pageSize=5&include=${LEAD_NAMES}`, 5),
        );
      } finally {
        recorded.restore();
      }
    });
  });
});
