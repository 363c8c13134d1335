import request from 'supertest';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import {
  as,
  createTeam,
  expectError,
  register,
  type RoleName,
  type Session,
  type Team,
} from './support/api';
import { consumersIdle } from './support/background';
import { REDIS_ENV } from './support/database';
import { keysOf } from './support/resource';
import { redis, redisKeysOf, REDIS_URL } from './support/redis';
import { createTestApp, type TestApp } from './support/test-app';
import { Notification } from '../src/modules/notifications/notification.entity';
import { Webhook } from '../src/modules/webhooks/webhook.entity';
import { systemActor } from '../src/tenancy/actor';
import { UnitOfWork } from '../src/tenancy/unit-of-work';

/*
 * The `total` of offset list pages (API.md section 1) is an exact count(*) cached per
 * organization (TenantCache, kind LIST_TOTALS) and invalidated by every tenant-scoped write
 * request before its response leaves. Proven here over HTTP against the real database: after
 * every write through the API (create, update that moves a record in or out of a filter,
 * delete, import, actions), the very next list answers the exact total, for every list, filter,
 * search and page size; per visibility scope (members count their own records) and per
 * organization; with the cache off; on Redis shared by two app copies; for deep offset pages
 * (read "ids first" from offset 1000 on) against the keyset walk; and under concurrency.
 *
 * Expected totals come from what the test itself created (a small model per list), never from
 * an earlier answer of the API. Rows written by SQL behind the application's back do not
 * invalidate the cache (by design: only writes through the API do), so SQL seeding always
 * happens before an organization's first list request, or is followed by an API write.
 */

const API = '/api/v1';
/** Redis tests need a real Redis (see the global setup); skipped with a notice without one. */
const describeOnRedis = process.env[REDIS_ENV] ? describe : describe.skip;
const PAGE_KEYS = ['items', 'page', 'pageSize', 'total'];
const CURSOR_PAGE_KEYS = ['items', 'nextCursor'];

interface Item {
  id: string;
}
interface PageBody {
  items: Item[];
  total: number;
  page: number;
  pageSize: number;
}
interface CursorBody {
  items: Item[];
  nextCursor: string | null;
}

/** Today's UTC date moved by `days` (YYYY-MM-DD), as the server computes dates. */
const utcDate = (days: number): string =>
  new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
const url = (path: string, query = ''): string => `${API}${path}${query ? `?${query}` : ''}`;
const idOf = (body: unknown): string => (body as Item).id;

// ---------------------------------------------------------------- HTTP helpers

type Method = 'post' | 'put' | 'patch' | 'delete';

/** A write through the API that must answer `status`; returns the body. */
async function write(
  app: TestApp,
  s: Session,
  organizationId: string,
  method: Method,
  path: string,
  body: object | undefined,
  status: number,
): Promise<unknown> {
  const req = app.http()[method](`${API}${path}`).set(as(s, organizationId));
  const res = body === undefined ? await req : await req.send(body);
  // The body is shown only when the status is not the expected one.
  expect({
    request: `${method} ${path}`,
    status: res.status,
    body: res.status === status ? null : (res.body as unknown),
  }).toEqual({ request: `${method} ${path}`, status, body: null });
  return res.body;
}

async function pageOf(
  app: TestApp,
  s: Session,
  organizationId: string,
  path: string,
  query = '',
): Promise<PageBody> {
  const res = await app.http().get(url(path, query)).set(as(s, organizationId));
  expect({ list: url(path, query), status: res.status }).toEqual({
    list: url(path, query),
    status: 200,
  });
  expect(keysOf(res.body)).toEqual(PAGE_KEYS);
  return res.body as PageBody;
}

const join = (query: string, more: string): string => (query ? `${query}&${more}` : more);

/**
 * Asserts that every query of `expected` (a query string -> its exact total) answers that total
 * with pageSize=100 and on page 2 of pageSize=3 (the first query also with the default page size
 * and pageSize=1), and that the items of those pages (never cached) agree with it.
 */
async function expectTotals(
  app: TestApp,
  s: Session,
  organizationId: string,
  path: string,
  expected: Record<string, number>,
): Promise<void> {
  const actual: Record<string, { query: string; total: number; items: number }[]> = {};
  const wanted: typeof actual = {};
  await Promise.all(
    Object.entries(expected).map(async ([query, total], i) => {
      const variants: [string, number][] = [
        [join(query, 'pageSize=100'), Math.min(total, 100)],
        [join(query, 'page=2&pageSize=3'), Math.max(0, Math.min(total - 3, 3))],
      ];
      if (i === 0) {
        variants.push(
          [query, Math.min(total, 20)],
          [join(query, 'pageSize=1'), Math.min(total, 1)],
        );
      }
      const pages = await Promise.all(
        variants.map(([q]) => pageOf(app, s, organizationId, path, q)),
      );
      actual[query] = pages.map((p, j) => ({
        query: variants[j][0],
        total: p.total,
        items: p.items.length,
      }));
      wanted[query] = variants.map(([q, items]) => ({ query: q, total, items }));
    }),
  );
  expect({ path, actual }).toEqual({ path, actual: wanted });
}

/** Writes through the API as `s` in `organizationId`, each answering the given status. */
function api(app: TestApp, s: Session, organizationId: string) {
  return {
    post: (path: string, body: object | undefined, status = 201) =>
      write(app, s, organizationId, 'post', path, body, status),
    put: (path: string, body: object, status = 200) =>
      write(app, s, organizationId, 'put', path, body, status),
    patch: (path: string, body: object, status = 200) =>
      write(app, s, organizationId, 'patch', path, body, status),
    remove: (path: string, status = 204) =>
      write(app, s, organizationId, 'delete', path, undefined, status),
  };
}

/** Adds `s` to the organization with `role` (as its owner `by`). */
async function addMember(
  app: TestApp,
  by: Session,
  organizationId: string,
  s: Session,
  role: RoleName,
): Promise<void> {
  await api(app, by, organizationId).post('/organizations/current/members', {
    email: s.email,
    role,
  });
}

/**
 * The database's own count of an organization's rows, by owner: checks that the model the
 * expected totals come from is the truth (the cache is not involved).
 */
async function rowsByOwner(
  app: TestApp,
  table: 'contacts' | 'companies' | 'deals' | 'leads',
  organizationId: string,
): Promise<Record<string, number>> {
  const rows: { owner: string; n: number }[] = await app.db.query(
    `SELECT owner_id AS owner, count(*)::int AS n FROM ${table}
      WHERE organization_id = $1 GROUP BY owner_id`,
    [organizationId],
  );
  return Object.fromEntries(rows.map((r) => [r.owner, r.n]));
}

async function rowCount(
  app: TestApp,
  table: 'tasks' | 'pipelines' | 'organization_members',
  organizationId: string,
): Promise<number> {
  const [{ n }]: { n: number }[] = await app.db.query(
    `SELECT count(*)::int AS n FROM ${table} WHERE organization_id = $1`,
    [organizationId],
  );
  return n;
}

