import { randomUUID } from 'node:crypto';
import type { Test } from 'supertest';
import {
  as,
  createTeam,
  expectError,
  register,
  type RoleName,
  type Session,
  type Team,
} from './support/api';
import { expectValidation, ISO_TIMESTAMP, keysOf, resource, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Tasks (API.md section 7) under the roles and visibility rules of section 4 (a task is visible
 * when its deal is), the list conventions of section 1 (offset and keyset pages) and the error
 * precedence order. "Today" is the UTC date; every expectation about it is computed the same way
 * and re-run if the UTC day changes while it runs, so nothing is flaky around midnight UTC.
 */

const API = '/api/v1';
const TASKS = `${API}/tasks`;
const CALENDAR_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ROLES = ['owner', 'admin', 'manager', 'member'] as const;
const MANAGING_ROLES = ['owner', 'admin', 'manager'] as const;

const TASK_KEYS = [
  'createdAt',
  'dealId',
  'description',
  'dueDate',
  'id',
  'isDone',
  'title',
  'updatedAt',
];
const PAGE_KEYS = ['items', 'page', 'pageSize', 'total'];
const CURSOR_PAGE_KEYS = ['items', 'nextCursor'];

interface TaskBody {
  id: string;
  dealId: string;
  title: string;
  description: string | null;
  dueDate: string;
  isDone: boolean;
  createdAt: string;
  updatedAt: string;
}
interface PageBody {
  items: TaskBody[];
  total: number;
  page: number;
  pageSize: number;
}
interface CursorBody {
  items: TaskBody[];
  nextCursor: string | null;
}
interface ActivityBody {
  id: string;
  dealId: string;
  authorId: string | null;
  type: string;
  payload: Record<string, unknown>;
  createdAt: string;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const idsOf = (items: { id: string }[]): string[] => items.map((x) => x.id);

/** Today's UTC date, YYYY-MM-DD: computed the way the server does. */
const utcToday = (): string => new Date().toISOString().slice(0, 10);
/** `date` (YYYY-MM-DD) moved by `days` calendar days. */
const addDays = (date: string, days: number): string =>
  new Date(Date.parse(`${date}T00:00:00.000Z`) + days * 86_400_000).toISOString().slice(0, 10);

/**
 * Runs `fn` with today's UTC date; if the UTC day changed while it ran (a run across midnight),
 * runs it once more on the new day instead of failing or passing by accident.
 */
async function onOneUtcDay<T>(fn: (today: string) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const today = utcToday();
    try {
      const result = await fn(today);
      if (utcToday() === today || attempt >= 3) return result;
    } catch (e) {
      if (utcToday() === today || attempt >= 3) throw e;
    }
  }
}

/** Asserts the exact Task shape of API.md section 7. */
function expectTask(value: unknown, expected: Partial<TaskBody>): void {
  expect(keysOf(value)).toEqual(TASK_KEYS);
  expect(value).toEqual({
    id: expect.stringMatching(UUID),
    dealId: expect.stringMatching(UUID),
    title: expect.any(String),
    description: null,
    dueDate: expect.stringMatching(CALENDAR_DATE),
    isDone: false,
    createdAt: expect.stringMatching(ISO_TIMESTAMP),
    updatedAt: expect.stringMatching(ISO_TIMESTAMP),
    ...expected,
  });
}

describe('Tasks (API.md sections 4 and 7)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  // ---------------------------------------------------------------- helpers

  const tasks = resource(() => t, TASKS);
  const postTask = tasks.post;
  const getTask = tasks.get;
  const patchTask = tasks.patch;
  const deleteTask = tasks.remove;
  const listTasks = tasks.list;

  /** A contact and a deal owned by `s` (created through the API). */
  async function createDeal(s: Session, organizationId: string, title = 'Deal'): Promise<string> {
    const contact = await t
      .http()
      .post(`${API}/contacts`)
      .set(as(s, organizationId))
      .send({ name: `Contact of ${title}` });
    expect(contact.status).toBe(201);
    const deal = await t
      .http()
      .post(`${API}/deals`)
      .set(as(s, organizationId))
      .send({ contactId: (contact.body as { id: string }).id, title });
    expect(deal.status).toBe(201);
    return (deal.body as { id: string }).id;
  }

  async function createTask(
    s: Session,
    organizationId: string,
    body: Record<string, unknown>,
  ): Promise<TaskBody> {
    const res = await postTask(s, organizationId, {
      title: 'Task',
      dueDate: addDays(utcToday(), 7),
      ...body,
    });
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 201,
      body: expect.anything(),
    });
    return res.body as TaskBody;
  }

  /** A task row written by SQL (the API refuses past due dates). */
  async function insertTask(
    organizationId: string,
    dealId: string,
    values: { title?: string; dueDate: string; isDone?: boolean; createdAt?: string },
  ): Promise<string> {
    const rows: { id: string }[] = await t.db.query(
      `INSERT INTO tasks (organization_id, deal_id, title, due_date, is_done, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, COALESCE($6::timestamptz, now()), COALESCE($6::timestamptz, now()))
       RETURNING id`,
      [
        organizationId,
        dealId,
        values.title ?? 'Inserted',
        values.dueDate,
        values.isDone ?? false,
        values.createdAt ?? null,
      ],
    );
    return rows[0].id;
  }

  async function addMember(
    by: Session,
    organizationId: string,
    s: Session,
    role: RoleName,
  ): Promise<void> {
    const res = await t
      .http()
      .post(`${API}/organizations/current/members`)
      .set(as(by, organizationId))
      .send({ email: s.email, role });
    expect(res.status).toBe(201);
  }

  async function activitiesOf(
    s: Session,
    organizationId: string,
    dealId: string,
  ): Promise<ActivityBody[]> {
    const res = await t
      .http()
      .get(`${API}/deals/${dealId}/activities?pageSize=100`)
      .set(as(s, organizationId));
    expect(res.status).toBe(200);
    return (res.body as { items: ActivityBody[] }).items;
  }

  async function dbTask(id: string): Promise<Record<string, unknown> | null> {
    const rows: Record<string, unknown>[] = await t.db.query(
      `SELECT id, organization_id, deal_id, title, description, to_char(due_date, 'YYYY-MM-DD') AS due_date, is_done
         FROM tasks WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  async function counts(): Promise<{ tasks: number; activities: number }> {
    const rows: { tasks: number; activities: number }[] = await t.db.query(
      `SELECT (SELECT count(*)::int FROM tasks) AS tasks,
              (SELECT count(*)::int FROM activities) AS activities`,
    );
    return rows[0];
  }

  /** Offset page as `s`; asserts 200 and the page shape. */
  async function page(s: Session, organizationId: string, query = ''): Promise<PageBody> {
    const res = await listTasks(s, organizationId, query);
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 200,
      body: expect.anything(),
    });
    expect(keysOf(res.body)).toEqual(PAGE_KEYS);
    return res.body as PageBody;
  }

  /** Every task `s` sees with `query` (walks offset pages of 100). */
  async function allVisible(s: Session, organizationId: string, query = ''): Promise<string[]> {
    const ids: string[] = [];
    for (let n = 1; n <= 20; n += 1) {
      const body = await page(s, organizationId, `?pageSize=100&page=${n}${query}`);
      ids.push(...idsOf(body.items));
      if (body.items.length < 100) break;
    }
    return ids;
  }

  /** Walks keyset pages from the first one; asserts 200 and the cursor page shape on each. */
  async function walk(
    s: Session,
    organizationId: string,
    query: string,
  ): Promise<{ ids: string[]; pages: CursorBody[] }> {
    const pages: CursorBody[] = [];
    let cursor: string | null = null;
    do {
      const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await listTasks(s, organizationId, `?${query}${suffix}`);
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(CURSOR_PAGE_KEYS);
      const body = res.body as CursorBody;
      pages.push(body);
      cursor = body.nextCursor;
    } while (cursor && pages.length < 60);
    return { ids: pages.flatMap((p) => idsOf(p.items)), pages };
  }

  /** A team plus a second member (`member2`), and one deal per user of the team. */
  interface World extends Team {
    org: string;
    member2: Session;
    deals: Record<RoleName | 'member2', string>;
  }
  async function createWorld(): Promise<World> {
    const team = await createTeam(t);
    const org = team.organizationId;
    const member2 = await register(t, 'member2');
    await addMember(team.owner, org, member2, 'member');
    const deals = {} as Record<RoleName | 'member2', string>;
    for (const [name, s] of [
      ['owner', team.owner],
      ['admin', team.admin],
      ['manager', team.manager],
      ['member', team.member],
      ['member2', member2],
    ] as const) {
      deals[name] = await createDeal(s, org, `Deal of ${name}`);
    }
    return { ...team, org, member2, deals };
  }

  // ---------------------------------------------------------------- unit: test helpers

  it('computes calendar days in UTC (test helper sanity)', () => {
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2027-02-28', 1)).toBe('2027-03-01');
    expect(addDays('2026-01-01', -1)).toBe('2025-12-31');
    expect(utcToday()).toMatch(CALENDAR_DATE);
  });

  // ---------------------------------------------------------------- POST /tasks

  describe('POST /tasks', () => {
    let w: World;
    beforeAll(async () => {
      w = await createWorld();
    });

    it.each(ROLES)(
      'answers 201 with exactly the Task shape to the %s on their own deal; description null and isDone false by default',
      async (role) => {
        const dueDate = addDays(utcToday(), 3);
        const res = await postTask(w[role], w.org, {
          dealId: w.deals[role],
          title: `By ${role}`,
          dueDate,
        });
        expect(res.status).toBe(201);
        const task = res.body as TaskBody;
        expectTask(task, { dealId: w.deals[role], title: `By ${role}`, dueDate });
        expect(task.updatedAt).toBe(task.createdAt);
        expect(await dbTask(task.id)).toEqual({
          id: task.id,
          organization_id: w.org,
          deal_id: w.deals[role],
          title: `By ${role}`,
          description: null,
          due_date: dueDate,
          is_done: false,
        });
        const read = await getTask(w[role], w.org, task.id);
        expect(read.status).toBe(200);
        expect(read.body).toEqual(task);
      },
    );

    it.each(MANAGING_ROLES)(
      "lets the %s create a task on a member's deal; the member then sees it",
      async (role) => {
        const task = await createTask(w[role], w.org, { dealId: w.deals.member });
        expect(task.dealId).toBe(w.deals.member);
        const read = await getTask(w.member, w.org, task.id);
        expect(read.status).toBe(200);
        expect(read.body).toEqual(task);
      },
    );

    it('trims the title and stores the description as given', async () => {
      const description = '  Line one\nline two  ';
      const task = await createTask(w.owner, w.org, {
        dealId: w.deals.owner,
        title: '  Call back  ',
        description,
      });
      expectTask(task, { title: 'Call back', description });
      expect((await dbTask(task.id))?.description).toBe(description);
      expect((await getTask(w.owner, w.org, task.id)).body).toEqual(task);
    });

    it('accepts an explicit null description and an empty one', async () => {
      expect(
        (await createTask(w.owner, w.org, { dealId: w.deals.owner, description: null }))
          .description,
      ).toBeNull();
      expect(
        (await createTask(w.owner, w.org, { dealId: w.deals.owner, description: '' })).description,
      ).toBe('');
    });

    it('accepts a dueDate of today (UTC), tomorrow and far in the future, answered as given', async () => {
      await onOneUtcDay(async (today) => {
        for (const dueDate of [today, addDays(today, 1), addDays(today, 400), '9999-12-31']) {
          const task = await createTask(w.manager, w.org, { dealId: w.deals.manager, dueDate });
          expect(task.dueDate).toBe(dueDate);
          expect((await dbTask(task.id))?.due_date).toBe(dueDate);
          expect(((await getTask(w.manager, w.org, task.id)).body as TaskBody).dueDate).toBe(
            dueDate,
          );
        }
      });
    });

    it('accepts a leap day (2096-02-29, 2400-02-29)', async () => {
      for (const dueDate of ['2096-02-29', '2400-02-29']) {
        expect((await createTask(w.owner, w.org, { dealId: w.deals.owner, dueDate })).dueDate).toBe(
          dueDate,
        );
      }
    });

    it.each(ROLES)(
      'answers 422 DUE_DATE_IN_PAST to the %s for yesterday (UTC) and older, writing neither task nor activity',
      async (role) => {
        await onOneUtcDay(async (today) => {
          const before = await counts();
          for (const dueDate of [addDays(today, -1), addDays(today, -400), '2001-01-01']) {
            expectError(
              await postTask(w[role], w.org, { dealId: w.deals[role], title: 'Late', dueDate }),
              422,
              'DUE_DATE_IN_PAST',
            );
          }
          expect(await counts()).toEqual(before);
        });
      },
    );

    it('writes a task_created {taskId, title} activity on the deal, authored by the caller', async () => {
      for (const role of ROLES) {
        const deal = await createDeal(w[role], w.org, `Timeline ${role}`);
        const task = await createTask(w[role], w.org, { dealId: deal, title: '  Send quote  ' });
        const activities = await activitiesOf(w[role], w.org, deal);
        expect(activities.map((a) => a.type)).toEqual(['task_created', 'system']);
        expect(activities[0]).toEqual({
          id: expect.stringMatching(UUID),
          dealId: deal,
          authorId: w[role].userId,
          type: 'task_created',
          payload: { taskId: task.id, title: 'Send quote' },
          createdAt: expect.stringMatching(ISO_TIMESTAMP),
        });
      }
    });

    it('writes exactly one activity per task, on the task deal only', async () => {
      const deal = await createDeal(w.owner, w.org, 'Three tasks');
      const other = await createDeal(w.owner, w.org, 'Untouched');
      const tasks: TaskBody[] = [];
      for (const title of ['A', 'B', 'C'])
        tasks.push(await createTask(w.owner, w.org, { dealId: deal, title }));
      const created = (await activitiesOf(w.owner, w.org, deal)).filter(
        (a) => a.type === 'task_created',
      );
      expect(
        created.map((a) => a.payload).sort((a, b) => byCodeUnit(String(a.title), String(b.title))),
      ).toEqual(tasks.map((task) => ({ taskId: task.id, title: task.title })));
      expect((await activitiesOf(w.owner, w.org, other)).map((a) => a.type)).toEqual(['system']);
    });

    it("answers 404 NOT_FOUND to a member creating a task on someone else's deal, writing nothing", async () => {
      const before = await counts();
      for (const dealId of [w.deals.owner, w.deals.manager, w.deals.member2]) {
        expectError(
          await postTask(w.member, w.org, {
            dealId,
            title: 'Not mine',
            dueDate: addDays(utcToday(), 1),
          }),
          404,
          'NOT_FOUND',
        );
      }
      expect(await counts()).toEqual(before);
    });

    it("answers 404 NOT_FOUND for an unknown deal and another organization's deal, writing nothing", async () => {
      const foreignDeal = await createDeal(w.outsider, w.outsider.organizationId, 'Foreign');
      const before = await counts();
      for (const role of ROLES) {
        for (const dealId of [randomUUID(), foreignDeal]) {
          expectError(
            await postTask(w[role], w.org, { dealId, title: 'Nope', dueDate: '2999-01-01' }),
            404,
            'NOT_FOUND',
          );
        }
      }
      expect(await counts()).toEqual(before);
      expect((await activitiesOf(w.outsider, w.outsider.organizationId, foreignDeal)).length).toBe(
        1,
      );
    });

    it('answers 404 (visibility) before 422 (due date in the past)', async () => {
      const before = await counts();
      const past = addDays(utcToday(), -10);
      expectError(
        await postTask(w.member, w.org, { dealId: w.deals.owner, title: 'x', dueDate: past }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await postTask(w.owner, w.org, { dealId: randomUUID(), title: 'x', dueDate: past }),
        404,
        'NOT_FOUND',
      );
      expect(await counts()).toEqual(before);
    });

    it('answers 400 (validation) before 404 (visibility) and 422', async () => {
      const before = await counts();
      expectValidation(
        await postTask(w.member, w.org, {
          dealId: w.deals.owner,
          title: '',
          dueDate: '2999-01-01',
        }),
        'title',
      );
      expectValidation(
        await postTask(w.member, w.org, {
          dealId: w.deals.owner,
          title: 'x',
          dueDate: '2001-02-30',
        }),
        'dueDate',
      );
      expectValidation(
        await postTask(w.owner, w.org, {
          dealId: randomUUID(),
          title: 'x',
          dueDate: addDays(utcToday(), -1),
          isDone: true,
        }),
        'isDone',
      );
      expect(await counts()).toEqual(before);
    });

    it('accepts dealId in upper case', async () => {
      const task = await createTask(w.owner, w.org, { dealId: w.deals.owner.toUpperCase() });
      expect(task.dealId).toBe(w.deals.owner);
    });

    it('counts title length in characters: 200 emoji are fine, 201 are not', async () => {
      const emoji = '\u{1F600}'.repeat(200);
      expect(
        (await createTask(w.owner, w.org, { dealId: w.deals.owner, title: emoji })).title,
      ).toBe(emoji);
      expectValidation(
        await postTask(w.owner, w.org, {
          dealId: w.deals.owner,
          title: '\u{1F600}'.repeat(201),
          dueDate: '2999-01-01',
        }),
        'title',
      );
    });

    it('accepts a description of 5000 characters and refuses 5001', async () => {
      const ok = 'd'.repeat(5000);
      expect(
        (await createTask(w.owner, w.org, { dealId: w.deals.owner, description: ok })).description,
      ).toBe(ok);
      expectValidation(
        await postTask(w.owner, w.org, {
          dealId: w.deals.owner,
          title: 'Long',
          description: 'd'.repeat(5001),
          dueDate: '2999-01-01',
        }),
        'description',
      );
    });

    describe('validation', () => {
      const valid = (): Record<string, unknown> => ({
        dealId: w.deals.owner,
        title: 'Valid',
        dueDate: '2999-01-01',
      });

      it.each([
        ['dealId missing', { dealId: undefined }, 'dealId'],
        ['dealId not a UUID', { dealId: 'deal-1' }, 'dealId'],
        ['dealId a number', { dealId: 42 }, 'dealId'],
        ['dealId null', { dealId: null }, 'dealId'],
        ['title missing', { title: undefined }, 'title'],
        ['title empty', { title: '' }, 'title'],
        ['title blank', { title: '   ' }, 'title'],
        ['title null', { title: null }, 'title'],
        ['title a number', { title: 7 }, 'title'],
        ['title of 201 characters', { title: 't'.repeat(201) }, 'title'],
        ['title with a NUL character', { title: 'Nul\u0000' }, 'title'],
        ['description a number', { description: 5 }, 'description'],
        ['description an object', { description: { text: 'x' } }, 'description'],
        ['description with a NUL character', { description: 'a\u0000b' }, 'description'],
        ['dueDate missing', { dueDate: undefined }, 'dueDate'],
        ['dueDate null', { dueDate: null }, 'dueDate'],
        ['dueDate 2026-02-30', { dueDate: '2026-02-30' }, 'dueDate'],
        ['dueDate 2100-02-29 (not a leap year)', { dueDate: '2100-02-29' }, 'dueDate'],
        ['dueDate 2027-02-29', { dueDate: '2027-02-29' }, 'dueDate'],
        ['dueDate month 13', { dueDate: '2999-13-01' }, 'dueDate'],
        ['dueDate month 00', { dueDate: '2999-00-10' }, 'dueDate'],
        ['dueDate day 00', { dueDate: '2999-01-00' }, 'dueDate'],
        ['dueDate day 32', { dueDate: '2999-01-32' }, 'dueDate'],
        ['dueDate April 31', { dueDate: '2999-04-31' }, 'dueDate'],
        ['dueDate year 0000', { dueDate: '0000-01-01' }, 'dueDate'],
        ['dueDate without zero padding', { dueDate: '2999-1-5' }, 'dueDate'],
        ['dueDate with a time', { dueDate: '2999-01-05T00:00:00Z' }, 'dueDate'],
        ['dueDate with a space', { dueDate: ' 2999-01-05' }, 'dueDate'],
        ['dueDate compact', { dueDate: '29990105' }, 'dueDate'],
        ['dueDate with slashes', { dueDate: '2999/01/05' }, 'dueDate'],
        ['dueDate five-digit year', { dueDate: '12999-01-05' }, 'dueDate'],
        ['dueDate a word', { dueDate: 'tomorrow' }, 'dueDate'],
        ['dueDate a number', { dueDate: 20990105 }, 'dueDate'],
        ['dueDate empty', { dueDate: '' }, 'dueDate'],
        ['an unknown property', { priority: 'high' }, 'priority'],
        ['isDone (not settable on create)', { isDone: false }, 'isDone'],
        ['id', { id: randomUUID() }, 'id'],
        ['organizationId', { organizationId: randomUUID() }, 'organizationId'],
        ['createdAt', { createdAt: '2020-01-01T00:00:00.000Z' }, 'createdAt'],
      ])('answers 400 VALIDATION_FAILED for %s, writing nothing', async (_label, patch, field) => {
        const before = await counts();
        expectValidation(await postTask(w.owner, w.org, { ...valid(), ...patch }), field);
        expect(await counts()).toEqual(before);
      });

      it('answers 400 VALIDATION_FAILED for malformed JSON and a non-object body, writing nothing', async () => {
        const before = await counts();
        expectError(
          await t
            .http()
            .post(TASKS)
            .set(as(w.owner, w.org))
            .set('content-type', 'application/json')
            .send('{"title": '),
          400,
          'VALIDATION_FAILED',
        );
        expectError(await postTask(w.owner, w.org, []), 400, 'VALIDATION_FAILED');
        expect(await counts()).toEqual(before);
      });
    });

    it('writes neither task nor activity when the activity cannot be written (one transaction)', async () => {
      await t.db.query(`
        CREATE FUNCTION tasks_spec_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.payload->>'title' = 'Refused by trigger' THEN RAISE EXCEPTION 'refused'; END IF;
          RETURN NEW;
        END $$`);
      await t.db.query(
        `CREATE TRIGGER tasks_spec_refuse BEFORE INSERT ON activities
         FOR EACH ROW EXECUTE FUNCTION tasks_spec_refuse()`,
      );
      try {
        const before = await counts();
        const res = await postTask(w.owner, w.org, {
          dealId: w.deals.owner,
          title: 'Refused by trigger',
          dueDate: '2999-01-01',
        });
        expectError(res, 500, 'INTERNAL_ERROR');
        expect(JSON.stringify(res.body)).not.toMatch(/refused|trigger|tasks_spec|INSERT|SELECT/i);
        expect(await counts()).toEqual(before);
        const rows: { n: number }[] = await t.db.query(
          `SELECT count(*)::int AS n FROM tasks WHERE title = 'Refused by trigger'`,
        );
        expect(rows[0].n).toBe(0);
        // the same deal still takes tasks
        await createTask(w.owner, w.org, { dealId: w.deals.owner, title: 'Accepted' });
      } finally {
        await t.db.query('DROP TRIGGER tasks_spec_refuse ON activities');
        await t.db.query('DROP FUNCTION tasks_spec_refuse()');
      }
    });
  });

  // ---------------------------------------------------------------- GET /tasks/{id}

  describe('GET /tasks/{id}', () => {
    let w: World;
    let ofOwner: TaskBody;
    let ofMember: TaskBody;
    let ofMember2: TaskBody;

    beforeAll(async () => {
      w = await createWorld();
      ofOwner = await createTask(w.owner, w.org, { dealId: w.deals.owner, title: 'Owner task' });
      ofMember = await createTask(w.member, w.org, {
        dealId: w.deals.member,
        title: 'Member task',
        description: 'Mine',
      });
      ofMember2 = await createTask(w.member2, w.org, {
        dealId: w.deals.member2,
        title: 'Member2 task',
      });
    });

    it.each(MANAGING_ROLES)(
      'answers 200 to the %s for any task of the organization',
      async (role) => {
        for (const task of [ofOwner, ofMember, ofMember2]) {
          const res = await getTask(w[role], w.org, task.id);
          expect(res.status).toBe(200);
          expect(res.body).toEqual(task);
        }
      },
    );

    it('answers 200 to a member for a task of their own deal', async () => {
      const res = await getTask(w.member, w.org, ofMember.id);
      expect(res.status).toBe(200);
      expectTask(res.body, { ...ofMember });
    });

    it("answers 404 NOT_FOUND (never 403) to a member for a task of someone else's deal", async () => {
      expectError(await getTask(w.member, w.org, ofOwner.id), 404, 'NOT_FOUND');
      expectError(await getTask(w.member, w.org, ofMember2.id), 404, 'NOT_FOUND');
      expectError(await getTask(w.member2, w.org, ofMember.id), 404, 'NOT_FOUND');
    });

    it('answers 404 NOT_FOUND for an unknown id and 400 for an id that is not a UUID', async () => {
      expectError(await getTask(w.owner, w.org, randomUUID()), 404, 'NOT_FOUND');
      expectValidation(await getTask(w.owner, w.org, 'not-a-uuid'), 'id');
      expectValidation(await getTask(w.member, w.org, '123'), 'id');
    });

    it('answers a task created by a manager on a member deal to that member, and follows the deal when it is reassigned', async () => {
      const deal = await createDeal(w.owner, w.org, 'Reassigned');
      const task = await createTask(w.manager, w.org, { dealId: deal });
      expectError(await getTask(w.member, w.org, task.id), 404, 'NOT_FOUND');
      const reassign = await t
        .http()
        .patch(`${API}/deals/${deal}`)
        .set(as(w.owner, w.org))
        .send({ ownerId: w.member.userId });
      expect(reassign.status).toBe(200);
      expect((await getTask(w.member, w.org, task.id)).body).toEqual(task);
      expectError(await getTask(w.member2, w.org, task.id), 404, 'NOT_FOUND');
    });

    it('answers a calendar dueDate that PostgreSQL stored, without a time-zone shift', async () => {
      for (const dueDate of ['2020-01-01', '2020-12-31', '2024-02-29', '1999-06-15']) {
        const id = await insertTask(w.org, w.deals.owner, { dueDate });
        const res = await getTask(w.owner, w.org, id);
        expect(res.status).toBe(200);
        expect((res.body as TaskBody).dueDate).toBe(dueDate);
        const listed = await page(w.owner, w.org, `?dealId=${w.deals.owner}&pageSize=100`);
        expect(listed.items.find((x) => x.id === id)?.dueDate).toBe(dueDate);
        const keyset = await walk(w.owner, w.org, `dealId=${w.deals.owner}&limit=100`);
        expect(keyset.pages[0].items.find((x) => x.id === id)?.dueDate).toBe(dueDate);
      }
    });
  });

  // ---------------------------------------------------------------- PATCH /tasks/{id}

  describe('PATCH /tasks/{id}', () => {
    let w: World;
    beforeAll(async () => {
      w = await createWorld();
    });

    it.each(ROLES)('lets the %s change every field of a task of their deal', async (role) => {
      const task = await createTask(w[role], w.org, {
        dealId: w.deals[role],
        title: 'Before',
        description: 'Old',
      });
      const dueDate = addDays(utcToday(), 20);
      const res = await patchTask(w[role], w.org, task.id, {
        title: '  After  ',
        description: 'New',
        dueDate,
        isDone: true,
      });
      expect(res.status).toBe(200);
      expectTask(res.body, {
        id: task.id,
        dealId: w.deals[role],
        title: 'After',
        description: 'New',
        dueDate,
        isDone: true,
        createdAt: task.createdAt,
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(await dbTask(task.id)).toEqual({
        id: task.id,
        organization_id: w.org,
        deal_id: w.deals[role],
        title: 'After',
        description: 'New',
        due_date: dueDate,
        is_done: true,
      });
      expect((await getTask(w[role], w.org, task.id)).body).toEqual(res.body);
    });

    it.each(MANAGING_ROLES)("lets the %s change a task of a member's deal", async (role) => {
      const task = await createTask(w.member, w.org, { dealId: w.deals.member });
      const res = await patchTask(w[role], w.org, task.id, { isDone: true });
      expect(res.status).toBe(200);
      expect((res.body as TaskBody).isDone).toBe(true);
    });

    it('changes only the fields sent', async () => {
      const task = await createTask(w.owner, w.org, {
        dealId: w.deals.owner,
        title: 'Keep',
        description: 'Keep too',
      });
      const steps: [Record<string, unknown>, Partial<TaskBody>][] = [
        [{ isDone: true }, { isDone: true }],
        [{ isDone: false }, { isDone: false }],
        [{ title: 'Renamed' }, { title: 'Renamed' }],
        [{ description: 'Described' }, { description: 'Described' }],
        [{ dueDate: '2999-05-05' }, { dueDate: '2999-05-05' }],
      ];
      let expected: TaskBody = task;
      for (const [body, change] of steps) {
        const res = await patchTask(w.owner, w.org, task.id, body);
        expect(res.status).toBe(200);
        expected = { ...expected, ...change, updatedAt: (res.body as TaskBody).updatedAt };
        expect(res.body).toEqual(expected);
      }
    });

    it('sets description to null, and answers an empty body with the unchanged task', async () => {
      const task = await createTask(w.owner, w.org, {
        dealId: w.deals.owner,
        description: 'Remove me',
      });
      const cleared = await patchTask(w.owner, w.org, task.id, { description: null });
      expect(cleared.status).toBe(200);
      expect((cleared.body as TaskBody).description).toBeNull();
      expect((await dbTask(task.id))?.description).toBeNull();
      const same = await patchTask(w.owner, w.org, task.id, {});
      expect(same.status).toBe(200);
      expect(same.body).toEqual(cleared.body);
    });

    it('moves updatedAt forward on a change and leaves createdAt alone', async () => {
      const task = await createTask(w.owner, w.org, { dealId: w.deals.owner });
      await t.db.query(
        `UPDATE tasks SET created_at = '2030-01-01T00:00:00Z', updated_at = '2030-01-01T00:00:00Z' WHERE id = $1`,
        [task.id],
      );
      const res = await patchTask(w.owner, w.org, task.id, { title: 'Touched' });
      expect(res.status).toBe(200);
      const body = res.body as TaskBody;
      expect(body.createdAt).toBe('2030-01-01T00:00:00.000Z');
      expect(body.updatedAt).not.toBe('2030-01-01T00:00:00.000Z');
    });

    it('accepts a dueDate of today (UTC) and answers 422 DUE_DATE_IN_PAST for yesterday, changing nothing', async () => {
      const task = await createTask(w.member, w.org, { dealId: w.deals.member, title: 'Due' });
      await onOneUtcDay(async (today) => {
        const ok = await patchTask(w.member, w.org, task.id, { dueDate: today });
        expect(ok.status).toBe(200);
        expect((ok.body as TaskBody).dueDate).toBe(today);
        for (const dueDate of [addDays(today, -1), '2000-01-01']) {
          expectError(
            await patchTask(w.member, w.org, task.id, { dueDate, title: 'Changed', isDone: true }),
            422,
            'DUE_DATE_IN_PAST',
          );
        }
        expect(await dbTask(task.id)).toEqual(
          expect.objectContaining({ title: 'Due', due_date: today, is_done: false }),
        );
      });
    });

    it('lets an overdue task be edited and marked done while its unchanged past dueDate is sent back, but not moved to another past date', async () => {
      await onOneUtcDay(async (today) => {
        const past = addDays(today, -3);
        const id = await insertTask(w.org, w.deals.member, { title: 'Overdue', dueDate: past });
        const res = await patchTask(w.member, w.org, id, {
          title: 'Overdue, done',
          dueDate: past,
          isDone: true,
        });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(
          expect.objectContaining({ title: 'Overdue, done', dueDate: past, isDone: true }),
        );
        const title = await patchTask(w.member, w.org, id, { title: 'Only the title' });
        expect(title.status).toBe(200);
        expectError(
          await patchTask(w.member, w.org, id, { dueDate: addDays(today, -2) }),
          422,
          'DUE_DATE_IN_PAST',
        );
        expect((await dbTask(id))?.due_date).toBe(past);
        const moved = await patchTask(w.member, w.org, id, { dueDate: addDays(today, 2) });
        expect(moved.status).toBe(200);
        expect((moved.body as TaskBody).dueDate).toBe(addDays(today, 2));
      });
    });

    it.each([
      ['title null', { title: null }, 'title'],
      ['title empty', { title: '' }, 'title'],
      ['title blank', { title: '  ' }, 'title'],
      ['title too long', { title: 'x'.repeat(201) }, 'title'],
      ['title a number', { title: 1 }, 'title'],
      ['dueDate null', { dueDate: null }, 'dueDate'],
      ['dueDate 2026-02-30', { dueDate: '2026-02-30' }, 'dueDate'],
      ['dueDate with a time', { dueDate: '2999-01-01T10:00:00.000Z' }, 'dueDate'],
      ['isDone null', { isDone: null }, 'isDone'],
      ['isDone "true"', { isDone: 'true' }, 'isDone'],
      ['isDone 1', { isDone: 1 }, 'isDone'],
      ['description a number', { description: 3 }, 'description'],
      ['description too long', { description: 'x'.repeat(5001) }, 'description'],
      ['dealId (a task cannot move)', { dealId: randomUUID() }, 'dealId'],
      ['id', { id: randomUUID() }, 'id'],
      ['createdAt', { createdAt: '2020-01-01T00:00:00.000Z' }, 'createdAt'],
      ['an unknown property', { priority: 1 }, 'priority'],
    ])('answers 400 VALIDATION_FAILED for %s and changes nothing', async (_label, body, field) => {
      const task = await createTask(w.owner, w.org, {
        dealId: w.deals.owner,
        title: 'Stable',
        description: 'Stable text',
      });
      expectValidation(await patchTask(w.owner, w.org, task.id, body), field);
      expect((await getTask(w.owner, w.org, task.id)).body).toEqual(task);
    });

    it("answers 404 NOT_FOUND (not 403) to a member on a task of someone else's deal, changing nothing", async () => {
      const task = await createTask(w.owner, w.org, { dealId: w.deals.owner, title: 'Guarded' });
      const foreign = await createTask(w.member2, w.org, { dealId: w.deals.member2 });
      for (const [id, original] of [
        [task.id, task],
        [foreign.id, foreign],
      ] as const) {
        expectError(await patchTask(w.member, w.org, id, { isDone: true }), 404, 'NOT_FOUND');
        expectError(
          await patchTask(w.member, w.org, id, { dueDate: addDays(utcToday(), -5) }),
          404,
          'NOT_FOUND',
        );
        expect((await getTask(w.owner, w.org, id)).body).toEqual(original);
      }
    });

    it('answers 404 for an unknown id and 400 for an id that is not a UUID', async () => {
      expectError(
        await patchTask(w.owner, w.org, randomUUID(), { isDone: true }),
        404,
        'NOT_FOUND',
      );
      expectValidation(await patchTask(w.owner, w.org, 'nope', { isDone: true }), 'id');
    });

    it('answers 400 (validation) before 404 (visibility), and 404 before 422', async () => {
      const task = await createTask(w.owner, w.org, { dealId: w.deals.owner });
      expectValidation(await patchTask(w.member, w.org, task.id, { title: null }), 'title');
      expectValidation(await patchTask(w.owner, w.org, randomUUID(), { isDone: 'yes' }), 'isDone');
      expectError(
        await patchTask(w.member, w.org, task.id, { dueDate: '2001-01-01' }),
        404,
        'NOT_FOUND',
      );
      expect((await getTask(w.owner, w.org, task.id)).body).toEqual(task);
    });

    it('applies concurrent changes of one task one after the other (row lock): none is lost', async () => {
      const task = await createTask(w.owner, w.org, { dealId: w.deals.owner, title: 'Race' });
      const responses = await Promise.all([
        patchTask(w.owner, w.org, task.id, { title: 'Race title' }),
        patchTask(w.admin, w.org, task.id, { description: 'Race description' }),
        patchTask(w.manager, w.org, task.id, { isDone: true }),
        patchTask(w.owner, w.org, task.id, { dueDate: '2999-09-09' }),
      ]);
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(await dbTask(task.id)).toEqual(
        expect.objectContaining({
          title: 'Race title',
          description: 'Race description',
          is_done: true,
          due_date: '2999-09-09',
        }),
      );
    });

    it('writes no activity', async () => {
      const deal = await createDeal(w.owner, w.org, 'Quiet');
      const task = await createTask(w.owner, w.org, { dealId: deal });
      await patchTask(w.owner, w.org, task.id, { isDone: true, title: 'Quiet done' });
      expect((await activitiesOf(w.owner, w.org, deal)).map((a) => a.type)).toEqual([
        'task_created',
        'system',
      ]);
    });
  });

  // ---------------------------------------------------------------- DELETE /tasks/{id}

  describe('DELETE /tasks/{id}', () => {
    let w: World;
    beforeAll(async () => {
      w = await createWorld();
    });

    it.each(ROLES)('lets the %s delete a task of their deal: 204, then 404', async (role) => {
      const task = await createTask(w[role], w.org, { dealId: w.deals[role] });
      const res = await deleteTask(w[role], w.org, task.id);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect(await dbTask(task.id)).toBeNull();
      expectError(await getTask(w[role], w.org, task.id), 404, 'NOT_FOUND');
      expectError(await deleteTask(w[role], w.org, task.id), 404, 'NOT_FOUND');
    });

    it.each(MANAGING_ROLES)("lets the %s delete a task of a member's deal", async (role) => {
      const task = await createTask(w.member, w.org, { dealId: w.deals.member });
      expect((await deleteTask(w[role], w.org, task.id)).status).toBe(204);
      expect(await dbTask(task.id)).toBeNull();
    });

    it('deletes an overdue task', async () => {
      const id = await insertTask(w.org, w.deals.member, { dueDate: '2001-01-01' });
      expect((await deleteTask(w.member, w.org, id)).status).toBe(204);
    });

    it("answers 404 NOT_FOUND to a member deleting a task of someone else's deal, which stays", async () => {
      const task = await createTask(w.manager, w.org, { dealId: w.deals.manager });
      expectError(await deleteTask(w.member, w.org, task.id), 404, 'NOT_FOUND');
      expect(await dbTask(task.id)).not.toBeNull();
    });

    it('answers 404 for an unknown id and 400 for an id that is not a UUID', async () => {
      expectError(await deleteTask(w.owner, w.org, randomUUID()), 404, 'NOT_FOUND');
      expectValidation(await deleteTask(w.owner, w.org, 'nope'), 'id');
    });

    it('keeps the task_created activity in the timeline', async () => {
      const deal = await createDeal(w.owner, w.org, 'History');
      const task = await createTask(w.owner, w.org, { dealId: deal, title: 'Gone' });
      expect((await deleteTask(w.owner, w.org, task.id)).status).toBe(204);
      const activities = await activitiesOf(w.owner, w.org, deal);
      expect(activities[0]).toEqual(
        expect.objectContaining({
          type: 'task_created',
          payload: { taskId: task.id, title: 'Gone' },
        }),
      );
    });

    it('deleting a deal removes its tasks (and only its tasks)', async () => {
      const deal = await createDeal(w.member, w.org, 'Doomed');
      const tasks = [
        await createTask(w.member, w.org, { dealId: deal, title: 'One' }),
        await createTask(w.manager, w.org, { dealId: deal, title: 'Two' }),
      ];
      const overdue = await insertTask(w.org, deal, { dueDate: '2001-01-01' });
      const survivor = await createTask(w.member, w.org, { dealId: w.deals.member });
      const res = await t.http().delete(`${API}/deals/${deal}`).set(as(w.member, w.org));
      expect(res.status).toBe(204);
      for (const id of [...idsOf(tasks), overdue]) {
        expect(await dbTask(id)).toBeNull();
        expectError(await getTask(w.owner, w.org, id), 404, 'NOT_FOUND');
      }
      const rows: { n: number }[] = await t.db.query(
        'SELECT count(*)::int AS n FROM tasks WHERE deal_id = $1',
        [deal],
      );
      expect(rows[0].n).toBe(0);
      expect((await page(w.owner, w.org, `?dealId=${deal}`)).total).toBe(0);
      expect((await getTask(w.member, w.org, survivor.id)).status).toBe(200);
    });
  });

  // ---------------------------------------------------------------- GET /tasks

  describe('GET /tasks', () => {
    let w: World;
    /** Every task of the organization, in the default order (createdAt desc, id desc). */
    let all: TaskBody[];
    /** The UTC day the data set was built on (due dates are relative to it). */
    let day: string;
    const TIE = '2031-01-01T00:00:00.000Z';

    const createdDesc = (a: TaskBody, b: TaskBody): number =>
      byCodeUnit(b.createdAt, a.createdAt) || byCodeUnit(b.id, a.id);
    const dueAsc = (a: TaskBody, b: TaskBody): number =>
      byCodeUnit(a.dueDate, b.dueDate) || byCodeUnit(a.id, b.id);
    const ofDeals = (...deals: string[]): TaskBody[] => all.filter((x) => deals.includes(x.dealId));
    const overdueOn = (today: string) => (x: TaskBody) => !x.isDone && x.dueDate < today;

    beforeAll(async () => {
      w = await createWorld();
      day = utcToday();
      // [deal, title, due date offset from today, isDone, shares the creation instant]
      const specs: [RoleName | 'member2', string, number, boolean, boolean][] = [
        ['owner', 'o1', -10, false, false],
        ['owner', 'o2', -1, false, true],
        ['owner', 'o3', 0, false, false],
        ['owner', 'o4', 5, true, true],
        ['owner', 'o5', -3, true, false],
        ['member', 'm1', -2, false, false],
        ['member', 'm2', 0, false, true],
        ['member', 'm3', 1, false, false],
        ['member', 'm4', 1, true, false],
        ['member2', 'n1', -4, false, true],
        ['member2', 'n2', 7, false, false],
        ['manager', 'g1', 1, false, false],
        ['manager', 'g2', 30, false, false],
      ];
      const ids: string[] = [];
      for (const [i, [deal, title, offset, isDone, tie]] of specs.entries()) {
        const dueDate = addDays(day, offset);
        const createdAt = tie ? TIE : new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString();
        ids.push(await insertTask(w.org, w.deals[deal], { title, dueDate, isDone, createdAt }));
      }
      // and some through the API (the due dates of these are today or later)
      ids.push((await createTask(w.member, w.org, { dealId: w.deals.member, title: 'm5' })).id);
      ids.push((await createTask(w.admin, w.org, { dealId: w.deals.admin, title: 'a1' })).id);
      all = [];
      for (const id of ids) all.push((await getTask(w.owner, w.org, id)).body as TaskBody);
      all.sort(createdDesc);
      // noise in another organization
      const foreign = await createDeal(w.outsider, w.outsider.organizationId, 'Noise');
      await insertTask(w.outsider.organizationId, foreign, { dueDate: addDays(day, -1) });
      await createTask(w.outsider, w.outsider.organizationId, { dealId: foreign });
    });

    it('answers {items, total, page, pageSize} with Task items, newest first (ties by id), by default', async () => {
      const body = await page(w.owner, w.org);
      expect(body.total).toBe(15);
      expect(body.page).toBe(1);
      expect(body.pageSize).toBe(20);
      expect(idsOf(body.items)).toEqual(idsOf(all));
      for (const item of body.items) expectTask(item, { ...item });
      expect(body.items).toEqual(all);
    });

    it.each(MANAGING_ROLES)('shows the %s every task of the organization', async (role) => {
      expect(await allVisible(w[role], w.org)).toEqual(idsOf(all));
    });

    it('shows a member only the tasks of the deals they own, and total counts only those', async () => {
      const body = await page(w.member, w.org);
      expect(idsOf(body.items)).toEqual(idsOf(ofDeals(w.deals.member)));
      expect(body.total).toBe(5);
      expect(await allVisible(w.member2, w.org)).toEqual(idsOf(ofDeals(w.deals.member2)));
    });

    it('filters by dealId; a deal the member cannot see gives an empty list', async () => {
      expect(await allVisible(w.owner, w.org, `&dealId=${w.deals.owner}`)).toEqual(
        idsOf(ofDeals(w.deals.owner)),
      );
      expect(await allVisible(w.owner, w.org, `&dealId=${w.deals.owner.toUpperCase()}`)).toEqual(
        idsOf(ofDeals(w.deals.owner)),
      );
      expect(await allVisible(w.member, w.org, `&dealId=${w.deals.member}`)).toEqual(
        idsOf(ofDeals(w.deals.member)),
      );
      const hidden = await page(w.member, w.org, `?dealId=${w.deals.owner}`);
      expect(hidden).toEqual({ items: [], total: 0, page: 1, pageSize: 20 });
      expect((await page(w.owner, w.org, `?dealId=${randomUUID()}`)).total).toBe(0);
    });

    it('filters by isDone=true and isDone=false', async () => {
      expect(await allVisible(w.owner, w.org, '&isDone=true')).toEqual(
        idsOf(all.filter((x) => x.isDone)),
      );
      expect(await allVisible(w.owner, w.org, '&isDone=false')).toEqual(
        idsOf(all.filter((x) => !x.isDone)),
      );
      expect(await allVisible(w.member, w.org, '&isDone=true')).toEqual(
        idsOf(ofDeals(w.deals.member).filter((x) => x.isDone)),
      );
    });

    it('filters by dueBefore and dueAfter, both inclusive, alone and together', async () => {
      const from = addDays(day, -3);
      const to = addDays(day, 1);
      expect(await allVisible(w.owner, w.org, `&dueAfter=${from}`)).toEqual(
        idsOf(all.filter((x) => x.dueDate >= from)),
      );
      expect(await allVisible(w.owner, w.org, `&dueBefore=${to}`)).toEqual(
        idsOf(all.filter((x) => x.dueDate <= to)),
      );
      const both = all.filter((x) => x.dueDate >= from && x.dueDate <= to);
      expect(both.some((x) => x.dueDate === from)).toBe(true);
      expect(both.some((x) => x.dueDate === to)).toBe(true);
      expect(await allVisible(w.owner, w.org, `&dueAfter=${from}&dueBefore=${to}`)).toEqual(
        idsOf(both),
      );
      expect(await allVisible(w.owner, w.org, `&dueAfter=${to}&dueBefore=${to}`)).toEqual(
        idsOf(all.filter((x) => x.dueDate === to)),
      );
      // an empty range is an empty list, not an error
      expect((await page(w.owner, w.org, `?dueAfter=${to}&dueBefore=${from}`)).total).toBe(0);
    });

    it('filters overdue=true (open and due before today, UTC) and overdue=false (everything else)', async () => {
      await onOneUtcDay(async (today) => {
        const overdue = all.filter(overdueOn(today));
        expect(overdue.length).toBeGreaterThanOrEqual(4);
        expect(await allVisible(w.owner, w.org, '&overdue=true')).toEqual(idsOf(overdue));
        expect(await allVisible(w.owner, w.org, '&overdue=false')).toEqual(
          idsOf(all.filter((x) => !overdueOn(today)(x))),
        );
        expect(await allVisible(w.member, w.org, '&overdue=true')).toEqual(
          idsOf(ofDeals(w.deals.member).filter(overdueOn(today))),
        );
        // a task due today is not overdue; a done task never is
        const dueToday = all.filter((x) => x.dueDate === today);
        const ids = await allVisible(w.owner, w.org, '&overdue=true');
        for (const x of [...dueToday, ...all.filter((y) => y.isDone)])
          expect(ids).not.toContain(x.id);
      });
    });

    it('combines filters with AND', async () => {
      await onOneUtcDay(async (today) => {
        expect(
          await allVisible(
            w.owner,
            w.org,
            `&dealId=${w.deals.owner}&overdue=true&dueAfter=${addDays(day, -5)}`,
          ),
        ).toEqual(
          idsOf(
            ofDeals(w.deals.owner).filter(
              (x) => overdueOn(today)(x) && x.dueDate >= addDays(day, -5),
            ),
          ),
        );
        expect((await page(w.owner, w.org, '?overdue=true&isDone=true')).total).toBe(0);
        expect(await allVisible(w.owner, w.org, '&isDone=false&dueBefore=' + day)).toEqual(
          idsOf(all.filter((x) => !x.isDone && x.dueDate <= day)),
        );
      });
    });

    it('orders by createdAt ascending (ties by id ascending)', async () => {
      const body = await page(w.owner, w.org, '?order=asc&pageSize=100');
      expect(idsOf(body.items)).toEqual(idsOf([...all].sort(createdDesc).reverse()));
    });

    it('orders by dueDate ascending and descending, ties broken by id', async () => {
      const asc = [...all].sort(dueAsc);
      // the data set has due-date ties
      expect(new Set(all.map((x) => x.dueDate)).size).toBeLessThan(all.length);
      expect(
        idsOf((await page(w.owner, w.org, '?orderBy=dueDate&order=asc&pageSize=100')).items),
      ).toEqual(idsOf(asc));
      expect(idsOf((await page(w.owner, w.org, '?orderBy=dueDate&pageSize=100')).items)).toEqual(
        idsOf([...asc].reverse()),
      );
      expect(
        idsOf((await page(w.member, w.org, '?orderBy=dueDate&order=asc&isDone=false')).items),
      ).toEqual(
        idsOf(
          ofDeals(w.deals.member)
            .filter((x) => !x.isDone)
            .sort(dueAsc),
        ),
      );
    });

    it.each([
      ['orderBy=createdAt&order=desc', 2],
      ['orderBy=dueDate&order=asc', 4],
      ['orderBy=dueDate&order=desc', 7],
    ])('pages %s with pageSize=%i without repeats or gaps', async (query, size) => {
      const full = idsOf((await page(w.owner, w.org, `?${query}&pageSize=100`)).items);
      const ids: string[] = [];
      for (let n = 1; n <= Math.ceil(full.length / size); n += 1) {
        const body = await page(w.owner, w.org, `?${query}&pageSize=${size}&page=${n}`);
        expect(body.total).toBe(15);
        expect(body.page).toBe(n);
        expect(body.pageSize).toBe(size);
        ids.push(...idsOf(body.items));
      }
      expect(ids).toEqual(full);
      expect((await page(w.owner, w.org, `?${query}&pageSize=${size}&page=99`)).items).toEqual([]);
    });

    it('accepts the bounds page=1, pageSize=1 and pageSize=100', async () => {
      expect((await page(w.owner, w.org, '?page=1&pageSize=1')).items).toHaveLength(1);
      expect((await page(w.owner, w.org, '?pageSize=100')).items).toHaveLength(15);
    });

    it.each([
      ['page=0', 'page'],
      ['page=-1', 'page'],
      ['page=abc', 'page'],
      ['pageSize=0', 'pageSize'],
      ['pageSize=101', 'pageSize'],
      ['order=sideways', 'order'],
      ['orderBy=title', 'orderBy'],
      ['orderBy=updatedAt', 'orderBy'],
      ['orderBy=due_date', 'orderBy'],
      ['dealId=not-a-uuid', 'dealId'],
      ['isDone=yes', 'isDone'],
      ['isDone=1', 'isDone'],
      ['isDone=TRUE', 'isDone'],
      ['isDone=', 'isDone'],
      ['isDone=true&isDone=false', 'isDone'],
      ['overdue=maybe', 'overdue'],
      ['overdue=0', 'overdue'],
      ['dueBefore=2026-02-30', 'dueBefore'],
      ['dueBefore=2026-13-01', 'dueBefore'],
      ['dueBefore=2026-1-1', 'dueBefore'],
      ['dueBefore=today', 'dueBefore'],
      ['dueAfter=2026-01-01T00:00:00Z', 'dueAfter'],
      ['dueAfter=2100-02-29', 'dueAfter'],
      ['dueAfter=0000-01-01', 'dueAfter'],
      ['dueAfter=2026-01-01&dueAfter=2026-02-01', 'dueAfter'],
      ['foo=bar', 'foo'],
      ['ownerId=00000000-0000-4000-8000-000000000000', 'ownerId'],
      ['organizationId=00000000-0000-4000-8000-000000000000', 'organizationId'],
    ])('answers 400 VALIDATION_FAILED for ?%s', async (query, field) => {
      expectValidation(await listTasks(w.owner, w.org, `?${query}`), field);
      expectValidation(await listTasks(w.member, w.org, `?${query}`), field);
    });

    describe('keyset pagination (limit, cursor)', () => {
      it('walks every task once with limit=2, in the same order as offset pages, without total', async () => {
        const { ids, pages } = await walk(w.owner, w.org, 'limit=2');
        expect(pages.map((p) => p.items.length)).toEqual([2, 2, 2, 2, 2, 2, 2, 1]);
        expect(pages.slice(0, 7).every((p) => typeof p.nextCursor === 'string')).toBe(true);
        expect(pages[7].nextCursor).toBeNull();
        expect(ids).toEqual(idsOf(all));
        expect(pages.flatMap((p) => p.items)).toEqual(all);
      });

      it.each([
        ['orderBy=dueDate&order=asc', (list: TaskBody[]) => [...list].sort(dueAsc)],
        ['orderBy=dueDate&order=desc', (list: TaskBody[]) => [...list].sort(dueAsc).reverse()],
        [
          'orderBy=createdAt&order=asc',
          (list: TaskBody[]) => [...list].sort(createdDesc).reverse(),
        ],
      ])('walks %s with limit=1 across ties without repeats or gaps', async (query, expected) => {
        const { ids, pages } = await walk(w.owner, w.org, `${query}&limit=1`);
        expect(pages).toHaveLength(15);
        expect(ids).toEqual(idsOf(expected(all)));
        const offset = await page(w.owner, w.org, `?${query}&pageSize=100`);
        expect(ids).toEqual(idsOf(offset.items));
      });

      it("walks only a member's visible tasks", async () => {
        const { ids } = await walk(w.member, w.org, 'limit=1&orderBy=dueDate');
        expect(ids).toEqual(idsOf(ofDeals(w.deals.member).sort(dueAsc).reverse()));
      });

      it('walks with filters', async () => {
        await onOneUtcDay(async (today) => {
          const { ids } = await walk(
            w.owner,
            w.org,
            'limit=1&orderBy=dueDate&order=asc&overdue=true',
          );
          expect(ids).toEqual(idsOf(all.filter(overdueOn(today)).sort(dueAsc)));
        });
        const byDeal = await walk(w.owner, w.org, `limit=2&dealId=${w.deals.owner}&isDone=false`);
        expect(byDeal.ids).toEqual(idsOf(ofDeals(w.deals.owner).filter((x) => !x.isDone)));
        const range = await walk(
          w.owner,
          w.org,
          `limit=3&dueAfter=${addDays(day, -2)}&dueBefore=${addDays(day, 5)}`,
        );
        expect(range.ids).toEqual(
          idsOf(all.filter((x) => x.dueDate >= addDays(day, -2) && x.dueDate <= addDays(day, 5))),
        );
      });

      it('defaults limit to 20 when only a cursor is given', async () => {
        const first = await listTasks(w.owner, w.org, '?limit=20');
        expect(first.body).toEqual({ items: all, nextCursor: null });
        const start = (await listTasks(w.owner, w.org, '?limit=1')).body as CursorBody;
        const rest = await listTasks(
          w.owner,
          w.org,
          `?cursor=${encodeURIComponent(start.nextCursor!)}`,
        );
        expect(rest.status).toBe(200);
        expect(rest.body).toEqual({ items: all.slice(1), nextCursor: null });
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
        expectValidation(await listTasks(w.owner, w.org, `?${query}`), field);
      });

      it('refuses a tampered cursor, and one of another filter, ordering, visibility or endpoint', async () => {
        const cursorOf = async (s: Session, query: string): Promise<string> => {
          const res = await listTasks(s, w.org, query);
          expect(res.status).toBe(200);
          return (res.body as CursorBody).nextCursor!;
        };
        const plain = await cursorOf(w.owner, '?limit=1');
        const byDue = await cursorOf(w.owner, '?limit=1&orderBy=dueDate');
        const overdue = await cursorOf(w.owner, '?limit=1&overdue=true');
        const byDeal = await cursorOf(w.owner, `?limit=1&dealId=${w.deals.owner}`);
        const mine = await cursorOf(w.member, '?limit=1');
        const [body, signature] = plain.split('.');
        const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<
          string,
          unknown
        >;
        const forged = `${Buffer.from(JSON.stringify({ ...payload, id: all[5].id })).toString('base64url')}.${signature}`;
        const cases: [Session, string, string][] = [
          [w.owner, '?limit=1', forged],
          [w.owner, '?limit=1', `${plain}.x`],
          [w.owner, '?limit=1&orderBy=dueDate', plain],
          [w.owner, '?limit=1', byDue],
          [w.owner, '?limit=1&order=asc', plain],
          [w.owner, '?limit=1&overdue=false', overdue],
          [w.owner, '?limit=1', overdue],
          [w.owner, '?limit=1&isDone=true', plain],
          [w.owner, `?limit=1&dueBefore=${day}`, plain],
          [w.owner, `?limit=1&dueAfter=${day}`, plain],
          [w.owner, `?limit=1&dealId=${w.deals.member}`, byDeal],
          [w.member, '?limit=1', plain],
          [w.member2, '?limit=1', mine],
        ];
        for (const [s, query, cursor] of cases) {
          expectValidation(
            await listTasks(s, w.org, `${query}&cursor=${encodeURIComponent(cursor)}`),
            'cursor',
          );
        }
        // another endpoint's cursor (contacts)
        await t.http().post(`${API}/contacts`).set(as(w.owner, w.org)).send({ name: 'Extra' });
        const contacts = await t.http().get(`${API}/contacts?limit=1`).set(as(w.owner, w.org));
        expect(contacts.status).toBe(200);
        const contactCursor = (contacts.body as { nextCursor: string }).nextCursor;
        expectValidation(
          await listTasks(w.owner, w.org, `?limit=1&cursor=${encodeURIComponent(contactCursor)}`),
          'cursor',
        );
        // the untouched cursors still work
        const next = await listTasks(
          w.owner,
          w.org,
          `?limit=1&cursor=${encodeURIComponent(plain)}`,
        );
        expect(idsOf((next.body as CursorBody).items)).toEqual([all[1].id]);
        const sameCase = await listTasks(
          w.owner,
          w.org,
          `?limit=1&dealId=${w.deals.owner.toUpperCase()}&cursor=${encodeURIComponent(byDeal)}`,
        );
        expect(sameCase.status).toBe(200);
      });
    });
  });

  // ---------------------------------------------------------------- cross-organization isolation

  describe('cross-organization isolation', () => {
    let team: Team;
    let org: string;
    let orgB: string;
    /** Admin in org B, manager in org A. */
    let both: Session;
    let dealA: string;
    let dealB: string;
    let inA: TaskBody;
    let inB: TaskBody;
    let overdueB: string;

    beforeAll(async () => {
      team = await createTeam(t);
      org = team.organizationId;
      orgB = team.outsider.organizationId;
      both = await register(t, 'both');
      await addMember(team.outsider, orgB, both, 'admin');
      await addMember(team.owner, org, both, 'manager');
      dealA = await createDeal(team.owner, org, 'Deal A');
      dealB = await createDeal(both, orgB, 'Deal B');
      inA = await createTask(team.owner, org, { dealId: dealA, title: 'Task A' });
      inB = await createTask(team.outsider, orgB, {
        dealId: dealB,
        title: 'Task B',
        description: 'Secret',
      });
      overdueB = await insertTask(orgB, dealB, { title: 'Overdue B', dueDate: '2001-01-01' });
    });

    const untouched = async (): Promise<void> => {
      expect(await dbTask(inB.id)).toEqual({
        id: inB.id,
        organization_id: orgB,
        deal_id: dealB,
        title: 'Task B',
        description: 'Secret',
        due_date: inB.dueDate,
        is_done: false,
      });
      expect((await getTask(team.outsider, orgB, inB.id)).body).toEqual(inB);
      expect(await dbTask(overdueB)).not.toBeNull();
    };

    it.each(ROLES)('GET /tasks/{id of org B} in org A as the %s -> 404', async (role) => {
      expectError(await getTask(team[role], org, inB.id), 404, 'NOT_FOUND');
      expectError(await getTask(team[role], org, overdueB), 404, 'NOT_FOUND');
    });

    it.each(ROLES)(
      'PATCH /tasks/{id of org B} in org A as the %s -> 404; B is untouched',
      async (role) => {
        for (const body of [
          { title: 'Hijacked' },
          { isDone: true },
          { dueDate: '2001-01-02' },
          {},
        ]) {
          expectError(await patchTask(team[role], org, inB.id, body), 404, 'NOT_FOUND');
        }
        await untouched();
      },
    );

    it.each(ROLES)(
      'DELETE /tasks/{id of org B} in org A as the %s -> 404; B is untouched',
      async (role) => {
        expectError(await deleteTask(team[role], org, inB.id), 404, 'NOT_FOUND');
        expectError(await deleteTask(team[role], org, overdueB), 404, 'NOT_FOUND');
        await untouched();
      },
    );

    it.each(ROLES)(
      "POST /tasks on org B's deal in org A as the %s -> 404; nothing is written in either",
      async (role) => {
        const before = await counts();
        expectError(
          await postTask(team[role], org, {
            dealId: dealB,
            title: 'Planted',
            dueDate: '2999-01-01',
          }),
          404,
          'NOT_FOUND',
        );
        expect(await counts()).toEqual(before);
        expect((await activitiesOf(team.outsider, orgB, dealB)).map((a) => a.type)).toEqual([
          'task_created',
          'system',
        ]);
      },
    );

    it('a user in both organizations reaches a task only under its own organization header', async () => {
      expect((await getTask(both, orgB, inB.id)).status).toBe(200);
      // even a task of a deal they own in B is invisible under A's header
      expectError(await getTask(both, org, inB.id), 404, 'NOT_FOUND');
      expectError(await patchTask(both, org, inB.id, { isDone: true }), 404, 'NOT_FOUND');
      expectError(await deleteTask(both, org, inB.id), 404, 'NOT_FOUND');
      expectError(
        await postTask(both, org, { dealId: dealB, title: 'Via A', dueDate: '2999-01-01' }),
        404,
        'NOT_FOUND',
      );
      await untouched();
      expect((await getTask(both, org, inA.id)).status).toBe(200);
      expectError(await getTask(both, orgB, inA.id), 404, 'NOT_FOUND');
      expectError(
        await postTask(both, orgB, { dealId: dealA, title: 'Via B', dueDate: '2999-01-01' }),
        404,
        'NOT_FOUND',
      );
    });

    it("org A's list, with any filter, never contains org B's tasks, even for the owner", async () => {
      for (const s of [team.owner, team.admin, team.manager, team.member, both]) {
        for (const query of [
          '',
          '&overdue=true',
          '&overdue=false',
          '&isDone=false',
          `&dealId=${dealB}`,
          '&dueBefore=2001-01-01',
          '&orderBy=dueDate&order=asc',
        ]) {
          const ids = await allVisible(s, org, query);
          expect(ids).not.toContain(inB.id);
          expect(ids).not.toContain(overdueB);
        }
        const keyset = await walk(s, org, 'limit=1&orderBy=dueDate');
        expect(keyset.ids).not.toContain(inB.id);
        expect(keyset.ids).not.toContain(overdueB);
      }
      expect(await allVisible(team.owner, org)).toEqual([inA.id]);
      expect((await page(team.owner, org, `?dealId=${dealB}`)).total).toBe(0);
      expect(await allVisible(team.member, org)).toEqual([]);
      expect((await allVisible(team.outsider, orgB)).sort()).toEqual([inB.id, overdueB].sort());
    });
  });

  // ---------------------------------------------------------------- tenant guard and precedence

  describe('authentication, organization header and membership (precedence)', () => {
    let w: World;
    let task: TaskBody;

    beforeAll(async () => {
      w = await createWorld();
      task = await createTask(w.owner, w.org, { dealId: w.deals.owner, title: 'Guarded' });
    });

    const routes: {
      label: string;
      call: (headers: Record<string, string>, bad?: boolean) => Test;
    }[] = [
      {
        label: 'GET /tasks',
        call: (h, bad) =>
          t
            .http()
            .get(`${TASKS}${bad ? '?dueBefore=2026-02-30&foo=1' : ''}`)
            .set(h),
      },
      {
        label: 'POST /tasks',
        call: (h, bad) =>
          t
            .http()
            .post(TASKS)
            .set(h)
            .send(
              bad
                ? { dealId: 'x', title: '', dueDate: '2026-02-30', bogus: 1 }
                : { dealId: w.deals.owner, title: 'Guarded new', dueDate: '2999-01-01' },
            ),
      },
      {
        label: 'GET /tasks/{id}',
        call: (h, bad) =>
          t
            .http()
            .get(`${TASKS}/${bad ? 'nope' : task.id}`)
            .set(h),
      },
      {
        label: 'PATCH /tasks/{id}',
        call: (h, bad) =>
          t
            .http()
            .patch(`${TASKS}/${bad ? 'nope' : task.id}`)
            .set(h)
            .send(bad ? { title: null } : { title: 'Guarded changed' }),
      },
      {
        label: 'DELETE /tasks/{id}',
        call: (h, bad) =>
          t
            .http()
            .delete(`${TASKS}/${bad ? 'nope' : task.id}`)
            .set(h),
      },
    ];

    const expectUntouched = async (): Promise<void> => {
      expect((await getTask(w.owner, w.org, task.id)).body).toEqual(task);
      const rows: { n: number }[] = await t.db.query(
        'SELECT count(*)::int AS n FROM tasks WHERE organization_id = $1',
        [w.org],
      );
      expect(rows[0].n).toBe(1);
    };

    it.each(routes)(
      '$label without a valid access token -> 401 UNAUTHENTICATED, even with a bad header or input',
      async ({ call }) => {
        expectError(await call({}), 401, 'UNAUTHENTICATED');
        expectError(await call({ 'x-organization-id': w.org }, true), 401, 'UNAUTHENTICATED');
        expectError(
          await call({ 'x-organization-id': 'not-a-uuid' }, true),
          401,
          'UNAUTHENTICATED',
        );
        expectError(
          await call({ authorization: 'Bearer not.a.jwt', 'x-organization-id': w.org }, true),
          401,
          'UNAUTHENTICATED',
        );
        expectError(
          await call({
            authorization: `Bearer ${w.owner.refreshToken}`,
            'x-organization-id': w.org,
          }),
          401,
          'UNAUTHENTICATED',
        );
        await expectUntouched();
      },
    );

    it.each(routes)(
      '$label without a valid X-Organization-Id -> 400 INVALID_ORGANIZATION_HEADER, even with bad input',
      async ({ call }) => {
        expectError(await call(as(w.owner)), 400, 'INVALID_ORGANIZATION_HEADER');
        expectError(await call(as(w.owner), true), 400, 'INVALID_ORGANIZATION_HEADER');
        expectError(
          await call({ ...as(w.owner), 'x-organization-id': 'not-a-uuid' }, true),
          400,
          'INVALID_ORGANIZATION_HEADER',
        );
        await expectUntouched();
      },
    );

    it.each(routes)(
      '$label in an organization the caller is not a member of -> 403 NOT_A_MEMBER, even with bad input',
      async ({ call }) => {
        expectError(await call(as(w.outsider, w.org)), 403, 'NOT_A_MEMBER');
        expectError(await call(as(w.outsider, w.org), true), 403, 'NOT_A_MEMBER');
        expectError(await call(as(w.owner, randomUUID()), true), 403, 'NOT_A_MEMBER');
        await expectUntouched();
      },
    );

    it.each(routes)(
      '$label by a member with bad input -> 400 VALIDATION_FAILED',
      async ({ call }) => {
        expectError(await call(as(w.member, w.org), true), 400, 'VALIDATION_FAILED');
        await expectUntouched();
      },
    );
  });

  // ---------------------------------------------------------------- OpenAPI

  it('documents the task endpoints, the Task schema and the overdue rule in the OpenAPI document', async () => {
    const res = await t.http().get('/docs-json');
    expect(res.status).toBe(200);
    const doc = res.body as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: { name: string; description?: string }[];
            responses: Record<string, unknown>;
          }
        >
      >;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    expect(Object.keys(doc.paths['/api/v1/tasks']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/api/v1/tasks/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
    expect(Object.keys(doc.components.schemas.TaskDto.properties).sort()).toEqual(TASK_KEYS);
    expect(doc.paths['/api/v1/tasks'].post.responses).toHaveProperty('422');
    expect(doc.paths['/api/v1/tasks/{id}'].patch.responses).toHaveProperty('422');
    const params = doc.paths['/api/v1/tasks'].get.parameters ?? [];
    const overdue = params.find((p) => p.name === 'overdue');
    expect(overdue?.description).toMatch(/false/);
    expect(params.map((p) => p.name)).toEqual(
      expect.arrayContaining(['dealId', 'isDone', 'dueBefore', 'dueAfter', 'overdue', 'orderBy']),
    );
  });
});
