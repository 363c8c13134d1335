import { randomUUID } from 'node:crypto';
import type { Response, Test } from 'supertest';
import { as, createTeam, expectError, type Session, type Team } from './support/api';
import { ISO_TIMESTAMP, keysOf, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * A deal's activity timeline (API.md section 8): newest first with ties by id, offset and
 * keyset pages, comments, and the visibility rules of section 4 (members: deals they own).
 */

const API = '/api/v1';
const DEALS = `${API}/deals`;
const ROLES = ['owner', 'admin', 'manager', 'member'] as const;
const ACTIVITY_KEYS = ['authorId', 'createdAt', 'dealId', 'id', 'payload', 'type'];

interface ActivityBody {
  id: string;
  dealId: string;
  authorId: string | null;
  type: string;
  payload: Record<string, unknown>;
  createdAt: string;
}
interface PageBody {
  items: ActivityBody[];
  total: number;
  page: number;
  pageSize: number;
}
interface CursorBody {
  items: ActivityBody[];
  nextCursor: string | null;
}

const idsOf = (items: { id: string }[]): string[] => items.map((a) => a.id);

function expectValidation(res: Response, field?: string): void {
  expectError(res, 400, 'VALIDATION_FAILED');
  const details = (res.body as { details?: { field: string; message: string }[] }).details;
  expect(details).toEqual(
    expect.arrayContaining([{ field: field ?? expect.any(String), message: expect.any(String) }]),
  );
}

describe('Activities (API.md section 8)', () => {
  let t: TestApp;
  let team: Team;
  const contactOf = {} as Record<(typeof ROLES)[number] | 'outsider', string>;

  const orgOf = (s: Session): string =>
    s === team.outsider ? team.outsider.organizationId : team.organizationId;

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    for (const role of [...ROLES, 'outsider'] as const) {
      const s = role === 'outsider' ? team.outsider : team[role];
      const res = await t
        .http()
        .post(`${API}/contacts`)
        .set(as(s, orgOf(s)))
        .send({ name: `${role} contact` });
      expect(res.status).toBe(201);
      contactOf[role] = (res.body as { id: string }).id;
    }
  });
  afterAll(() => t.close());

  // ---------------------------------------------------------------- helpers

  async function dealOf(
    role: (typeof ROLES)[number] | 'outsider',
    extra: Record<string, unknown> = {},
  ): Promise<{ id: string; createdAt: string }> {
    const s = role === 'outsider' ? team.outsider : team[role];
    const res = await t
      .http()
      .post(DEALS)
      .set(as(s, orgOf(s)))
      .send({ contactId: contactOf[role], title: 'Deal', amount: 100, ...extra });
    expect(res.status).toBe(201);
    return res.body as { id: string; createdAt: string };
  }
  const list = (s: Session, dealId: string, query = ''): Test =>
    t
      .http()
      .get(`${DEALS}/${dealId}/activities${query ? `?${query}` : ''}`)
      .set(as(s, orgOf(s)));
  const post = (s: Session, dealId: string, body: unknown): Test =>
    t
      .http()
      .post(`${DEALS}/${dealId}/activities`)
      .set(as(s, orgOf(s)))
      .send(body as object);
  const patchDeal = (s: Session, dealId: string, body: Record<string, unknown>): Test =>
    t
      .http()
      .patch(`${DEALS}/${dealId}`)
      .set(as(s, orgOf(s)))
      .send(body);

  async function count(dealId?: string): Promise<number> {
    const rows: { n: number }[] = dealId
      ? await t.db.query('SELECT count(*)::int AS n FROM activities WHERE deal_id = $1', [dealId])
      : await t.db.query('SELECT count(*)::int AS n FROM activities');
    return rows[0].n;
  }

  /** The deal's activity ids, newest first with ties by id, as PostgreSQL orders them. */
  async function expectedOrder(dealId: string, order: 'asc' | 'desc' = 'desc'): Promise<string[]> {
    const rows: { id: string; k: string }[] = await t.db.query(
      `SELECT id::text AS id,
              to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') AS k
         FROM activities WHERE deal_id = $1`,
      [dealId],
    );
    const sign = order === 'asc' ? 1 : -1;
    return rows
      .sort((a, b) => sign * (a.k < b.k ? -1 : a.k > b.k ? 1 : a.id < b.id ? -1 : 1))
      .map((r) => r.id);
  }

  async function walk(s: Session, dealId: string, query: string): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await list(s, dealId, `${query}${suffix}`);
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(['items', 'nextCursor']);
      const body = res.body as CursorBody;
      ids.push(...idsOf(body.items));
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor && pages < 50);
    return ids;
  }

  // ---------------------------------------------------------------- GET

  describe('GET /deals/{dealId}/activities', () => {
    let deal: { id: string; createdAt: string };

    beforeAll(async () => {
      deal = await dealOf('member');
      // one transaction writes status_changed and stage_changed with one created_at
      await patchDeal(team.member, deal.id, { status: 'in_progress', stage: 'proposal' }).expect(
        200,
      );
      for (const text of ['first', 'second', 'third']) {
        await post(team.member, deal.id, { type: 'comment', payload: { text } }).expect(201);
      }
      await patchDeal(team.manager, deal.id, { status: 'lost' }).expect(200);
      // more ties: five comments with one created_at, an hour after everything else
      await t.db.query(
        `INSERT INTO activities (organization_id, deal_id, author_id, type, payload, created_at)
         SELECT $1, $2, $3, 'comment', jsonb_build_object('text', 'tie ' || i),
                now() + interval '1 hour'
           FROM generate_series(1, 5) AS i`,
        [team.organizationId, deal.id, team.owner.userId],
      );
    });

    it('answers {items, total, page, pageSize}, newest first, ties by id', async () => {
      const res = await list(team.member, deal.id);
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(['items', 'page', 'pageSize', 'total']);
      const body = res.body as PageBody;
      expect(body).toEqual(expect.objectContaining({ total: 13, page: 1, pageSize: 20 }));
      expect(idsOf(body.items)).toEqual(await expectedOrder(deal.id));
      // newest first: the tied comments, then lost (status + stage), comments, the first change
      expect(body.items.slice(0, 5).every((a) => /^tie /.test(a.payload.text as string))).toBe(
        true,
      );
      expect(new Set(body.items.slice(0, 5).map((a) => a.createdAt)).size).toBe(1);
      const tied = idsOf(body.items.slice(0, 5));
      expect(tied).toEqual([...tied].sort().reverse());
      const pair = (i: number): string[] => [body.items[i].type, body.items[i + 1].type].sort();
      expect(pair(5)).toEqual(['stage_changed', 'status_changed']);
      expect(body.items.slice(7, 10).map((a) => a.payload.text)).toEqual([
        'third',
        'second',
        'first',
      ]);
      expect(pair(10)).toEqual(['stage_changed', 'status_changed']);
      expect(body.items[12]).toEqual({
        id: expect.stringMatching(UUID),
        dealId: deal.id,
        authorId: null,
        type: 'system',
        payload: { event: 'deal_created' },
        createdAt: deal.createdAt,
      });
      for (const item of body.items) {
        expect(keysOf(item)).toEqual(ACTIVITY_KEYS);
        expect(item.createdAt).toMatch(ISO_TIMESTAMP);
        expect(item.dealId).toBe(deal.id);
      }
    });

    it('the two entries of one change share created_at and are ordered by id', async () => {
      const body = (await list(team.owner, deal.id)).body as PageBody;
      const lost = body.items.filter(
        (a) =>
          (a.type === 'status_changed' && a.payload.to === 'lost') ||
          (a.type === 'stage_changed' && a.payload.to === 'closed'),
      );
      expect(lost).toHaveLength(2);
      expect(lost[0].createdAt).toBe(lost[1].createdAt);
      expect(lost[0].id > lost[1].id).toBe(true);
      for (const a of lost) expect(a.authorId).toBe(team.manager.userId);
      expect(
        lost
          .map((a) => a.payload)
          .sort((a, b) => (a.from as string).localeCompare(b.from as string)),
      ).toEqual([
        { from: 'in_progress', to: 'lost' },
        { from: 'proposal', to: 'closed' },
      ]);
    });

    it('order=asc lists oldest first (ties by id ascending)', async () => {
      const body = (await list(team.owner, deal.id, 'order=asc&pageSize=100')).body as PageBody;
      expect(idsOf(body.items)).toEqual(await expectedOrder(deal.id, 'asc'));
    });

    it('offset pages and keyset pages walk the same order without repeats', async () => {
      const want = await expectedOrder(deal.id);
      const paged: string[] = [];
      for (let page = 1; page <= 5; page += 1) {
        const body = (await list(team.member, deal.id, `page=${page}&pageSize=3`)).body as PageBody;
        expect(body).toEqual(expect.objectContaining({ page, pageSize: 3, total: 13 }));
        paged.push(...idsOf(body.items));
      }
      expect(paged).toEqual(want);
      for (const limit of [1, 2, 5]) {
        const walked = await walk(team.member, deal.id, `limit=${limit}`);
        expect(walked).toEqual(want);
        expect(new Set(walked).size).toBe(walked.length);
      }
      expect(await walk(team.member, deal.id, 'limit=5&order=asc')).toEqual(
        await expectedOrder(deal.id, 'asc'),
      );
      const all = (await list(team.member, deal.id, 'limit=100')).body as CursorBody;
      expect(all.nextCursor).toBeNull();
      expect(idsOf(all.items)).toEqual(want);
    });

    it("a cursor of another deal's timeline or another direction -> 400 (cursor)", async () => {
      const other = await dealOf('member');
      await post(team.member, other.id, { type: 'comment', payload: { text: 'x' } }).expect(201);
      const first = (await list(team.member, deal.id, 'limit=1')).body as CursorBody;
      const cursor = encodeURIComponent(first.nextCursor!);
      expectValidation(await list(team.member, other.id, `limit=1&cursor=${cursor}`), 'cursor');
      expectValidation(
        await list(team.member, deal.id, `limit=1&order=asc&cursor=${cursor}`),
        'cursor',
      );
      expectValidation(await list(team.member, deal.id, 'limit=1&cursor=garbage'), 'cursor');
      expect((await list(team.member, deal.id, `limit=1&cursor=${cursor}`)).status).toBe(200);
    });

    it.each([
      ['page=0', 'page'],
      ['page=99999999999999999999', 'page'],
      ['pageSize=0', 'pageSize'],
      ['pageSize=101', 'pageSize'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=2&page=1', 'limit'],
      ['order=newest', 'order'],
      ['type=comment', 'type'],
      ['foo=1', 'foo'],
    ])('answers 400 VALIDATION_FAILED for %s', async (query, field) => {
      expectValidation(await list(team.owner, deal.id, query), field);
    });

    it.each(['owner', 'admin', 'manager'] as const)(
      "the %s sees the member's deal timeline",
      async (role) => {
        const body = (await list(team[role], deal.id, 'pageSize=100')).body as PageBody;
        expect(idsOf(body.items)).toEqual(await expectedOrder(deal.id));
      },
    );

    it("a member gets 404 NOT_FOUND for the timeline of another owner's deal", async () => {
      for (const role of ['owner', 'admin', 'manager'] as const) {
        const other = await dealOf(role);
        expectError(await list(team.member, other.id), 404, 'NOT_FOUND');
      }
    });

    it("another organization's deal -> 404 NOT_FOUND, both ways", async () => {
      const theirs = await dealOf('outsider');
      for (const role of ROLES) expectError(await list(team[role], theirs.id), 404, 'NOT_FOUND');
      expectError(await list(team.outsider, deal.id), 404, 'NOT_FOUND');
    });

    it('an unknown deal -> 404, a malformed dealId -> 400, a non-member -> 403', async () => {
      expectError(await list(team.owner, randomUUID()), 404, 'NOT_FOUND');
      expectValidation(await list(team.owner, 'nope'), 'dealId');
      expectError(
        await t
          .http()
          .get(`${DEALS}/${deal.id}/activities`)
          .set(as(team.outsider, team.organizationId)),
        403,
        'NOT_A_MEMBER',
      );
      expectError(await t.http().get(`${DEALS}/${deal.id}/activities`), 401, 'UNAUTHENTICATED');
    });

    it('reading a timeline writes nothing', async () => {
      const before = await count();
      await list(team.owner, deal.id).expect(200);
      await list(team.member, deal.id, 'limit=2').expect(200);
      expect(await count()).toBe(before);
    });
  });

  // ---------------------------------------------------------------- POST

  describe('POST /deals/{dealId}/activities', () => {
    let deal: { id: string };
    beforeAll(async () => {
      deal = await dealOf('member');
    });

    it.each(ROLES)(
      'the %s may comment on the member deal: 201 Activity with authorId = caller',
      async (role) => {
        const res = await post(team[role], deal.id, {
          type: 'comment',
          payload: { text: `From the ${role}` },
        });
        expect(res.status).toBe(201);
        expect(keysOf(res.body)).toEqual(ACTIVITY_KEYS);
        const activity = res.body as ActivityBody;
        expect(activity).toEqual({
          id: expect.stringMatching(UUID),
          dealId: deal.id,
          authorId: team[role].userId,
          type: 'comment',
          payload: { text: `From the ${role}` },
          createdAt: expect.stringMatching(ISO_TIMESTAMP),
        });
        const timeline = (await list(team.member, deal.id)).body as PageBody;
        expect(timeline.items[0]).toEqual(activity);
      },
    );

    it.each([
      ['1 character', 'x'],
      ['5000 characters', 'y'.repeat(5000)],
      ['unicode', 'Grüße — 你好 👋'],
      ['5000 emoji (characters, not UTF-16 units)', '👋'.repeat(5000)],
      ['line breaks', 'line 1\nline 2'],
    ])('accepts text of %s, stored as sent', async (_label, text) => {
      const res = await post(team.member, deal.id, { type: 'comment', payload: { text } });
      expect(res.status).toBe(201);
      expect((res.body as ActivityBody).payload).toEqual({ text });
      const rows: { payload: unknown }[] = await t.db.query(
        'SELECT payload FROM activities WHERE id = $1',
        [(res.body as ActivityBody).id],
      );
      expect(rows[0].payload).toEqual({ text });
    });

    it.each([
      ['empty text', { type: 'comment', payload: { text: '' } }, 'payload.text'],
      ['5001 characters', { type: 'comment', payload: { text: 'z'.repeat(5001) } }, 'payload.text'],
      ['5001 emoji', { type: 'comment', payload: { text: '👋'.repeat(5001) } }, 'payload.text'],
      ['text missing', { type: 'comment', payload: {} }, 'payload.text'],
      ['text not a string', { type: 'comment', payload: { text: 42 } }, 'payload.text'],
      ['text null', { type: 'comment', payload: { text: null } }, 'payload.text'],
      ['a NUL character', { type: 'comment', payload: { text: 'a\u0000b' } }, 'payload.text'],
      [
        'an extra payload property',
        { type: 'comment', payload: { text: 'hi', mood: 'happy' } },
        'payload.mood',
      ],
      [
        'an extra top-level property',
        { type: 'comment', payload: { text: 'hi' }, authorId: randomUUID() },
        'authorId',
      ],
      ['payload missing', { type: 'comment' }, 'payload'],
      ['payload a string', { type: 'comment', payload: 'hi' }, 'payload'],
      ['payload null', { type: 'comment', payload: null }, 'payload'],
      ['payload an array', { type: 'comment', payload: [{ text: 'hi' }] }, 'payload'],
      ['type missing', { payload: { text: 'hi' } }, 'type'],
      ['type system', { type: 'system', payload: { text: 'hi' } }, 'type'],
      [
        'type status_changed',
        { type: 'status_changed', payload: { from: 'new', to: 'won' } },
        'type',
      ],
      ['type stage_changed', { type: 'stage_changed', payload: { text: 'hi' } }, 'type'],
      ['type task_created', { type: 'task_created', payload: { text: 'hi' } }, 'type'],
      ['type Comment', { type: 'Comment', payload: { text: 'hi' } }, 'type'],
    ])('answers 400 VALIDATION_FAILED for %s and writes nothing', async (_label, body, field) => {
      const before = await count();
      expectValidation(await post(team.member, deal.id, body), field);
      expect(await count()).toBe(before);
    });

    it('answers 400 VALIDATION_FAILED for malformed JSON', async () => {
      const res = await t
        .http()
        .post(`${DEALS}/${deal.id}/activities`)
        .set(as(team.member, team.organizationId))
        .set('content-type', 'application/json')
        .send('{"type": "comment", ');
      expectError(res, 400, 'VALIDATION_FAILED');
    });

    it("a member commenting on another owner's deal -> 404 NOT_FOUND, nothing written", async () => {
      const other = await dealOf('manager');
      const before = await count();
      expectError(
        await post(team.member, other.id, { type: 'comment', payload: { text: 'hi' } }),
        404,
        'NOT_FOUND',
      );
      expect(await count()).toBe(before);
    });

    it('validation (400) comes before visibility (404)', async () => {
      const other = await dealOf('manager');
      expectValidation(await post(team.member, other.id, { type: 'system', payload: {} }), 'type');
      expectValidation(
        await post(team.outsider, other.id, { type: 'comment', payload: { text: '' } }),
        'payload.text',
      );
    });

    it("another organization's deal -> 404 NOT_FOUND, both ways, nothing written", async () => {
      const theirs = await dealOf('outsider');
      const before = await count();
      for (const role of ROLES) {
        expectError(
          await post(team[role], theirs.id, { type: 'comment', payload: { text: 'hi' } }),
          404,
          'NOT_FOUND',
        );
      }
      expectError(
        await post(team.outsider, deal.id, { type: 'comment', payload: { text: 'hi' } }),
        404,
        'NOT_FOUND',
      );
      expect(await count()).toBe(before);
    });

    it('an unknown deal -> 404; a malformed dealId -> 400; no token -> 401; non-member -> 403', async () => {
      const body = { type: 'comment', payload: { text: 'hi' } };
      expectError(await post(team.owner, randomUUID(), body), 404, 'NOT_FOUND');
      expectValidation(await post(team.owner, 'nope', body), 'dealId');
      expectError(
        await t.http().post(`${DEALS}/${deal.id}/activities`).send(body),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await t
          .http()
          .post(`${DEALS}/${deal.id}/activities`)
          .set(as(team.outsider, team.organizationId))
          .send(body),
        403,
        'NOT_A_MEMBER',
      );
    });

    it('a comment changes nothing on the deal', async () => {
      const before = (
        await t.http().get(`${DEALS}/${deal.id}`).set(as(team.member, team.organizationId))
      ).body as unknown;
      await post(team.member, deal.id, { type: 'comment', payload: { text: 'noted' } }).expect(201);
      const after = (
        await t.http().get(`${DEALS}/${deal.id}`).set(as(team.member, team.organizationId))
      ).body as unknown;
      expect(after).toEqual(before);
    });
  });
});