/** The model's records counted by owner, as rowsByOwner answers. */
function byOwner(records: Iterable<{ ownerId: string }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { ownerId } of records) counts[ownerId] = (counts[ownerId] ?? 0) + 1;
  return counts;
}

/** An organization with an owner and a member (API.md section 4). */
async function ownerAndMember(
  app: TestApp,
  prefix: string,
): Promise<{ org: string; owner: Session; member: Session }> {
  const owner = await register(app, `${prefix}-owner`, `${prefix} Org`);
  const member = await register(app, `${prefix}-member`);
  await addMember(app, owner, owner.organizationId, member, 'member');
  return { org: owner.organizationId, owner, member };
}

// ---------------------------------------------------------------- a second app copy, Redis

/** A second copy of the application on the same database (and configuration) as `t`. */
async function secondCopy(t: TestApp): Promise<{ copy: TestApp; close: () => Promise<void> }> {
  const app = await createApp(t.config, t.config.databaseUrl!, createLogger(t.config));
  await app.getHttpAdapter().getInstance().ready();
  return {
    copy: { ...t, app, http: () => request(app.getHttpServer()) },
    close: () => app.close(),
  };
}

// ---------------------------------------------------------------- the tests

describe('List totals: exact, never stale, correctly scoped (API.md section 1)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  describe('contacts', () => {
    let team: Team;
    let org: string;
    /** The organization's contacts as the API created them. */
    const contacts = new Map<string, { ownerId: string; name: string }>();

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
    });

    async function create(s: Session, name: string, ownerId?: string): Promise<string> {
      const body = await api(t, s, org).post('/contacts', { name, ownerId });
      contacts.set(idOf(body), { ownerId: ownerId ?? s.userId, name });
      return idOf(body);
    }

    async function replace(s: Session, id: string, name: string, ownerId?: string): Promise<void> {
      await api(t, s, org).put(`/contacts/${id}`, { name, ownerId });
      contacts.set(id, { ownerId: ownerId ?? contacts.get(id)!.ownerId, name });
    }

    async function remove(s: Session, id: string): Promise<void> {
      await api(t, s, org).remove(`/contacts/${id}`);
      contacts.delete(id);
    }

    /** The owner's and the member's totals, unfiltered, by search and by owner. */
    async function expectAll(): Promise<void> {
      const all = [...contacts.values()];
      const zebra = (c: { name: string }): boolean => c.name.toLowerCase().includes('zebra');
      const ofMember = (c: { ownerId: string }): boolean => c.ownerId === team.member.userId;
      await expectTotals(t, team.owner, org, '/contacts', {
        '': all.length,
        'search=zebra': all.filter(zebra).length,
        'search=ZEB%20one': all.filter((c) => zebra(c) && /one/i.test(c.name)).length,
        [`ownerId=${team.member.userId}`]: all.filter(ofMember).length,
        [`ownerId=${team.owner.userId}`]: all.filter((c) => c.ownerId === team.owner.userId).length,
        'orderBy=name&order=asc': all.length,
      });
      await expectTotals(t, team.member, org, '/contacts', {
        '': all.filter(ofMember).length,
        'search=zebra': all.filter((c) => ofMember(c) && zebra(c)).length,
      });
    }

    it('create, rename into and out of a search, reassign and delete: each next total counts the write', async () => {
      await expectAll(); // the first requests: 0 everywhere, now cached

      const zebraOne = await create(team.owner, 'Zebra One');
      await expectAll();
      const plain = await create(team.member, 'Plain Member');
      await create(team.member, 'Zebra Two');
      await expectAll();

      await replace(team.member, plain, 'Zebra One Too'); // into both searches
      await expectAll();
      await replace(team.owner, zebraOne, 'Horse'); // out of them
      await expectAll();
      await replace(team.manager, zebraOne, 'Horse', team.member.userId); // into the member's list
      await expectAll();
      await replace(team.manager, plain, 'Zebra One Too', team.owner.userId); // out of it
      await expectAll();

      await remove(team.member, zebraOne);
      await expectAll();
      await Promise.all([
        create(team.admin, 'Zebra Admin'),
        create(team.manager, 'Zebra For Member', team.member.userId),
        create(team.member, 'Quiet'),
      ]);
      await expectAll();
      await remove(team.owner, plain);
      await expectAll();
      expect(await rowsByOwner(t, 'contacts', org)).toEqual(byOwner(contacts.values()));
    });
  });

  describe('companies and the contacts of a company', () => {
    let team: Team;
    let org: string;
    const companies = new Map<string, { ownerId: string; name: string; industry: string }>();
    /** contact id -> its company id. */
    const linked = new Map<string, string | null>();

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
    });

    async function create(s: Session, name: string, industry: string): Promise<string> {
      const body = await api(t, s, org).post('/companies', { name, industry });
      companies.set(idOf(body), { ownerId: s.userId, name, industry });
      return idOf(body);
    }

    async function expectAll(): Promise<void> {
      const all = [...companies.values()];
      const mine = all.filter((c) => c.ownerId === team.member.userId);
      const inAero = (c: { industry: string }): boolean => c.industry === 'Aerospace';
      await expectTotals(t, team.owner, org, '/companies', {
        '': all.length,
        'industry=Aerospace': all.filter(inAero).length,
        'search=orbital': all.filter((c) => /orbital/i.test(c.name)).length,
        'orderBy=name': all.length,
      });
      await expectTotals(t, team.member, org, '/companies', {
        '': mine.length,
        'industry=Aerospace': mine.filter(inAero).length,
      });
    }

    async function expectContactsOf(company: string): Promise<void> {
      const count = [...linked.values()].filter((c) => c === company).length;
      await expectTotals(t, team.owner, org, `/companies/${company}/contacts`, { '': count });
      await expectTotals(t, team.owner, org, '/contacts', { [`companyId=${company}`]: count });
    }

    it('create, change industry and delete companies: each next total counts the write', async () => {
      await expectAll();
      const orbital = await create(team.owner, 'Orbital Works', 'Aerospace');
      await create(team.member, 'Member Orbital', 'Retail');
      await expectAll();
      await api(t, team.member, org).patch(`/companies/${orbital}`, { industry: 'Retail' }, 404);
      await api(t, team.owner, org).patch(`/companies/${orbital}`, { industry: 'Retail' });
      companies.get(orbital)!.industry = 'Retail';
      await expectAll();
      const memberAero = await create(team.member, 'Rockets', 'Aerospace');
      await expectAll();
      await api(t, team.owner, org).patch(`/companies/${memberAero}`, { name: 'Orbital Rockets' });
      companies.get(memberAero)!.name = 'Orbital Rockets';
      await expectAll();
      await api(t, team.member, org).remove(`/companies/${memberAero}`);
      companies.delete(memberAero);
      await expectAll();
      expect(await rowsByOwner(t, 'companies', org)).toEqual(byOwner(companies.values()));
    });

    it('linking, unlinking and deleting the company: the totals of its contacts follow', async () => {
      const company = await create(team.owner, 'Linked Co', 'Aerospace');
      await expectContactsOf(company);
      for (const name of ['Linked A', 'Linked B', 'Linked C']) {
        const body = await api(t, team.owner, org).post('/contacts', { name, companyId: company });
        linked.set(idOf(body), company);
        await expectContactsOf(company);
      }
      // PUT is a full replace: without companyId the contact leaves the company.
      const [first, second] = [...linked.keys()];
      await api(t, team.owner, org).put(`/contacts/${first}`, { name: 'Unlinked A' });
      linked.set(first, null);
      await expectContactsOf(company);
      await api(t, team.owner, org).remove(`/contacts/${second}`);
      linked.delete(second);
      await expectContactsOf(company);
      const [{ n }]: { n: number }[] = await t.db.query(
        'SELECT count(*)::int AS n FROM contacts WHERE company_id = $1',
        [company],
      );
      expect(n).toBe(1);
      // Deleting the company unlinks its last contact: the filtered contact list counts 0.
      await api(t, team.owner, org).remove(`/companies/${company}`);
      await expectTotals(t, team.owner, org, '/contacts', { [`companyId=${company}`]: 0 });
    });
  });

  describe('deals, with status changes, actions and reassignment', () => {
    let team: Team;
    let org: string;
    const contactOf = new Map<string, string>();
    const deals = new Map<
      string,
      { ownerId: string; status: string; stage: string; amount: number }
    >();

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      for (const s of [team.owner, team.member]) {
        const body = await api(t, s, org).post('/contacts', { name: 'Deal contact' });
        contactOf.set(s.userId, idOf(body));
      }
    });

    async function create(s: Session, amount: number, status = 'new'): Promise<string> {
      const body = (await api(t, s, org).post('/deals', {
        contactId: contactOf.get(s.userId),
        title: 'Deal',
        amount,
        status,
      })) as { id: string; status: string; stage: string };
      deals.set(body.id, { ownerId: s.userId, status: body.status, stage: body.stage, amount });
      return body.id;
    }

    /** A PATCH or action whose answer is the deal: records its new state. */
    async function change(
      s: Session,
      method: Method,
      path: string,
      body: object | undefined,
    ): Promise<void> {
      const deal = (await write(t, s, org, method, path, body, 200)) as {
        id: string;
        ownerId: string;
        status: string;
        stage: string;
        amount: string;
      };
      deals.set(deal.id, {
        ownerId: deal.ownerId,
        status: deal.status,
        stage: deal.stage,
        amount: Number(deal.amount),
      });
    }

    async function expectAll(): Promise<void> {
      const all = [...deals.values()];
      const mine = all.filter((d) => d.ownerId === team.member.userId);
      const cases = (list: typeof all): Record<string, number> => ({
        '': list.length,
        'status=new': list.filter((d) => d.status === 'new').length,
        'status=won&status=lost': list.filter((d) => ['won', 'lost'].includes(d.status)).length,
        'stage=proposal': list.filter((d) => d.stage === 'proposal').length,
        'stage=closed': list.filter((d) => d.stage === 'closed').length,
        'minAmount=100': list.filter((d) => d.amount >= 100).length,
        'status=in_progress&minAmount=100&orderBy=amount': list.filter(
          (d) => d.status === 'in_progress' && d.amount >= 100,
        ).length,
      });
      await expectTotals(t, team.owner, org, '/deals', cases(all));
      await expectTotals(t, team.member, org, '/deals', cases(mine));
    }

    it('create, status and stage changes, win/lose/move-stage, reassign and delete: each next total counts the write', async () => {
      await expectAll();
      const a = await create(team.member, 50);
      const b = await create(team.member, 500);
      await create(team.owner, 1000);
      await expectAll();
      await change(team.member, 'patch', `/deals/${b}`, { status: 'in_progress' });
      await expectAll();
      await change(team.member, 'patch', `/deals/${b}`, { status: 'won' });
      await expectAll();
      await change(team.member, 'post', `/deals/${a}/move-stage`, { stage: 'proposal' });
      await expectAll();
      await change(team.member, 'patch', `/deals/${a}`, { amount: 150 });
      await expectAll();
      await change(team.member, 'post', `/deals/${a}/lose`, { reason: 'Too late' });
      await expectAll();
      const c = await create(team.owner, 120);
      await change(team.owner, 'patch', `/deals/${c}`, {
        status: 'in_progress',
        stage: 'proposal',
      });
      await expectAll();
      await change(team.owner, 'post', `/deals/${c}/win`, undefined);
      await expectAll();
      // Reassigned by a manager: it leaves the member's totals and stays in the owner's.
      await change(team.manager, 'patch', `/deals/${b}`, { ownerId: team.owner.userId });
      await expectAll();
      await api(t, team.owner, org).remove(`/deals/${c}`);
      deals.delete(c);
      await expectAll();
      expect(await rowsByOwner(t, 'deals', org)).toEqual(byOwner(deals.values()));
    });
  });

  describe('tasks, with isDone and overdue', () => {
    let team: Team;
    let org: string;
    let ownerDeal: string;
    let memberDeal: string;
    const dealOwner = new Map<string, string>();
    const tasks = new Map<string, { dealId: string; dueDate: string; isDone: boolean }>();

    async function newDeal(s: Session): Promise<string> {
      const contact = await api(t, s, org).post('/contacts', { name: 'Task contact' });
      const deal = await api(t, s, org).post('/deals', {
        contactId: idOf(contact),
        title: 'Task deal',
      });
      dealOwner.set(idOf(deal), s.userId);
      return idOf(deal);
    }

    /** A task by SQL: the API refuses past due dates. */
    async function insertOverdue(dealId: string, isDone = false): Promise<void> {
      const dueDate = '2001-02-03';
      const rows: Item[] = await t.db.query(
        `INSERT INTO tasks (organization_id, deal_id, title, due_date, is_done)
         VALUES ($1, $2, 'Overdue', $3, $4) RETURNING id`,
        [org, dealId, dueDate, isDone],
      );
      tasks.set(rows[0].id, { dealId, dueDate, isDone });
    }

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      ownerDeal = await newDeal(team.owner);
      memberDeal = await newDeal(team.member);
      // By SQL, before this organization's first list request: nothing is cached yet, so
      // nothing can be stale (SQL writes bypass the invalidation by design).
      await insertOverdue(ownerDeal);
      await insertOverdue(ownerDeal);
      await insertOverdue(ownerDeal, true);
      await insertOverdue(memberDeal);
      await insertOverdue(memberDeal);
    });

    async function create(s: Session, dealId: string, days: number): Promise<string> {
      const dueDate = utcDate(days);
      const body = await api(t, s, org).post('/tasks', { dealId, title: 'Task', dueDate });
      tasks.set(idOf(body), { dealId, dueDate, isDone: false });
      return idOf(body);
    }

    async function done(s: Session, id: string, isDone: boolean): Promise<void> {
      await api(t, s, org).patch(`/tasks/${id}`, { isDone });
      tasks.get(id)!.isDone = isDone;
    }

    async function expectAll(): Promise<void> {
      const today = utcDate(0);
      const overdue = (x: { dueDate: string; isDone: boolean }): boolean =>
        !x.isDone && x.dueDate < today;
      const cases = (list: { dealId: string; dueDate: string; isDone: boolean }[]) => ({
        '': list.length,
        'isDone=true': list.filter((x) => x.isDone).length,
        'isDone=false': list.filter((x) => !x.isDone).length,
        'overdue=true': list.filter(overdue).length,
        'overdue=false': list.filter((x) => !overdue(x)).length,
        'overdue=true&orderBy=dueDate&order=asc': list.filter(overdue).length,
        [`dealId=${memberDeal}&isDone=false`]: list.filter(
          (x) => x.dealId === memberDeal && !x.isDone,
        ).length,
      });
      const all = [...tasks.values()];
      await expectTotals(t, team.owner, org, '/tasks', cases(all));
      await expectTotals(
        t,
        team.member,
        org,
        '/tasks',
        cases(all.filter((x) => dealOwner.get(x.dealId) === team.member.userId)),
      );
    }

    it('mark done and undone, create, delete, reassign and delete the deal: each next total counts the write', async () => {
      await expectAll();
      const overdueOfMember = [...tasks].find(([, x]) => x.dealId === memberDeal)![0];
      await done(team.member, overdueOfMember, true); // leaves overdue=true, joins isDone=true
      await expectAll();
      await done(team.member, overdueOfMember, false); // back
      await expectAll();
      const future = await create(team.member, memberDeal, 5);
      await create(team.owner, ownerDeal, 9);
      await expectAll();
      await done(team.owner, future, true);
      await expectAll();
      await api(t, team.member, org).remove(`/tasks/${overdueOfMember}`);
      tasks.delete(overdueOfMember);
      await expectAll();
      // The owner's deal, reassigned to the member: its tasks join the member's totals.
      await api(t, team.manager, org).patch(`/deals/${ownerDeal}`, { ownerId: team.member.userId });
      dealOwner.set(ownerDeal, team.member.userId);
      await expectAll();
      // Deleting a deal deletes its tasks: they leave every total.
      await api(t, team.owner, org).remove(`/deals/${memberDeal}`);
      for (const [id, x] of tasks) if (x.dealId === memberDeal) tasks.delete(id);
      await expectAll();
      expect(await rowCount(t, 'tasks', org)).toBe(tasks.size);
    });
  });

  describe('leads', () => {
    let team: Team;
    let org: string;
    /** `text` is what search looks at here: name and companyName. */
    const leads = new Map<
      string,
      { ownerId: string; text: string; status: string; source: string }
    >();

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
    });

    async function create(s: Session, name: string, source: string): Promise<string> {
      const body = await api(t, s, org).post('/leads', {
        name,
        source,
        companyName: `${name} Inc`,
      });
      leads.set(idOf(body), {
        ownerId: s.userId,
        text: `${name} ${name} Inc`,
        status: 'new',
        source,
      });
      return idOf(body);
    }

    async function act(s: Session, id: string, action: string, body?: object): Promise<void> {
      const answer = (await api(t, s, org).post(
        `/leads/${id}/${action}`,
        body,
        action === 'convert' ? 201 : 200,
      )) as {
        status?: string;
        lead?: { status: string };
      };
      leads.get(id)!.status = (answer.lead ?? answer).status!;
    }

    async function expectAll(): Promise<void> {
      const all = [...leads.values()];
      const cases = (list: typeof all): Record<string, number> => ({
        '': list.length,
        'status=new': list.filter((l) => l.status === 'new').length,
        'status=qualified&status=new': list.filter((l) => ['new', 'qualified'].includes(l.status))
          .length,
        'status=converted': list.filter((l) => l.status === 'converted').length,
        'source=fair': list.filter((l) => l.source === 'fair').length,
        'search=ada': list.filter((l) => /ada/i.test(l.text)).length,
        'search=lead%20inc': list.filter((l) => /lead/i.test(l.text) && /inc/i.test(l.text)).length,
      });
      await expectTotals(t, team.owner, org, '/leads', cases(all));
      await expectTotals(
        t,
        team.member,
        org,
        '/leads',
        cases(all.filter((l) => l.ownerId === team.member.userId)),
      );
    }

    it('create, qualify, disqualify, change, convert and delete: each next total counts the write', async () => {
      await expectAll();
      const ada = await create(team.member, 'Ada Lead', 'fair');
      const bob = await create(team.member, 'Bob Lead', 'web');
      const cy = await create(team.owner, 'Cy Adams', 'fair');
      await expectAll();
      await act(team.member, ada, 'qualify');
      await expectAll();
      await act(team.member, bob, 'disqualify', { reason: 'No budget' });
      await expectAll();
      await api(t, team.owner, org).patch(`/leads/${cy}`, { source: 'web', name: 'Cy' });
      Object.assign(leads.get(cy)!, { source: 'web', text: 'Cy Cy Adams Inc' });
      await expectAll();
      // Converting creates a contact, a company and a deal: their totals move too.
      const before = await Promise.all(
        ['/contacts', '/companies', '/deals'].map((p) => pageOf(t, team.member, org, p)),
      );
      await act(team.member, ada, 'convert', { dealTitle: 'From lead', amount: 10 });
      await expectAll();
      const after = await Promise.all(
        ['/contacts', '/companies', '/deals'].map((p) => pageOf(t, team.member, org, p)),
      );
      expect(after.map((p) => p.total)).toEqual(before.map((p) => p.total + 1));
      await api(t, team.member, org).remove(`/leads/${bob}`);
      leads.delete(bob);
      await expectAll();
      expect(await rowsByOwner(t, 'leads', org)).toEqual(byOwner(leads.values()));
    });
  });

  describe('pipelines', () => {
    it('create and delete: every role reads the next exact total', async () => {
      const team = await createTeam(t);
      const org = team.organizationId;
      const stages = [
        { key: 'open', name: 'Open', probability: 10 },
        { key: 'done', name: 'Done', probability: 100 },
      ];
      let count = 1; // the default pipeline
      const expectCount = async (): Promise<void> => {
        for (const s of [team.owner, team.member]) {
          await expectTotals(t, s, org, '/pipelines', { '': count, 'order=asc': count });
        }
      };
      await expectCount();
      const first = await api(t, team.owner, org).post('/pipelines', { name: 'P1', stages });
      count += 1;
      await expectCount();
      await api(t, team.admin, org).post('/pipelines', { name: 'P2', stages });
      count += 1;
      await expectCount();
      await api(t, team.owner, org).remove(`/pipelines/${idOf(first)}`);
      count -= 1;
      await expectCount();
      expect(await rowCount(t, 'pipelines', org)).toBe(count);
    });
  });

  describe('activities of a deal', () => {
    it('deal created, comment, stage and status changes, task: each next total of its timeline counts it', async () => {
      const { org, owner, member } = await ownerAndMember(t, 'timeline');
      const contact = await api(t, member, org).post('/contacts', { name: 'C' });
      const newDeal = async (): Promise<string> =>
        idOf(
          await api(t, member, org).post('/deals', {
            contactId: idOf(contact),
            title: 'Timeline',
            amount: 10,
          }),
        );
      const deal = await newDeal();
      const other = await newDeal();
      const counts = new Map([
        [deal, 1], // system: deal_created
        [other, 1],
      ]);
      const expectCounts = async (): Promise<void> => {
        for (const [id, count] of counts) {
          for (const s of [owner, member]) {
            await expectTotals(t, s, org, `/deals/${id}/activities`, { '': count });
          }
        }
      };
      await expectCounts();
      const comment = { type: 'comment', payload: { text: 'Hello' } };
      await api(t, member, org).post(`/deals/${deal}/activities`, comment);
      counts.set(deal, 2);
      await expectCounts();
      await api(t, owner, org).post(`/deals/${deal}/activities`, comment);
      counts.set(deal, 3);
      await expectCounts();
      await api(t, member, org).patch(`/deals/${deal}`, { stage: 'proposal' });
      counts.set(deal, 4); // stage_changed
      await expectCounts();
      await api(t, member, org).patch(`/deals/${deal}`, { status: 'in_progress' });
      counts.set(deal, 5); // status_changed
      await expectCounts();
      const task = { dealId: deal, title: 'Call', dueDate: utcDate(3) };
      await api(t, member, org).post('/tasks', task);
      counts.set(deal, 6); // task_created
      await expectCounts();
      await api(t, member, org).patch(`/deals/${other}`, { title: 'Renamed' });
      await expectCounts(); // a change without an activity: still the same totals
      const [{ n }]: { n: number }[] = await t.db.query(
        'SELECT count(*)::int AS n FROM activities WHERE deal_id = $1',
        [deal],
      );
      expect(n).toBe(6);
    });
  });

  describe('organization members', () => {
    it('add, change role and remove: every member reads the next exact total, in every order', async () => {
      const team = await createTeam(t);
      const org = team.organizationId;
      const joiner = await register(t, 'joiner');
      let count = 4;
      const expectCount = async (): Promise<void> => {
        for (const s of [team.owner, team.member]) {
          await expectTotals(t, s, org, '/organizations/current/members', {
            '': count,
            'orderBy=name&order=asc': count,
            'orderBy=email': count,
          });
        }
        // The joiner's own organization is untouched.
        await expectTotals(t, joiner, joiner.organizationId, '/organizations/current/members', {
          '': 1,
        });
      };
      await expectCount();
      await addMember(t, team.admin, org, joiner, 'member');
      count += 1;
      await expectCount();
      await api(t, team.owner, org).patch(`/organizations/current/members/${joiner.userId}`, {
        role: 'manager',
      });
      await expectCount();
      await api(t, team.owner, org).remove(`/organizations/current/members/${joiner.userId}`);
      count -= 1;
      await expectCount();
      await api(t, team.owner, org).remove(`/organizations/current/members/${team.manager.userId}`);
      count -= 1;
      await expectCount();
      expect(await rowCount(t, 'organization_members', org)).toBe(count);
    });
  });

  describe('visibility scopes and organizations', () => {
    let team: Team;
    let orgA: string;
    let orgB: string;
    /** A second member of A: same query as the member's, another owner parameter. */
    let member2: Session;
    /** contact id -> [organization, owner]. */
    const contacts = new Map<string, { org: string; ownerId: string }>();

    beforeAll(async () => {
      team = await createTeam(t);
      orgA = team.organizationId;
      orgB = team.outsider.organizationId;
      member2 = await register(t, 'member2');
      await addMember(t, team.owner, orgA, member2, 'member');
    });

    async function create(
      s: Session,
      org: string,
      name: string,
      ownerId?: string,
    ): Promise<string> {
      const body = await api(t, s, org).post('/contacts', { name, ownerId });
      contacts.set(idOf(body), { org, ownerId: ownerId ?? s.userId });
      return idOf(body);
    }

    const inOrg = (org: string) => [...contacts.values()].filter((c) => c.org === org);
    const countOf = (org: string, ownerId?: string): number =>
      [...contacts.values()].filter((c) => c.org === org && (!ownerId || c.ownerId === ownerId))
        .length;

    /** Every role's total in A, the member's in B (once they joined it) and the outsider's in B. */
    async function expectAll(memberRoleInA: RoleName = 'member', memberInB = false): Promise<void> {
      for (const role of ['owner', 'admin', 'manager'] as const) {
        await expectTotals(t, team[role], orgA, '/contacts', { '': countOf(orgA) });
      }
      const memberSees =
        memberRoleInA === 'member' ? countOf(orgA, team.member.userId) : countOf(orgA);
      await expectTotals(t, team.member, orgA, '/contacts', { '': memberSees });
      await expectTotals(t, member2, orgA, '/contacts', { '': countOf(orgA, member2.userId) });
      await expectTotals(t, team.outsider, orgB, '/contacts', { '': countOf(orgB) });
      if (memberInB) {
        await expectTotals(t, team.member, orgB, '/contacts', {
          '': countOf(orgB, team.member.userId),
        });
      }
    }

    it("a member counts their own records, the others all; a member's write moves everyone's total", async () => {
      await expectAll();
      await create(team.member, orgA, 'By member');
      await create(member2, orgA, 'By member 2');
      await expectAll();
      await create(team.owner, orgA, 'By owner');
      await create(team.owner, orgA, 'By owner 2');
      await expectAll();
      const forMember = await create(team.manager, orgA, 'For member', team.member.userId);
      await expectAll();
      await api(t, team.member, orgA).remove(`/contacts/${forMember}`);
      contacts.delete(forMember);
      await expectAll();
      expect(await rowsByOwner(t, 'contacts', orgA)).toEqual(byOwner(inOrg(orgA)));
    });

    it('a role change changes the scope at once: promoted, the member counts everything; demoted, their own again', async () => {
      const path = `/organizations/current/members/${team.member.userId}`;
      await api(t, team.owner, orgA).patch(path, { role: 'manager' });
      await expectAll('manager');
      await api(t, team.owner, orgA).patch(path, { role: 'member' });
      await expectAll('member');
    });

    it("another organization's totals are independent: writes in A never move B's, nor B's A's", async () => {
      await expectAll();
      await create(team.outsider, orgB, 'In B');
      await create(team.outsider, orgB, 'In B 2');
      await expectAll();
      await create(team.member, orgA, 'In A');
      await expectAll();
      // The member joins B too: one user, two organizations, two scopes.
      await addMember(t, team.outsider, orgB, team.member, 'member');
      await expectAll('member', true);
      await create(team.member, orgB, 'Member in B');
      await expectAll('member', true);
      await create(team.member, orgA, 'Member in A');
      await expectAll('member', true);
      expect(await rowsByOwner(t, 'contacts', orgA)).toEqual(byOwner(inOrg(orgA)));
      expect(await rowsByOwner(t, 'contacts', orgB)).toEqual(byOwner(inOrg(orgB)));
    });

    it("another organization's records still answer 404, under its own header", async () => {
      const inA = [...contacts].find(([, c]) => c.org === orgA)![0];
      expectError(
        await t.http().get(`${API}/contacts/${inA}`).set(as(team.outsider, orgB)),
        404,
        'NOT_FOUND',
      );
    });
  });

  describe('CSV import', () => {
    it('increments the totals by the rows imported; a dry run and a failed import leave them', async () => {
      const { org, owner, member } = await ownerAndMember(t, 'import');
      const header = 'name,email,phone,companyName';
      const importCsv = (s: Session, csv: string, query = '') =>
        t
          .http()
          .post(url('/contacts/import', query))
          .set(as(s, org))
          .attach('file', Buffer.from(`${header}\n${csv}\n`, 'utf8'), 'contacts.csv');
      await api(t, owner, org).post('/contacts', { name: 'Existing', email: 'dup@import.example' });
      let owners = 1;
      let members = 0;
      let companies = 0;
      let memberCompanies = 0;
      const expectCounts = async (): Promise<void> => {
        await expectTotals(t, owner, org, '/contacts', {
          '': owners + members,
          'search=imported': owners + members - 1,
        });
        await expectTotals(t, member, org, '/contacts', { '': members });
        await expectTotals(t, owner, org, '/companies', { '': companies + memberCompanies });
        await expectTotals(t, member, org, '/companies', { '': memberCompanies });
      };
      await expectCounts();

      const rows = [
        'Imported One,one@import.example,,Globex',
        'Imported Two,two@import.example,,globex',
        'Imported Three,,,',
        'Imported Four,four@import.example,+1 555 0100,Initech',
        'Imported Bad,not-an-email,,',
        'Imported Dup,DUP@import.example,,',
      ].join('\n');
      const res = await importCsv(owner, rows);
      expect({ status: res.status, body: res.body as unknown }).toEqual({
        status: 200,
        body: expect.objectContaining({ total: 6, created: 4, updated: 0, skipped: 1 }),
      });
      owners += 4;
      companies += 2; // Globex (case-insensitive, once) and Initech
      await expectCounts();

      const dry = await importCsv(member, 'Imported Dry,dry@import.example,,Dry Co', 'dryRun=true');
      expect(dry.body).toEqual(expect.objectContaining({ total: 1, created: 1 }));
      await expectCounts();

      const failing = await importCsv(
        member,
        'Imported Again,one@import.example,,',
        'onDuplicate=fail',
      );
      expectError(failing, 409, 'DUPLICATES_FOUND');
      await expectCounts();

      const byMember = await importCsv(
        member,
        'Imported M1,m1@import.example,,\nImported M2,,,Globex',
      );
      expect(byMember.body).toEqual(expect.objectContaining({ total: 2, created: 2 }));
      members += 2;
      memberCompanies += 1; // the owner's Globex is not visible to the member: a new one
      await expectCounts();
      expect(await rowsByOwner(t, 'contacts', org)).toEqual({
        [owner.userId]: owners,
        [member.userId]: members,
      });
      expect(await rowsByOwner(t, 'companies', org)).toEqual({
        [owner.userId]: companies,
        [member.userId]: memberCompanies,
      });
    });
  });

  /**
   * One scripted sequence of writes and reads in a fresh organization of `app`; returns the
   * totals read (each also checked against the model).
   */
  async function scriptedTotals(app: TestApp, prefix: string): Promise<number[]> {
    const { org, owner, member } = await ownerAndMember(app, prefix);
    const seen: number[] = [];
    const read = async (s: Session, path: string, query: string, expected: number) => {
      await expectTotals(app, s, org, path, { [query]: expected });
      seen.push((await pageOf(app, s, org, path, query)).total);
    };
    await read(owner, '/contacts', '', 0);
    await read(member, '/contacts', '', 0);
    const c1 = await api(app, owner, org).post('/contacts', { name: 'Zeta' });
    const c2 = await api(app, member, org).post('/contacts', { name: 'Alpha' });
    await read(owner, '/contacts', '', 2);
    await read(owner, '/contacts', 'search=zeta', 1);
    await read(member, '/contacts', '', 1);
    const deal = await api(app, member, org).post('/deals', {
      contactId: idOf(c2),
      title: 'D',
      amount: 5,
    });
    await read(owner, '/deals', 'status=new', 1);
    await api(app, member, org).patch(`/deals/${idOf(deal)}`, { status: 'in_progress' });
    await read(owner, '/deals', 'status=new', 0);
    await read(member, '/deals', 'status=in_progress', 1);
    await api(app, owner, org).remove(`/contacts/${idOf(c1)}`);
    await read(owner, '/contacts', '', 1);
    await read(owner, '/contacts', 'search=zeta', 0);
    return seen;
  }

  describe('LIST_TOTAL_CACHE_TTL_SECONDS=0 (no cache)', () => {
    let uncached: TestApp;

    beforeAll(async () => {
      uncached = await createTestApp({ LIST_TOTAL_CACHE_TTL_SECONDS: '0' });
    });
    afterAll(() => uncached?.close());

    it('answers the same exact totals as the cached application for the same requests', async () => {
      const expected = [0, 0, 2, 1, 1, 1, 0, 1, 1, 0];
      expect(await scriptedTotals(t, 'cached')).toEqual(expected);
      expect(await scriptedTotals(uncached, 'uncached')).toEqual(expected);
    });

    it('counts afresh on every request: a row written by SQL is counted at once (the cached application does not, by design)', async () => {
      const insert = (app: TestApp, s: Session) =>
        app.db.query(
          `INSERT INTO contacts (organization_id, owner_id, name) VALUES ($1, $2, 'By SQL')`,
          [s.organizationId, s.userId],
        );
      const off = await register(uncached, 'sql-off');
      const on = await register(t, 'sql-on');
      await expectTotals(uncached, off, off.organizationId, '/contacts', { '': 0 });
      await expectTotals(t, on, on.organizationId, '/contacts', { '': 0 });
      await insert(uncached, off);
      await insert(t, on);
      expect((await pageOf(uncached, off, off.organizationId, '/contacts')).total).toBe(1);
      // Cached: the SQL row is not counted until the next write through the API...
      const cached = await pageOf(t, on, on.organizationId, '/contacts');
      expect({ total: cached.total, items: cached.items.length }).toEqual({ total: 0, items: 1 });
      // ...which counts it with its own.
      await api(t, on, on.organizationId).post('/contacts', { name: 'By API' });
      await expectTotals(t, on, on.organizationId, '/contacts', { '': 2 });
    });
  });

  describe('what invalidates the totals', () => {
    it('a transaction in the organization that only reads leaves them cached; one that writes any tenant row drops them', async () => {
      const s = await register(t, 'reads-only');
      await expectTotals(t, s, s.organizationId, '/contacts', { '': 0 });
      await t.db.query(
        `INSERT INTO contacts (organization_id, owner_id, name) VALUES ($1, $2, 'By SQL')`,
        [s.organizationId, s.userId],
      );
      const uow = t.app.get(UnitOfWork);
      // Background work that looked and found nothing to do: no webhook, nothing to delete.
      await uow.run(systemActor(s.organizationId), (tx) => tx.repo(Webhook).countBy({}));
      await uow.run(systemActor(s.organizationId), (tx) =>
        tx.repo(Notification).delete({ userId: s.userId }),
      );
      expect((await pageOf(t, s, s.organizationId, '/contacts')).total).toBe(0);
      // A row written, even one without an event of its own (an in-app notification).
      await uow.run(systemActor(s.organizationId), async (tx) => {
        const repo = tx.repo(Notification);
        const values = { userId: s.userId, kind: 'test', title: 't', body: 'b', dedupeKey: 'k' };
        await repo.save(repo.create(values));
      });
      expect((await pageOf(t, s, s.organizationId, '/contacts')).total).toBe(1);
    });
  });

  describe('deep offset pages (ids first from offset 1000) against the keyset walk', () => {
    const SEEDED = 1_130;
    let owner: Session;
    let member: Session;
    let org: string;

    beforeAll(async () => {
      ({ org, owner, member } = await ownerAndMember(t, 'deep'));
      // Seeded by SQL before this organization's first list request: SQL writes do not
      // invalidate cached totals (by design; only API writes do), and none is cached yet.
      // Groups of 7 rows share one created_at and names repeat every 97 rows, so ties (broken
      // by id) are everywhere; every 10th contact is the member's.
      await t.db.query(
        `INSERT INTO contacts (organization_id, owner_id, name, email, created_at, updated_at)
         SELECT $1, CASE WHEN i % 10 = 0 THEN $3::uuid ELSE $2::uuid END,
                'Deep ' || lpad((i % 97)::text, 2, '0'), 'deep' || i || '@deep.example',
                timestamptz '2020-01-01T00:00:00Z' - (i / 7) * interval '1 second',
                timestamptz '2020-01-01T00:00:00Z'
           FROM generate_series(1, $4::int) AS i`,
        [org, owner.userId, member.userId, SEEDED],
      );
    });

    /** Every id of the list, in order, by walking the keyset cursor (`limit`, `nextCursor`). */
    async function walk(s: Session, query: string): Promise<string[]> {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const q = join(query, `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        const res = await t.http().get(url('/contacts', q)).set(as(s, org));
        expect(res.status).toBe(200);
        expect(keysOf(res.body)).toEqual(CURSOR_PAGE_KEYS);
        const body = res.body as CursorBody;
        ids.push(...body.items.map((x) => x.id));
        cursor = body.nextCursor;
      } while (cursor);
      expect(new Set(ids).size).toBe(ids.length);
      return ids;
    }

    /** Offset pages `from`..`to` of `pageSize`: their ids in order, and every total. */
    async function offsetPages(
      s: Session,
      query: string,
      pageSize: number,
      from: number,
      to: number,
    ): Promise<{ ids: string[]; totals: number[] }> {
      const pages = await Promise.all(
        Array.from({ length: to - from + 1 }, (_, i) =>
          pageOf(t, s, org, '/contacts', join(query, `page=${from + i}&pageSize=${pageSize}`)),
        ),
      );
      return {
        ids: pages.flatMap((p) => p.items.map((x) => x.id)),
        totals: pages.map((p) => p.total),
      };
    }

    /** Checks the deep pages of every [query, exact total] of `cases`; returns their walks. */
    async function expectDeepPagesMatchTheWalk(
      cases: [query: string, total: number][],
    ): Promise<Map<string, string[]>> {
      const walks = new Map<string, string[]>();
      for (const [query, expectedTotal] of cases) {
        const all = await walk(owner, query);
        walks.set(query, all);
        expect({ query, walked: all.length }).toEqual({ query, walked: expectedTotal });
        // pageSize 100, pages 9..12: offsets 800 and 900 read directly, 1000 and 1100 ids first.
        const hundreds = await offsetPages(owner, query, 100, 9, 12);
        expect({ query, ids: hundreds.ids }).toEqual({ query, ids: all.slice(800, 1200) });
        expect(hundreds.totals).toEqual([
          expectedTotal,
          expectedTotal,
          expectedTotal,
          expectedTotal,
        ]);
        // pageSize 7, pages 142..145: offsets 987..1014, across the boundary at 1000 (page 143
        // reads 994..1000 directly; page 144 starts at 1001, ids first).
        const sevens = await offsetPages(owner, query, 7, 142, 145);
        expect({ query, ids: sevens.ids }).toEqual({ query, ids: all.slice(987, 1015) });
        expect(new Set(sevens.totals)).toEqual(new Set([expectedTotal]));
      }
      return walks;
    }

    it('pages across the 1000-row boundary: the same ids in the same order as the keyset walk, no repeat or gap, exact total', async () => {
      await expectDeepPagesMatchTheWalk([
        ['', SEEDED],
        ['order=asc', SEEDED],
        ['orderBy=name&order=asc', SEEDED],
        // A filter (one more parameter in the id subquery), name descending: 1,017 rows.
        [`orderBy=name&ownerId=${owner.userId}`, SEEDED - SEEDED / 10],
      ]);
      // Past the end: no items, the same total.
      const beyond = await pageOf(t, owner, org, '/contacts', 'page=13&pageSize=100');
      expect({ items: beyond.items.length, total: beyond.total }).toEqual({
        items: 0,
        total: SEEDED,
      });
    });

    it('after API writes (a new first row, a deleted deep row, a new row of the member) deep pages and totals follow', async () => {
      // Page 11 (offsets 1000..1099, newest first) before the writes; an owner's row of it goes.
      const before = (await pageOf(t, owner, org, '/contacts', 'page=11&pageSize=100'))
        .items as (Item & {
        ownerId: string;
      })[];
      const k = before.findIndex((x, i) => i >= 50 && x.ownerId === owner.userId);
      const deep = before[k].id;
      // Two rows newer than all seeded ones, one deleted.
      await api(t, owner, org).post('/contacts', { name: 'Deep 00 newest' });
      await api(t, owner, org).remove(`/contacts/${deep}`);
      await api(t, member, org).post('/contacts', { name: 'Deep 50 member' });
      const walks = await expectDeepPagesMatchTheWalk([
        ['', SEEDED + 1],
        ['orderBy=name&order=asc', SEEDED + 1],
      ]);
      const desc = walks.get('')!;
      expect(desc).not.toContain(deep);
      // Two new rows in front, `deep` gone: its neighbours are now next to each other.
      expect([desc.indexOf(before[k - 1].id), desc.indexOf(before[k + 1].id)]).toEqual([
        1_000 + k + 1,
        1_000 + k + 2,
      ]);
    });

    it("the member's totals and pages cover their own rows only", async () => {
      const mine = SEEDED / 10 + 1;
      await expectTotals(t, member, org, '/contacts', { '': mine, 'orderBy=name': mine });
      const ids = (await walk(member, '')).slice(100);
      const second = await pageOf(t, member, org, '/contacts', 'page=2&pageSize=100');
      expect(second.items.map((x) => x.id)).toEqual(ids);
    });
  });

  describe('concurrency', () => {
    it('20 concurrent first requests of a list, in two scopes, all answer the exact total of their scope', async () => {
      const { org, owner, member } = await ownerAndMember(t, 'burst');
      // By SQL before this organization's first list request (nothing cached yet).
      await t.db.query(
        `INSERT INTO contacts (organization_id, owner_id, name)
         SELECT $1, CASE WHEN i <= 5 THEN $3::uuid ELSE $2::uuid END, 'Burst ' || i
           FROM generate_series(1, 42) AS i`,
        [org, owner.userId, member.userId],
      );
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const s = i % 2 === 0 ? owner : member;
          return pageOf(t, s, org, '/contacts', `page=${(i % 3) + 1}&pageSize=${(i % 5) + 1}`).then(
            (p) => [s === owner ? 'owner' : 'member', p.total] as const,
          );
        }),
      );
      expect(answers).toEqual(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? ['owner', 42] : ['member', 5])),
      );
    });

    it('concurrent writers each read a total that counts their own write; afterwards the total is exact', async () => {
      const { org, owner, member } = await ownerAndMember(t, 'race');
      await expectTotals(t, owner, org, '/contacts', { '': 0 });
      let completed = 0;
      const WRITERS = 10;
      const reads = await Promise.all(
        Array.from({ length: WRITERS }, async (_, i) => {
          const s = i % 2 === 0 ? owner : member;
          await api(t, s, org).post('/contacts', { name: `Racer ${i}` });
          completed += 1;
          const atLeast = completed;
          const { total } = await pageOf(t, owner, org, '/contacts');
          return { atLeast, total };
        }),
      );
      for (const { atLeast, total } of reads) {
        expect(total).toBeGreaterThanOrEqual(atLeast);
        expect(total).toBeLessThanOrEqual(WRITERS);
      }
      await expectTotals(t, owner, org, '/contacts', { '': WRITERS });
      await expectTotals(t, member, org, '/contacts', { '': WRITERS / 2 });
    });
  });

  describeOnRedis('on Redis (REDIS_URL), shared by two app copies', () => {
    let a: TestApp;
    let b: TestApp;
    let closeB: (() => Promise<void>) | undefined;
    let org: string;
    let owner: Session;
    let member: Session;
    const organizations: string[] = [];

    beforeAll(async () => {
      expect(await redis('ping')).toBe('PONG');
      a = await createTestApp({ REDIS_URL, LIST_TOTAL_CACHE_TTL_SECONDS: '60' });
      const second = await secondCopy(a);
      b = second.copy;
      closeB = second.close;
      ({ org, owner, member } = await ownerAndMember(a, 'redis'));
      organizations.push(org);
      // The member's notification (an in-app consumer's write) invalidates the organization's
      // cached totals when it commits: done before the tests compare what the copies cached.
      await consumersIdle(a.db);
    });

    afterAll(async () => {
      for (const id of organizations) {
        const keys = await redisKeysOf(id);
        if (keys.length) await redis('del', ...keys);
      }
      await closeB?.();
      await a?.close();
    });

    it('totals are cached in Redis under the organization, with the TTL, and shared by both copies', async () => {
      await api(a, owner, org).post('/contacts', { name: 'First' });
      await expectTotals(b, owner, org, '/contacts', { '': 1 });
      const keys = await redisKeysOf(org);
      const totals = keys.filter((k) => k.includes(`:total:${org}:`));
      expect(totals.length).toBeGreaterThan(0);
      for (const key of totals) {
        const ttl = Number(await redis('ttl', key));
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60);
      }
      // Copy A answers what B cached: a row written by SQL (no invalidation, by design) is not
      // counted by either copy until the next API write.
      await a.db.query(
        `INSERT INTO contacts (organization_id, owner_id, name) VALUES ($1, $2, 'By SQL')`,
        [org, owner.userId],
      );
      expect((await pageOf(a, owner, org, '/contacts')).total).toBe(1);
      expect((await pageOf(b, owner, org, '/contacts')).total).toBe(1);
      await api(a, member, org).post('/contacts', { name: 'By member' });
      await expectTotals(b, owner, org, '/contacts', { '': 3 });
      await expectTotals(a, owner, org, '/contacts', { '': 3 });
    });

    it('a write through one copy is counted by the next read through the other, every kind of write', async () => {
      const count = async (app: TestApp, s: Session, path: string, query = '') =>
        (await pageOf(app, s, org, path, query)).total;
      const before = await count(b, owner, '/contacts');
      const memberBefore = await count(b, member, '/contacts');
      const created = await api(a, member, org).post('/contacts', { name: 'Via A' });
      expect([await count(b, owner, '/contacts'), await count(b, member, '/contacts')]).toEqual([
        before + 1,
        memberBefore + 1,
      ]);
      const deal = await api(a, member, org).post('/deals', {
        contactId: idOf(created),
        title: 'D',
        amount: 9,
      });
      expect(await count(b, owner, '/deals', 'status=new')).toBe(1);
      expect(await count(b, member, '/deals', 'status=in_progress')).toBe(0);
      await api(a, member, org).patch(`/deals/${idOf(deal)}`, { status: 'in_progress' });
      expect(await count(b, owner, '/deals', 'status=new')).toBe(0);
      expect(await count(b, member, '/deals', 'status=in_progress')).toBe(1);
      // And the other way round: written through B, read through A.
      await api(b, member, org).remove(`/deals/${idOf(deal)}`);
      expect(await count(a, owner, '/deals')).toBe(0);
      await api(b, member, org).remove(`/contacts/${idOf(created)}`);
      expect([await count(a, owner, '/contacts'), await count(a, member, '/contacts')]).toEqual([
        before,
        memberBefore,
      ]);
    });

    it('a second organization on the same Redis keeps its own totals', async () => {
      const other = await register(a, 'redis-other', 'Other Redis Org');
      organizations.push(other.organizationId);
      await expectTotals(b, other, other.organizationId, '/contacts', { '': 0 });
      const before = (await pageOf(b, owner, org, '/contacts')).total;
      await api(a, other, other.organizationId).post('/contacts', { name: 'Other' });
      await expectTotals(b, other, other.organizationId, '/contacts', { '': 1 });
      await expectTotals(b, owner, org, '/contacts', { '': before });
    });
  });
});
