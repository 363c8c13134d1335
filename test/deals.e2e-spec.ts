import { randomUUID } from 'node:crypto';
import type { Response, Test } from 'supertest';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { consumersIdle, recordStatements } from './support/background';
import { expectValidation, ISO_TIMESTAMP, keysOf, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Deals (API.md section 6) under the roles and visibility rules of section 4, the money and
 * currency conventions and list conventions of section 1, and the precedence order of
 * failing rules; their timeline entries (section 8) as written by deal changes.
 */

const API = '/api/v1';
const DEALS = `${API}/deals`;
const CONTACTS = `${API}/contacts`;
const ROLES = ['owner', 'admin', 'manager', 'member'] as const;
type Role = (typeof ROLES)[number];
const STATUSES = ['new', 'in_progress', 'won', 'lost'] as const;
type Status = (typeof STATUSES)[number];
const STAGES = ['qualification', 'proposal', 'negotiation', 'closed'] as const;
const ALLOWED = new Set(['new->in_progress', 'new->lost', 'in_progress->won', 'in_progress->lost']);

const DEAL_KEYS = [
  'amount',
  'contactId',
  'createdAt',
  'currency',
  'id',
  'lostReason',
  'organizationId',
  'ownerId',
  'pipelineId',
  'stage',
  'status',
  'title',
  'updatedAt',
];

interface DealBody {
  id: string;
  organizationId: string;
  contactId: string;
  ownerId: string;
  title: string;
  amount: string;
  currency: string;
  status: Status;
  stage: string;
  createdAt: string;
  updatedAt: string;
}
interface PageBody {
  items: DealBody[];
  total: number;
  page: number;
  pageSize: number;
}
interface CursorBody {
  items: DealBody[];
  nextCursor: string | null;
}
/** An activity row as stored; `at` is created_at with microseconds, `createdAt` as the API shows it. */
interface ActivityRow {
  type: string;
  authorId: string | null;
  payload: Record<string, unknown>;
  at: string;
  createdAt: string;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const idsOf = (items: { id: string }[]): string[] => items.map((d) => d.id);

describe('Deals (API.md sections 4 and 6)', () => {
  let t: TestApp;
  let team: Team;
  /** The organization each session acts in. */
  const orgOf = new Map<Session, string>();
  /** One contact owned by each role of `team`, and one of the outsider's organization. */
  const contactOf = {} as Record<Role | 'outsider', string>;

  const enrol = (tm: Team): void => {
    for (const role of ROLES) orgOf.set(tm[role], tm.organizationId);
    orgOf.set(tm.outsider, tm.outsider.organizationId);
  };
  const headers = (s: Session): Record<string, string> => as(s, orgOf.get(s) ?? s.organizationId);

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    enrol(team);
    for (const role of [...ROLES, 'outsider'] as const) {
      contactOf[role] = await createContact(role === 'outsider' ? team.outsider : team[role]);
    }
  });
  afterAll(() => t.close());

  // ---------------------------------------------------------------- helpers

  async function createContact(s: Session, name = 'Ada Lovelace'): Promise<string> {
    const res = await t.http().post(CONTACTS).set(headers(s)).send({ name });
    expect(res.status).toBe(201);
    return (res.body as { id: string }).id;
  }
  const postDeal = (s: Session, body: Record<string, unknown>): Test =>
    t.http().post(DEALS).set(headers(s)).send(body);
  const getDeal = (s: Session, id: string): Test => t.http().get(`${DEALS}/${id}`).set(headers(s));
  const patchDeal = (s: Session, id: string, body: Record<string, unknown>): Test =>
    t.http().patch(`${DEALS}/${id}`).set(headers(s)).send(body);
  const deleteDeal = (s: Session, id: string): Test =>
    t.http().delete(`${DEALS}/${id}`).set(headers(s));
  const listDeals = (s: Session, query = ''): Test =>
    t
      .http()
      .get(`${DEALS}${query ? `?${query}` : ''}`)
      .set(headers(s));
  const timeline = (s: Session, dealId: string, query = ''): Test =>
    t
      .http()
      .get(`${DEALS}/${dealId}/activities${query ? `?${query}` : ''}`)
      .set(headers(s));
  const comment = (s: Session, dealId: string, text = 'hello'): Test =>
    t
      .http()
      .post(`${DEALS}/${dealId}/activities`)
      .set(headers(s))
      .send({ type: 'comment', payload: { text } });

  async function createDeal(s: Session, body: Record<string, unknown>): Promise<DealBody> {
    const res = await postDeal(s, { title: 'Deal', ...body });
    expect(res.status).toBe(201);
    return res.body as DealBody;
  }

  /** A deal of `role` on their contact, with an amount that allows winning (unless overridden). */
  function dealOf(role: Role, extra: Record<string, unknown> = {}): Promise<DealBody> {
    return createDeal(team[role], { contactId: contactOf[role], amount: '100', ...extra });
  }

  async function activities(dealId: string): Promise<ActivityRow[]> {
    const rows: {
      type: string;
      author_id: string | null;
      payload: Record<string, unknown>;
      at: string;
      created_at: Date;
    }[] = await t.db.query(
      `SELECT type, author_id, payload, created_at::text AS at, created_at
         FROM activities WHERE deal_id = $1 ORDER BY created_at, id`,
      [dealId],
    );
    return rows.map((r) => ({
      type: r.type,
      authorId: r.author_id,
      payload: r.payload,
      at: r.at,
      createdAt: r.created_at.toISOString(),
    }));
  }
  /** The activities after the deal_created entry, without timestamps. */
  /**
   * The changes recorded after the deal was created (a deal created in a later status records
   * its walk through the status machine in the creating transaction, at deal_created's time).
   */
  async function changes(dealId: string): Promise<Omit<ActivityRow, 'at' | 'createdAt'>[]> {
    const rows = await activities(dealId);
    const created = rows.find((a) => a.type === 'system')?.at;
    return rows
      .filter((a) => a.type !== 'system' && a.at !== created)
      .map(({ type, authorId, payload }) => ({ type, authorId, payload }));
  }

  async function dealRow(id: string): Promise<Record<string, unknown> | undefined> {
    const rows: Record<string, unknown>[] = await t.db.query(
      `SELECT *, updated_at::text AS updated_text FROM deals WHERE id = $1`,
      [id],
    );
    return rows[0];
  }
  async function dbCounts(): Promise<Record<string, number>> {
    const rows: Record<string, number>[] = await t.db.query(
      `SELECT (SELECT count(*)::int FROM deals) AS deals,
              (SELECT count(*)::int FROM activities) AS activities`,
    );
    return rows[0];
  }

  /** Runs `refused` and checks that the deal row and its timeline are exactly as before. */
  async function expectNothingWritten(dealId: string, refused: () => Promise<void>): Promise<void> {
    const before = { deal: await dealRow(dealId), activities: await activities(dealId) };
    const counts = await dbCounts();
    await refused();
    expect({ deal: await dealRow(dealId), activities: await activities(dealId) }).toEqual(before);
    expect(await dbCounts()).toEqual(counts);
  }

  // ---------------------------------------------------------------- POST /deals

  describe('POST /deals', () => {
    it('answers 201 with exactly the Deal fields and the documented defaults', async () => {
      const res = await postDeal(team.member, { contactId: contactOf.member, title: 'Renewal' });
      expect(res.status).toBe(201);
      expect(keysOf(res.body)).toEqual(DEAL_KEYS);
      const deal = res.body as DealBody;
      expect(deal).toEqual({
        id: expect.stringMatching(UUID),
        organizationId: team.organizationId,
        contactId: contactOf.member,
        pipelineId: expect.stringMatching(UUID),
        ownerId: team.member.userId,
        title: 'Renewal',
        amount: '0.00',
        currency: 'USD',
        status: 'new',
        stage: 'qualification',
        lostReason: null,
        createdAt: expect.stringMatching(ISO_TIMESTAMP),
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(deal.updatedAt).toBe(deal.createdAt);
      const got = await getDeal(team.member, deal.id);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(deal);
    });

    it('trims the title', async () => {
      const deal = await createDeal(team.member, { contactId: contactOf.member, title: '  Big  ' });
      expect(deal.title).toBe('Big');
    });

    it.each([
      [1500, '1500.00'],
      ['1500', '1500.00'],
      ['12.5', '12.50'],
      [12.5, '12.50'],
      [0.1, '0.10'],
      ['0.01', '0.01'],
      [0, '0.00'],
      ['0', '0.00'],
      ['007', '7.00'],
      ['999999999999.99', '999999999999.99'],
      [999999999999, '999999999999.00'],
    ])('accepts amount %j and answers it as %j everywhere', async (amount, expected) => {
      const deal = await createDeal(team.owner, { contactId: contactOf.owner, amount });
      expect(deal.amount).toBe(expected);
      expect(((await getDeal(team.owner, deal.id)).body as DealBody).amount).toBe(expected);
      const list = await listDeals(team.owner, `contactId=${contactOf.owner}&pageSize=100`);
      expect((list.body as PageBody).items.find((d) => d.id === deal.id)?.amount).toBe(expected);
    });

    it.each([
      ['a negative number', -1],
      ['a negative string', '-1'],
      ['-0.01', '-0.01'],
      ['three decimals (string)', '1.234'],
      ['three decimals (number)', 1.234],
      ['not numeric', 'abc'],
      ['1e13', 1e13],
      ['13 integer digits', '1000000000000'],
      ['exponent notation', '1e3'],
      ['an empty string', ''],
      ['a boolean', true],
      ['an object', { value: 1 }],
      ['NaN-like string', 'NaN'],
    ])(
      'answers 400 VALIDATION_FAILED for amount as %s and writes nothing',
      async (_label, amount) => {
        const before = await dbCounts();
        expectValidation(
          await postDeal(team.owner, { contactId: contactOf.owner, title: 'X', amount }),
          'amount',
        );
        expect(await dbCounts()).toEqual(before);
      },
    );

    describe('currency', () => {
      it.each([
        ['eur', 'EUR'],
        ['Gbp', 'GBP'],
        ['JPY', 'JPY'],
      ])('accepts %j case-insensitively and answers %j', async (currency, expected) => {
        const deal = await createDeal(team.manager, { contactId: contactOf.manager, currency });
        expect(deal.currency).toBe(expected);
        expect(((await getDeal(team.manager, deal.id)).body as DealBody).currency).toBe(expected);
      });

      it.each(['XXQ', 'abc'])(
        'answers 422 UNSUPPORTED_CURRENCY for %j and writes nothing',
        async (currency) => {
          const before = await dbCounts();
          expectError(
            await postDeal(team.owner, { contactId: contactOf.owner, title: 'X', currency }),
            422,
            'UNSUPPORTED_CURRENCY',
          );
          expect(await dbCounts()).toEqual(before);
        },
      );

      it.each([['EURO'], ['EU'], ['E1R'], [123]])(
        'answers 400 VALIDATION_FAILED for %j',
        async (currency) => {
          expectValidation(
            await postDeal(team.owner, { contactId: contactOf.owner, title: 'X', currency }),
            'currency',
          );
        },
      );

      it("defaults to the organization's defaultCurrency when set, else USD", async () => {
        const owner = await register(t, 'eur-owner', 'Euro Org');
        const contactId = await createContact(owner);
        const setDefault = (defaultCurrency: string | null) =>
          t
            .http()
            .patch(`${API}/organizations/current`)
            .set(as(owner, owner.organizationId))
            .send({ defaultCurrency })
            .expect(200);

        expect((await createDeal(owner, { contactId })).currency).toBe('USD');
        await setDefault('EUR');
        expect((await createDeal(owner, { contactId })).currency).toBe('EUR');
        expect((await createDeal(owner, { contactId, currency: 'sek' })).currency).toBe('SEK');
        await setDefault(null);
        expect((await createDeal(owner, { contactId })).currency).toBe('USD');
      });
    });

    describe('status and stage', () => {
      it('accepts an open status with a stage', async () => {
        const deal = await dealOf('member', { status: 'in_progress', stage: 'negotiation' });
        expect(deal).toEqual(
          expect.objectContaining({ status: 'in_progress', stage: 'negotiation' }),
        );
      });

      it.each([
        ['lost', {}],
        ['won', { amount: 10 }],
        ['won', { amount: 10, stage: 'closed' }],
      ])('a deal created %s (%j) is at the closed stage', async (status, extra) => {
        const deal = await dealOf('manager', { status, ...extra });
        expect(deal).toEqual(expect.objectContaining({ status, stage: 'closed' }));
      });

      it.each([
        ['won with amount 0', { status: 'won', amount: 0 }, 422, 'AMOUNT_REQUIRED_TO_WIN'],
        ['won without amount', { status: 'won', amount: undefined }, 422, 'AMOUNT_REQUIRED_TO_WIN'],
        ['closed while new', { stage: 'closed' }, 422, 'INVALID_STAGE'],
        [
          'closed while in_progress',
          { status: 'in_progress', stage: 'closed' },
          422,
          'INVALID_STAGE',
        ],
        ['won at an open stage', { status: 'won', stage: 'proposal' }, 422, 'INVALID_STAGE'],
        ['lost at an open stage', { status: 'lost', stage: 'qualification' }, 422, 'INVALID_STAGE'],
        ['an unknown stage', { stage: 'demo' }, 422, 'INVALID_STAGE'],
        ['a malformed stage', { stage: 'Bad Stage' }, 400, 'VALIDATION_FAILED'],
        ['an unknown status', { status: 'open' }, 400, 'VALIDATION_FAILED'],
      ])('%s -> %i %s, nothing written', async (_label, extra, status, code) => {
        const before = await dbCounts();
        const res = await postDeal(team.owner, {
          contactId: contactOf.owner,
          title: 'X',
          amount: 5,
          ...extra,
        });
        expectError(res, status, code);
        expect(await dbCounts()).toEqual(before);
      });
    });

    it.each([
      ['contactId missing', { title: 'X' }, 'contactId'],
      ['contactId not a UUID', { title: 'X', contactId: 'nope' }, 'contactId'],
      ['contactId null', { title: 'X', contactId: null }, 'contactId'],
      ['title missing', { contactId: 'OWNER' }, 'title'],
      ['title empty', { contactId: 'OWNER', title: '' }, 'title'],
      ['title blank', { contactId: 'OWNER', title: '   ' }, 'title'],
      ['title of 201 characters', { contactId: 'OWNER', title: 't'.repeat(201) }, 'title'],
      ['title not a string', { contactId: 'OWNER', title: 5 }, 'title'],
      ['title with a NUL character', { contactId: 'OWNER', title: 'a\u0000b' }, 'title'],
      ['ownerId not a UUID', { contactId: 'OWNER', title: 'X', ownerId: 'me' }, 'ownerId'],
      ['unknown property id', { contactId: 'OWNER', title: 'X', id: randomUUID() }, 'id'],
      [
        'unknown property organizationId',
        { contactId: 'OWNER', title: 'X', organizationId: randomUUID() },
        'organizationId',
      ],
      [
        'unknown property createdAt',
        { contactId: 'OWNER', title: 'X', createdAt: '2020-01-01T00:00:00.000Z' },
        'createdAt',
      ],
    ])('answers 400 VALIDATION_FAILED for %s and writes nothing', async (_label, body, field) => {
      const before = await dbCounts();
      // 'OWNER' stands for the owner's contact (created after this table is built)
      const payload = Object.fromEntries(
        Object.entries(body).map(([k, v]) => [k, v === 'OWNER' ? contactOf.owner : v]),
      );
      expectValidation(await postDeal(team.owner, payload), field);
      expect(await dbCounts()).toEqual(before);
    });

    it('accepts a title of exactly 200 characters, counted as characters (emoji too)', async () => {
      const deal = await dealOf('owner', { title: 'x'.repeat(200) });
      expect(deal.title).toHaveLength(200);
      const emoji = await dealOf('owner', { title: '🚀'.repeat(200) });
      expect(emoji.title).toBe('🚀'.repeat(200));
      expectValidation(
        await postDeal(team.owner, { contactId: contactOf.owner, title: '🚀'.repeat(201) }),
        'title',
      );
    });

    it('answers 400 VALIDATION_FAILED for malformed JSON', async () => {
      const res = await t
        .http()
        .post(DEALS)
        .set(headers(team.owner))
        .set('content-type', 'application/json')
        .send('{"title": ');
      expectError(res, 400, 'VALIDATION_FAILED');
    });

    describe('the contact must be visible', () => {
      it.each(['manager', 'admin', 'owner'] as const)(
        "a member using the %s's contact -> 404 NOT_FOUND, nothing written",
        async (other) => {
          const before = await dbCounts();
          expectError(
            await postDeal(team.member, { contactId: contactOf[other], title: 'X' }),
            404,
            'NOT_FOUND',
          );
          expect(await dbCounts()).toEqual(before);
        },
      );

      it.each(ROLES)(
        "the %s using another organization's contact -> 404 NOT_FOUND",
        async (role) => {
          const before = await dbCounts();
          expectError(
            await postDeal(team[role], { contactId: contactOf.outsider, title: 'X' }),
            404,
            'NOT_FOUND',
          );
          expectError(
            await postDeal(team.outsider, { contactId: contactOf[role], title: 'X' }),
            404,
            'NOT_FOUND',
          );
          expect(await dbCounts()).toEqual(before);
        },
      );

      it('an unknown contact -> 404 NOT_FOUND', async () => {
        expectError(
          await postDeal(team.owner, { contactId: randomUUID(), title: 'X' }),
          404,
          'NOT_FOUND',
        );
      });

      it.each(['owner', 'admin', 'manager'] as const)(
        "the %s may use a member's contact (and owns the deal)",
        async (role) => {
          const deal = await createDeal(team[role], { contactId: contactOf.member });
          expect(deal.ownerId).toBe(team[role].userId);
          expect(deal.contactId).toBe(contactOf.member);
        },
      );

      it('visibility (404) comes before the owner rule (403) and the state rules (422)', async () => {
        expectError(
          await postDeal(team.member, {
            contactId: contactOf.manager,
            title: 'X',
            ownerId: team.manager.userId,
            status: 'won',
          }),
          404,
          'NOT_FOUND',
        );
      });
    });

    describe('ownerId', () => {
      it.each(['owner', 'admin', 'manager'] as const)(
        'a member setting ownerId to the %s -> 403 FORBIDDEN, nothing written',
        async (other) => {
          const before = await dbCounts();
          expectError(
            await postDeal(team.member, {
              contactId: contactOf.member,
              title: 'X',
              ownerId: team[other].userId,
            }),
            403,
            'FORBIDDEN',
          );
          expect(await dbCounts()).toEqual(before);
        },
      );

      it('a member may name themselves as owner', async () => {
        const deal = await dealOf('member', { ownerId: team.member.userId });
        expect(deal.ownerId).toBe(team.member.userId);
      });

      it('a member setting another owner with a stage error gets 403 (before 422)', async () => {
        expectError(
          await postDeal(team.member, {
            contactId: contactOf.member,
            title: 'X',
            ownerId: team.owner.userId,
            stage: 'closed',
            currency: 'XXQ',
          }),
          403,
          'FORBIDDEN',
        );
      });

      it.each(['owner', 'admin', 'manager'] as const)(
        'the %s may assign a deal to the member, who then sees it',
        async (role) => {
          const deal = await createDeal(team[role], {
            contactId: contactOf.member,
            ownerId: team.member.userId,
          });
          expect(deal.ownerId).toBe(team.member.userId);
          expect((await getDeal(team.member, deal.id)).status).toBe(200);
        },
      );

      it.each([
        ['the outsider (not a member)', () => team.outsider.userId],
        ['an unknown user', () => randomUUID()],
      ])('ownerId of %s -> 422 INVALID_OWNER, nothing written', async (_label, ownerId) => {
        const before = await dbCounts();
        expectError(
          await postDeal(team.manager, {
            contactId: contactOf.manager,
            title: 'X',
            ownerId: ownerId(),
          }),
          422,
          'INVALID_OWNER',
        );
        expect(await dbCounts()).toEqual(before);
      });

      it('30 parallel creates naming a freshly added member as owner all succeed', async () => {
        const fresh = await register(t, 'fresh');
        await t
          .http()
          .post(`${API}/organizations/current/members`)
          .set(headers(team.owner))
          .send({ email: fresh.email, role: 'member' })
          .expect(201);
        const responses = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            postDeal(team.owner, {
              contactId: contactOf.owner,
              title: `Fresh ${i}`,
              ownerId: fresh.userId,
            }),
          ),
        );
        expect(responses.map((r) => r.status)).toEqual(responses.map(() => 201));
      });
    });

    it('writes exactly one activity: system {event: "deal_created"} without author', async () => {
      const deal = await dealOf('member', { stage: 'proposal' });
      const rows = await activities(deal.id);
      expect(rows).toEqual([
        {
          type: 'system',
          authorId: null,
          payload: { event: 'deal_created' },
          at: expect.any(String),
          createdAt: deal.createdAt,
        },
      ]);
      const res = await timeline(team.member, deal.id);
      expect(res.status).toBe(200);
      expect((res.body as { items: unknown[] }).items).toEqual([
        {
          id: expect.stringMatching(UUID),
          dealId: deal.id,
          authorId: null,
          type: 'system',
          payload: { event: 'deal_created' },
          createdAt: deal.createdAt,
        },
      ]);
    });

    it('answers 401 / 400 / 403 before looking at the body, writing nothing', async () => {
      const before = await dbCounts();
      const body = { contactId: 'nope' };
      expectError(await t.http().post(DEALS).send(body), 401, 'UNAUTHENTICATED');
      expectError(
        await t.http().post(DEALS).set(as(team.owner)).send(body),
        400,
        'INVALID_ORGANIZATION_HEADER',
      );
      expectError(
        await t.http().post(DEALS).set(as(team.outsider, team.organizationId)).send(body),
        403,
        'NOT_A_MEMBER',
      );
      expect(await dbCounts()).toEqual(before);
    });
  });

  // ---------------------------------------------------------------- GET /deals/{id}

  describe('GET /deals/{id}', () => {
    let memberDeal: DealBody;
    let managerDeal: DealBody;
    beforeAll(async () => {
      memberDeal = await dealOf('member');
      managerDeal = await dealOf('manager');
    });

    it.each(ROLES)("the %s sees the member's deal", async (role) => {
      const res = await getDeal(team[role], memberDeal.id);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(memberDeal);
    });

    it.each(['owner', 'admin', 'manager'] as const)(
      "the %s sees the manager's deal",
      async (role) => {
        expect((await getDeal(team[role], managerDeal.id)).body).toEqual(managerDeal);
      },
    );

    it("a member gets 404 NOT_FOUND for other owners' deals", async () => {
      expectError(await getDeal(team.member, managerDeal.id), 404, 'NOT_FOUND');
      const ownerDeal = await dealOf('owner');
      expectError(await getDeal(team.member, ownerDeal.id), 404, 'NOT_FOUND');
    });

    it('an unknown id -> 404, a malformed id -> 400', async () => {
      expectError(await getDeal(team.owner, randomUUID()), 404, 'NOT_FOUND');
      expectValidation(await getDeal(team.owner, 'not-a-uuid'), 'id');
    });
  });

  // ---------------------------------------------------------------- PATCH /deals/{id}

  describe('PATCH /deals/{id}', () => {
    it('changes title, amount and currency; GET answers the same; updatedAt moves on', async () => {
      const deal = await dealOf('member');
      const res = await patchDeal(team.member, deal.id, {
        title: ' New title ',
        amount: '2500.5',
        currency: 'chf',
      });
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(DEAL_KEYS);
      const patched = res.body as DealBody;
      expect(patched).toEqual({
        ...deal,
        title: 'New title',
        amount: '2500.50',
        currency: 'CHF',
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(patched.updatedAt > deal.updatedAt).toBe(true);
      expect((await getDeal(team.member, deal.id)).body).toEqual(patched);
      // no status or stage change: no activity
      expect(await changes(deal.id)).toEqual([]);
    });

    it('accepts the amount as a JSON number', async () => {
      const deal = await dealOf('manager');
      const res = await patchDeal(team.manager, deal.id, { amount: 42 });
      expect((res.body as DealBody).amount).toBe('42.00');
    });

    it('an empty body is a 200 no-op', async () => {
      const deal = await dealOf('member');
      await expectNothingWritten(deal.id, async () => {
        const res = await patchDeal(team.member, deal.id, {});
        expect(res.status).toBe(200);
        expect(res.body).toEqual(deal);
      });
    });

    it.each([
      ['title null', { title: null }, 'title'],
      ['title empty', { title: '' }, 'title'],
      ['title with a NUL character', { title: 'a\u0000b' }, 'title'],
      ['amount negative', { amount: -5 }, 'amount'],
      ['amount with 3 decimals', { amount: '1.001' }, 'amount'],
      ['amount null', { amount: null }, 'amount'],
      ['amount 1e13', { amount: 1e13 }, 'amount'],
      ['currency EURO', { currency: 'EURO' }, 'currency'],
      ['status unknown', { status: 'closed' }, 'status'],
      ['status null', { status: null }, 'status'],
      ['stage null', { stage: null }, 'stage'],
      ['ownerId null', { ownerId: null }, 'ownerId'],
      ['contactId not a UUID', { contactId: 'x' }, 'contactId'],
      ['unknown property', { organizationId: randomUUID() }, 'organizationId'],
      ['unknown property id', { id: randomUUID() }, 'id'],
    ])('answers 400 VALIDATION_FAILED for %s and writes nothing', async (_label, body, field) => {
      const deal = await dealOf('owner');
      await expectNothingWritten(deal.id, async () => {
        expectValidation(await patchDeal(team.owner, deal.id, body), field);
      });
    });

    it('answers 422 UNSUPPORTED_CURRENCY for XXQ and writes nothing', async () => {
      const deal = await dealOf('owner');
      await expectNothingWritten(deal.id, async () => {
        expectError(
          await patchDeal(team.owner, deal.id, { currency: 'xxq' }),
          422,
          'UNSUPPORTED_CURRENCY',
        );
      });
    });

    describe('status machine over HTTP (every pair)', () => {
      const pairs = STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as const));

      it.each(pairs)('%s -> %s', async (from, to) => {
        const deal = await dealOf('member', { status: from });
        const snapshot = async () => ({
          deal: await dealRow(deal.id),
          activities: await activities(deal.id),
        });
        const before = await snapshot();
        const res = await patchDeal(team.member, deal.id, { status: to });
        if (from === to) {
          // a no-op: 200 with the deal as it was, nothing written (not even updatedAt)
          expect(res.status).toBe(200);
          expect(res.body).toEqual(deal);
          expect(await snapshot()).toEqual(before);
        } else if (ALLOWED.has(`${from}->${to}`)) {
          expect(res.status).toBe(200);
          const closing = to === 'won' || to === 'lost';
          expect(res.body).toEqual({
            ...deal,
            status: to,
            stage: closing ? 'closed' : deal.stage,
            updatedAt: expect.stringMatching(ISO_TIMESTAMP),
          });
          // one transaction: the entries share created_at and are ordered by id
          const recorded = await changes(deal.id);
          expect(recorded).toHaveLength(closing ? 2 : 1);
          expect(recorded).toEqual(
            expect.arrayContaining([
              { type: 'status_changed', authorId: team.member.userId, payload: { from, to } },
              ...(closing
                ? [
                    {
                      type: 'stage_changed',
                      authorId: team.member.userId,
                      payload: { from: 'qualification', to: 'closed' },
                    },
                  ]
                : []),
            ]),
          );
          expect((await getDeal(team.member, deal.id)).body).toEqual(res.body);
        } else {
          expectError(res, 409, 'INVALID_STATUS_TRANSITION');
          expect(await snapshot()).toEqual(before);
        }
      });

      it('walks new -> in_progress -> won, recording each step with its author', async () => {
        const deal = await dealOf('member');
        await patchDeal(team.admin, deal.id, { status: 'in_progress' }).expect(200);
        await patchDeal(team.manager, deal.id, { stage: 'proposal' }).expect(200);
        const won = await patchDeal(team.member, deal.id, { status: 'won' });
        expect(won.status).toBe(200);
        expect(won.body).toEqual(expect.objectContaining({ status: 'won', stage: 'closed' }));
        const recorded = await changes(deal.id);
        expect(recorded.slice(0, 2)).toEqual([
          {
            type: 'status_changed',
            authorId: team.admin.userId,
            payload: { from: 'new', to: 'in_progress' },
          },
          {
            type: 'stage_changed',
            authorId: team.manager.userId,
            payload: { from: 'qualification', to: 'proposal' },
          },
        ]);
        // one transaction: same created_at, so their order is the id's
        expect(recorded.slice(2)).toHaveLength(2);
        expect(recorded.slice(2)).toEqual(
          expect.arrayContaining([
            {
              type: 'status_changed',
              authorId: team.member.userId,
              payload: { from: 'in_progress', to: 'won' },
            },
            {
              type: 'stage_changed',
              authorId: team.member.userId,
              payload: { from: 'proposal', to: 'closed' },
            },
          ]),
        );
        // the last two share one transaction (and created_at)
        const rows = await activities(deal.id);
        expect(rows[3].at).toBe(rows[4].at);
        expect(new Set(rows.map((r) => r.at)).size).toBe(4);
      });
    });

    describe('won needs amount > 0', () => {
      it('in_progress -> won with amount 0 -> 422 AMOUNT_REQUIRED_TO_WIN, nothing written', async () => {
        const deal = await dealOf('member', { status: 'in_progress', amount: 0 });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { status: 'won' }),
            422,
            'AMOUNT_REQUIRED_TO_WIN',
          );
        });
      });

      it('the amount in the same request counts', async () => {
        const deal = await dealOf('member', { status: 'in_progress', amount: 0 });
        const res = await patchDeal(team.member, deal.id, { status: 'won', amount: 250 });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(
          expect.objectContaining({ status: 'won', stage: 'closed', amount: '250.00' }),
        );
      });

      it('an amount of 0 in the same request refuses the win', async () => {
        const deal = await dealOf('member', { status: 'in_progress', amount: 100 });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { status: 'won', amount: '0.00' }),
            422,
            'AMOUNT_REQUIRED_TO_WIN',
          );
        });
      });

      it('new -> won with amount 0 is 409 INVALID_STATUS_TRANSITION (409 before 422)', async () => {
        const deal = await dealOf('owner', { amount: 0 });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.owner, deal.id, { status: 'won' }),
            409,
            'INVALID_STATUS_TRANSITION',
          );
          expectError(
            await patchDeal(team.owner, deal.id, { status: 'won', amount: 0 }),
            409,
            'INVALID_STATUS_TRANSITION',
          );
        });
      });
    });

    describe('stage order', () => {
      it.each(ROLES)(
        'the %s may move the stage forward (one change, one activity)',
        async (role) => {
          const deal = await dealOf(role, { status: 'in_progress' });
          const res = await patchDeal(team[role], deal.id, { stage: 'negotiation' });
          expect(res.status).toBe(200);
          expect((res.body as DealBody).stage).toBe('negotiation');
          expect(await changes(deal.id)).toEqual([
            {
              type: 'stage_changed',
              authorId: team[role].userId,
              payload: { from: 'qualification', to: 'negotiation' },
            },
          ]);
        },
      );

      it.each(['manager', 'member'] as const)(
        'the %s moving the stage back -> 403 STAGE_ROLLBACK_FORBIDDEN, nothing written',
        async (role) => {
          const deal = await dealOf(role, { status: 'in_progress', stage: 'negotiation' });
          await expectNothingWritten(deal.id, async () => {
            for (const stage of ['proposal', 'qualification']) {
              expectError(
                await patchDeal(team[role], deal.id, { stage }),
                403,
                'STAGE_ROLLBACK_FORBIDDEN',
              );
            }
          });
        },
      );

      it('a manager may not move back a deal of the member either', async () => {
        const deal = await dealOf('member', { stage: 'proposal' });
        expectError(
          await patchDeal(team.manager, deal.id, { stage: 'qualification' }),
          403,
          'STAGE_ROLLBACK_FORBIDDEN',
        );
      });

      it.each(['owner', 'admin'] as const)('the %s may move the stage back', async (role) => {
        const deal = await dealOf('member', { status: 'in_progress', stage: 'negotiation' });
        const res = await patchDeal(team[role], deal.id, { stage: 'qualification' });
        expect(res.status).toBe(200);
        expect((res.body as DealBody).stage).toBe('qualification');
        expect(await changes(deal.id)).toEqual([
          {
            type: 'stage_changed',
            authorId: team[role].userId,
            payload: { from: 'negotiation', to: 'qualification' },
          },
        ]);
      });

      it('the same stage again is a 200 no-op without activity', async () => {
        const deal = await dealOf('member', { stage: 'proposal' });
        await expectNothingWritten(deal.id, async () => {
          const res = await patchDeal(team.member, deal.id, { stage: 'proposal', status: 'new' });
          expect(res.status).toBe(200);
          expect(res.body).toEqual(deal);
        });
      });

      it('an unknown stage -> 422 INVALID_STAGE', async () => {
        const deal = await dealOf('member');
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { stage: 'demo' }),
            422,
            'INVALID_STAGE',
          );
        });
      });
    });

    describe('closed stage', () => {
      it.each([
        ['won', { amount: 10 }],
        ['lost', {}],
      ])('becoming %s moves the stage to closed, recording both changes', async (to, extra) => {
        const deal = await dealOf('member', { status: 'in_progress', stage: 'negotiation' });
        const res = await patchDeal(team.member, deal.id, { status: to, ...extra });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(expect.objectContaining({ status: to, stage: 'closed' }));
        expect(await changes(deal.id)).toEqual(
          expect.arrayContaining([
            {
              type: 'status_changed',
              authorId: team.member.userId,
              payload: { from: 'in_progress', to },
            },
            {
              type: 'stage_changed',
              authorId: team.member.userId,
              payload: { from: 'negotiation', to: 'closed' },
            },
          ]),
        );
        expect(await changes(deal.id)).toHaveLength(2);
      });

      it.each(['new', 'in_progress'])(
        'closed while %s -> 422 INVALID_STAGE, nothing written',
        async (status) => {
          const deal = await dealOf('owner', { status });
          await expectNothingWritten(deal.id, async () => {
            expectError(
              await patchDeal(team.owner, deal.id, { stage: 'closed' }),
              422,
              'INVALID_STAGE',
            );
          });
        },
      );

      it('{status: won, stage: proposal} -> 422 INVALID_STAGE', async () => {
        const deal = await dealOf('owner', { status: 'in_progress' });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.owner, deal.id, { status: 'won', stage: 'proposal' }),
            422,
            'INVALID_STAGE',
          );
        });
      });

      it.each(['owner', 'admin'] as const)(
        'the stage of a won deal cannot leave closed: the %s gets 422 INVALID_STAGE',
        async (role) => {
          const deal = await dealOf('member', { status: 'won' });
          await expectNothingWritten(deal.id, async () => {
            expectError(
              await patchDeal(team[role], deal.id, { stage: 'negotiation' }),
              422,
              'INVALID_STAGE',
            );
          });
        },
      );

      it('a member moving their lost deal out of closed gets 403 first', async () => {
        const deal = await dealOf('member', { status: 'lost' });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { stage: 'proposal' }),
            403,
            'STAGE_ROLLBACK_FORBIDDEN',
          );
        });
      });

      it('a won deal can still change its title and amount (> 0)', async () => {
        const deal = await dealOf('member', { status: 'won' });
        const res = await patchDeal(team.member, deal.id, {
          title: 'Done',
          amount: 5,
          stage: 'closed',
        });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(
          expect.objectContaining({ title: 'Done', amount: '5.00', stage: 'closed' }),
        );
        expect(await changes(deal.id)).toEqual([]);
      });
    });

    describe('ownerId and contactId', () => {
      it.each(['owner', 'admin', 'manager'] as const)(
        'a member handing their deal to the %s -> 403 FORBIDDEN, nothing written',
        async (other) => {
          const deal = await dealOf('member');
          await expectNothingWritten(deal.id, async () => {
            expectError(
              await patchDeal(team.member, deal.id, { ownerId: team[other].userId }),
              403,
              'FORBIDDEN',
            );
          });
        },
      );

      it('a member naming themselves as owner is a no-op', async () => {
        const deal = await dealOf('member');
        const res = await patchDeal(team.member, deal.id, { ownerId: team.member.userId });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(deal);
      });

      it.each(['owner', 'admin', 'manager'] as const)(
        'the %s may reassign a deal; the previous member owner loses sight of it',
        async (role) => {
          const deal = await dealOf('member');
          const res = await patchDeal(team[role], deal.id, { ownerId: team.manager.userId });
          expect(res.status).toBe(200);
          expect((res.body as DealBody).ownerId).toBe(team.manager.userId);
          expectError(await getDeal(team.member, deal.id), 404, 'NOT_FOUND');
          const back = await patchDeal(team[role], deal.id, { ownerId: team.member.userId });
          expect((back.body as DealBody).ownerId).toBe(team.member.userId);
          expect((await getDeal(team.member, deal.id)).status).toBe(200);
        },
      );

      it.each([
        ['the outsider', () => team.outsider.userId],
        ['an unknown user', () => randomUUID()],
      ])('ownerId of %s -> 422 INVALID_OWNER, nothing written', async (_label, ownerId) => {
        const deal = await dealOf('owner');
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.admin, deal.id, { ownerId: ownerId() }),
            422,
            'INVALID_OWNER',
          );
        });
      });

      it('a member may move their deal to another of their contacts', async () => {
        const deal = await dealOf('member');
        const other = await createContact(team.member, 'Second contact');
        const res = await patchDeal(team.member, deal.id, { contactId: other });
        expect(res.status).toBe(200);
        expect((res.body as DealBody).contactId).toBe(other);
      });

      it('UUIDs are case-insensitive: upper-case ids are answered in lower case', async () => {
        const other = await createContact(team.member, 'Upper contact');
        const created = await createDeal(team.member, {
          contactId: contactOf.member.toUpperCase(),
          ownerId: team.member.userId.toUpperCase(),
        });
        expect(created).toEqual(
          expect.objectContaining({ contactId: contactOf.member, ownerId: team.member.userId }),
        );
        const res = await patchDeal(team.member, created.id.toUpperCase(), {
          contactId: other.toUpperCase(),
          ownerId: team.member.userId.toUpperCase(),
        });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(
          expect.objectContaining({
            id: created.id,
            contactId: other,
            ownerId: team.member.userId,
          }),
        );
        expect((await getDeal(team.member, created.id)).body).toEqual(res.body);
        const listed = await listDeals(team.member, `contactId=${other.toUpperCase()}`);
        expect(idsOf((listed.body as PageBody).items)).toEqual([created.id]);
      });

      it("a member moving their deal to another owner's contact -> 404 NOT_FOUND", async () => {
        const deal = await dealOf('member');
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { contactId: contactOf.manager }),
            404,
            'NOT_FOUND',
          );
        });
      });

      it("anyone moving a deal to another organization's contact -> 404 NOT_FOUND", async () => {
        const deal = await dealOf('owner');
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.owner, deal.id, { contactId: contactOf.outsider }),
            404,
            'NOT_FOUND',
          );
        });
      });
    });

    describe('precedence of failing rules', () => {
      it('an invisible contact is 404 even when other rules fail too', async () => {
        const deal = await dealOf('member', { status: 'in_progress', stage: 'negotiation' });
        await expectNothingWritten(deal.id, async () => {
          // rollback (403), owner change (403), invalid transition (409), closed while new (422)
          expectError(
            await patchDeal(team.member, deal.id, {
              contactId: contactOf.manager,
              stage: 'qualification',
              ownerId: team.owner.userId,
              status: 'new',
            }),
            404,
            'NOT_FOUND',
          );
          expectError(
            await patchDeal(team.owner, deal.id, {
              contactId: contactOf.outsider,
              status: 'new',
              stage: 'closed',
              currency: 'XXQ',
            }),
            404,
            'NOT_FOUND',
          );
        });
      });

      it('a member rolling back with an invalid transition -> 403 STAGE_ROLLBACK_FORBIDDEN', async () => {
        const deal = await dealOf('member', { status: 'in_progress', stage: 'negotiation' });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { status: 'new', stage: 'proposal' }),
            403,
            'STAGE_ROLLBACK_FORBIDDEN',
          );
        });
      });

      it('a member asking for an earlier stage together with won -> 403, not 409 or 422', async () => {
        const deal = await dealOf('member', { stage: 'proposal' });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { status: 'won', stage: 'qualification' }),
            403,
            'STAGE_ROLLBACK_FORBIDDEN',
          );
        });
      });

      it('a member changing the owner with an invalid transition -> 403 FORBIDDEN', async () => {
        const deal = await dealOf('member', { status: 'lost' });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { ownerId: team.owner.userId, status: 'new' }),
            403,
            'FORBIDDEN',
          );
        });
      });

      it('an invalid transition with a currency, owner and stage error -> 409', async () => {
        const deal = await dealOf('owner', { status: 'won' });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.owner, deal.id, {
              status: 'in_progress',
              stage: 'qualification',
              currency: 'XXQ',
              ownerId: team.outsider.userId,
            }),
            409,
            'INVALID_STATUS_TRANSITION',
          );
        });
      });

      it('validation (400) comes before visibility (404)', async () => {
        const deal = await dealOf('manager');
        expectValidation(await patchDeal(team.member, deal.id, { status: 'bogus' }), 'status');
        expectValidation(await patchDeal(team.outsider, deal.id, { amount: -1 }), 'amount');
      });

      it("a member's 404 for another's deal comes before the rules (and writes nothing)", async () => {
        const deal = await dealOf('manager', { status: 'in_progress', stage: 'negotiation' });
        await expectNothingWritten(deal.id, async () => {
          expectError(
            await patchDeal(team.member, deal.id, { stage: 'qualification', status: 'new' }),
            404,
            'NOT_FOUND',
          );
          expectError(
            await patchDeal(team.member, deal.id, { title: 'Mine now' }),
            404,
            'NOT_FOUND',
          );
        });
      });
    });
  });

  // ---------------------------------------------------------------- DELETE /deals/{id}

  describe('DELETE /deals/{id}', () => {
    async function insertTask(deal: DealBody, title = 'Call back'): Promise<void> {
      await t.db.query(
        `INSERT INTO tasks (organization_id, deal_id, title, due_date) VALUES ($1, $2, $3, CURRENT_DATE + 1)`,
        [deal.organizationId, deal.id, title],
      );
    }
    const countOf = async (table: 'tasks' | 'activities', dealId: string): Promise<number> => {
      const rows: { n: number }[] = await t.db.query(
        `SELECT count(*)::int AS n FROM ${table} WHERE deal_id = $1`,
        [dealId],
      );
      return rows[0].n;
    };

    it('answers 204 and takes the tasks and activities with it; GET is 404 afterwards', async () => {
      const deal = await dealOf('member', { status: 'in_progress' });
      const other = await dealOf('member');
      await patchDeal(team.member, deal.id, { stage: 'proposal' }).expect(200);
      await comment(team.member, deal.id).expect(201);
      await insertTask(deal);
      await insertTask(deal, 'Second');
      await insertTask(other);
      expect(await countOf('tasks', deal.id)).toBe(2);
      // deal_created and new -> in_progress (created in progress), the stage change, the comment
      expect(await countOf('activities', deal.id)).toBe(4);

      const res = await deleteDeal(team.member, deal.id);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect(await countOf('tasks', deal.id)).toBe(0);
      expect(await countOf('activities', deal.id)).toBe(0);
      expect(await dealRow(deal.id)).toBeUndefined();
      expectError(await getDeal(team.member, deal.id), 404, 'NOT_FOUND');
      expectError(await timeline(team.owner, deal.id), 404, 'NOT_FOUND');
      expectError(await deleteDeal(team.owner, deal.id), 404, 'NOT_FOUND');
      // the other deal and its task stay
      expect(await countOf('tasks', other.id)).toBe(1);
      expect((await getDeal(team.member, other.id)).status).toBe(200);
    });

    it.each(['owner', 'admin', 'manager'] as const)(
      "the %s may delete the member's deal",
      async (role) => {
        const deal = await dealOf('member');
        await deleteDeal(team[role], deal.id).expect(204);
        expect(await dealRow(deal.id)).toBeUndefined();
      },
    );

    it("a member gets 404 for another owner's deal; the deal stays", async () => {
      const deal = await dealOf('manager');
      await insertTask(deal);
      await expectNothingWritten(deal.id, async () => {
        expectError(await deleteDeal(team.member, deal.id), 404, 'NOT_FOUND');
      });
      expect(await countOf('tasks', deal.id)).toBe(1);
    });

    it('an unknown id -> 404, a malformed id -> 400', async () => {
      expectError(await deleteDeal(team.owner, randomUUID()), 404, 'NOT_FOUND');
      expectValidation(await deleteDeal(team.owner, 'nope'), 'id');
    });
  });

  // ---------------------------------------------------------------- cross-organization isolation

  describe('cross-organization isolation', () => {
    let teamDeal: DealBody;
    let outsiderDeal: DealBody;
    beforeAll(async () => {
      teamDeal = await dealOf('member', { status: 'in_progress' });
      outsiderDeal = await createDeal(team.outsider, { contactId: contactOf.outsider, amount: 1 });
    });

    it.each(ROLES)(
      "the %s gets 404 for the other organization's deal on every endpoint",
      async (role) => {
        const s = team[role];
        const id = outsiderDeal.id;
        await expectNothingWritten(id, async () => {
          expectError(await getDeal(s, id), 404, 'NOT_FOUND');
          expectError(await patchDeal(s, id, { title: 'Mine' }), 404, 'NOT_FOUND');
          expectError(await patchDeal(s, id, { status: 'in_progress' }), 404, 'NOT_FOUND');
          expectError(await deleteDeal(s, id), 404, 'NOT_FOUND');
          expectError(await timeline(s, id), 404, 'NOT_FOUND');
          expectError(await comment(s, id), 404, 'NOT_FOUND');
        });
      },
    );

    it("the outsider gets 404 for the team's deal on every endpoint (in their own organization)", async () => {
      const s = team.outsider;
      const id = teamDeal.id;
      await expectNothingWritten(id, async () => {
        expectError(await getDeal(s, id), 404, 'NOT_FOUND');
        expectError(await patchDeal(s, id, { status: 'won', amount: 5 }), 404, 'NOT_FOUND');
        expectError(await deleteDeal(s, id), 404, 'NOT_FOUND');
        expectError(await timeline(s, id), 404, 'NOT_FOUND');
        expectError(await comment(s, id), 404, 'NOT_FOUND');
      });
    });

    it("the outsider gets 403 NOT_A_MEMBER with the team's organization header", async () => {
      const s = as(team.outsider, team.organizationId);
      expectError(await t.http().get(`${DEALS}/${teamDeal.id}`).set(s), 403, 'NOT_A_MEMBER');
      expectError(await t.http().get(DEALS).set(s), 403, 'NOT_A_MEMBER');
      expectError(await t.http().delete(`${DEALS}/${teamDeal.id}`).set(s), 403, 'NOT_A_MEMBER');
    });

    it("lists never contain the other organization's deals", async () => {
      const mine = idsOf(((await listDeals(team.outsider, 'pageSize=100')).body as PageBody).items);
      expect(mine).toContain(outsiderDeal.id);
      expect(mine).not.toContain(teamDeal.id);
      const orgIds: { organization_id: string; id: string }[] = await t.db.query(
        'SELECT id, organization_id FROM deals WHERE id = ANY($1)',
        [mine],
      );
      expect(orgIds.every((r) => r.organization_id === team.outsider.organizationId)).toBe(true);
      const theirs = await listDeals(team.owner, `contactId=${contactOf.outsider}`);
      expect((theirs.body as PageBody).total).toBe(0);
      const byOwner = await listDeals(team.owner, `ownerId=${team.outsider.userId}`);
      expect((byOwner.body as PageBody).items).toEqual([]);
    });
  });

  // ---------------------------------------------------------------- GET /deals

  describe('GET /deals', () => {
    let lt: Team;
    /** Every deal of `lt`, with sort keys as PostgreSQL orders them. */
    let rows: {
      id: string;
      ownerId: string;
      contactId: string;
      status: string;
      stage: string;
      amount: string;
      title: string;
      createdKey: string;
      updatedKey: string;
    }[];
    let memberContact: string;
    let memberContact2: string;
    let managerContact: string;

    const q = (s: Session, query: string): Promise<Response> => listDeals(s, query);

    type Row = (typeof rows)[number];
    const ORDER_KEYS: Record<string, (r: Row) => string | number> = {
      createdAt: (r) => r.createdKey,
      updatedAt: (r) => r.updatedKey,
      amount: (r) => Number(r.amount),
      title: (r) => r.title,
    };
    function expected(
      orderBy = 'createdAt',
      order: 'asc' | 'desc' = 'desc',
      filter: (r: Row) => boolean = () => true,
    ): string[] {
      const key = ORDER_KEYS[orderBy];
      const sign = order === 'asc' ? 1 : -1;
      return rows
        .filter(filter)
        .sort((a, b) => {
          const ka = key(a);
          const kb = key(b);
          const c = ka < kb ? -1 : ka > kb ? 1 : byCodeUnit(a.id, b.id);
          return sign * c;
        })
        .map((r) => r.id);
    }

    async function walk(s: Session, query: string): Promise<{ ids: string[]; pages: number }> {
      const ids: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
        const res = await q(s, `${query}${suffix}`);
        expect(res.status).toBe(200);
        expect(keysOf(res.body)).toEqual(['items', 'nextCursor']);
        const body = res.body as CursorBody;
        ids.push(...idsOf(body.items));
        cursor = body.nextCursor;
        pages += 1;
      } while (cursor && pages < 50);
      return { ids, pages };
    }

    beforeAll(async () => {
      lt = await createTeam(t);
      enrol(lt);
      memberContact = await createContact(lt.member, 'Member contact');
      managerContact = await createContact(lt.manager, 'Manager contact');
      memberContact2 = await createContact(lt.member, 'Second member contact');
      const specs: [Session, string, Record<string, unknown>][] = [
        [lt.member, memberContact, { title: 'alpha', amount: '100' }],
        [
          lt.member,
          memberContact,
          { title: 'bravo', amount: '100', status: 'in_progress', stage: 'proposal' },
        ],
        [lt.member, memberContact, { title: 'alpha', amount: '500', status: 'won' }],
        [lt.member, memberContact, { title: 'delta', amount: '0', status: 'lost' }],
        [lt.member, memberContact2, { title: 'charlie', amount: '99.99', stage: 'negotiation' }],
        [lt.manager, managerContact, { title: 'alpha', amount: '100' }],
        [lt.manager, managerContact, { title: 'echo', amount: '500.01', status: 'in_progress' }],
        [lt.manager, memberContact, { title: 'bravo', amount: '250.5', status: 'won' }],
        [lt.manager, managerContact, { title: 'foxtrot', amount: '500', stage: 'proposal' }],
        [lt.owner, managerContact, { title: 'alpha', amount: '1000000' }],
        [lt.owner, managerContact, { title: 'golf', amount: '100', status: 'lost' }],
        [
          lt.admin,
          memberContact,
          { title: 'hotel', amount: '0.01', status: 'in_progress', stage: 'negotiation' },
        ],
        [lt.admin, managerContact, { title: 'bravo', amount: '42' }],
      ];
      const ids: string[] = [];
      for (const [s, contactId, body] of specs) {
        ids.push((await createDeal(s, { contactId, ...body })).id);
      }
      // ties on created_at (decided by id), and updated_at differing from created_at order
      await t.db.query(
        `UPDATE deals SET created_at = (SELECT created_at FROM deals WHERE id = $1) WHERE id = ANY($2)`,
        [ids[0], [ids[3], ids[6], ids[9]]],
      );
      await t.db.query(
        `UPDATE deals SET updated_at = now() - interval '1 day' + (random() * interval '1 hour')
          WHERE id = ANY($1)`,
        [ids.filter((_, i) => i % 2 === 0)],
      );
      await t.db.query(
        `UPDATE deals SET updated_at = (SELECT updated_at FROM deals WHERE id = $1) WHERE id = ANY($2)`,
        [ids[1], [ids[5], ids[7]]],
      );
      rows = await t.db.query(
        `SELECT id, owner_id AS "ownerId", contact_id AS "contactId", status, stage,
                amount::text AS amount, title,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') AS "createdKey",
                to_char(updated_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') AS "updatedKey"
           FROM deals WHERE organization_id = $1`,
        [lt.organizationId],
      );
      expect(rows).toHaveLength(specs.length);
    });

    it('answers {items, total, page, pageSize} newest first by default with full Deal items', async () => {
      const res = await q(lt.owner, '');
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(['items', 'page', 'pageSize', 'total']);
      const body = res.body as PageBody;
      expect(body).toEqual(expect.objectContaining({ total: rows.length, page: 1, pageSize: 20 }));
      expect(idsOf(body.items)).toEqual(expected());
      for (const item of body.items) {
        expect(keysOf(item)).toEqual(DEAL_KEYS);
        expect(item.amount).toMatch(/^\d+\.\d{2}$/);
        expect((await getDeal(lt.owner, item.id)).body).toEqual(item);
      }
    });

    it.each(['owner', 'admin', 'manager'] as const)(
      'the %s sees every deal of the organization',
      async (role) => {
        const body = (await q(lt[role], 'pageSize=100')).body as PageBody;
        expect(body.total).toBe(rows.length);
        expect(idsOf(body.items)).toEqual(expected());
      },
    );

    it('a member sees only their own deals, whatever the filters', async () => {
      const own = (r: Row) => r.ownerId === lt.member.userId;
      const body = (await q(lt.member, 'pageSize=100')).body as PageBody;
      expect(body.total).toBe(rows.filter(own).length);
      expect(idsOf(body.items)).toEqual(expected('createdAt', 'desc', own));
      const others = await q(lt.member, `ownerId=${lt.manager.userId}`);
      expect((others.body as PageBody).items).toEqual([]);
      for (const contactId of [memberContact, memberContact2]) {
        const byContact = (await q(lt.member, `contactId=${contactId}`)).body as PageBody;
        expect(idsOf(byContact.items)).toEqual(
          expected('createdAt', 'desc', (r) => own(r) && r.contactId === contactId),
        );
      }
      const walked = await walk(lt.member, 'limit=2');
      expect(walked.ids).toEqual(expected('createdAt', 'desc', own));
    });

    describe('filters', () => {
      const cases: [string, () => string, (r: Row) => boolean][] = [
        ['status=new', () => 'status=new', (r) => r.status === 'new'],
        [
          'status=new&status=won',
          () => 'status=new&status=won',
          (r) => ['new', 'won'].includes(r.status),
        ],
        [
          'status=lost&status=in_progress',
          () => 'status=lost&status=in_progress',
          (r) => ['lost', 'in_progress'].includes(r.status),
        ],
        ['stage=proposal', () => 'stage=proposal', (r) => r.stage === 'proposal'],
        ['stage=closed', () => 'stage=closed', (r) => r.stage === 'closed'],
        ['stage=demo (unknown)', () => 'stage=demo', () => false],
        ['ownerId', () => `ownerId=${lt.manager.userId}`, (r) => r.ownerId === lt.manager.userId],
        ['contactId', () => `contactId=${memberContact}`, (r) => r.contactId === memberContact],
        ['minAmount=100 (inclusive)', () => 'minAmount=100', (r) => Number(r.amount) >= 100],
        ['maxAmount=500 (inclusive)', () => 'maxAmount=500', (r) => Number(r.amount) <= 500],
        [
          'minAmount=100.00&maxAmount=500',
          () => 'minAmount=100.00&maxAmount=500',
          (r) => Number(r.amount) >= 100 && Number(r.amount) <= 500,
        ],
        ['minAmount=0.01', () => 'minAmount=0.01', (r) => Number(r.amount) >= 0.01],
        ['maxAmount=0', () => 'maxAmount=0', (r) => Number(r.amount) <= 0],
        ['minAmount above maxAmount', () => 'minAmount=600&maxAmount=500', () => false],
        [
          'status, stage, contact and amount combined',
          () => `status=new&status=in_progress&contactId=${managerContact}&minAmount=50`,
          (r) =>
            ['new', 'in_progress'].includes(r.status) &&
            r.contactId === managerContact &&
            Number(r.amount) >= 50,
        ],
      ];

      it.each(cases)('%s', async (_label, query, filter) => {
        const res = await q(lt.owner, `${query()}&pageSize=100`);
        expect(res.status).toBe(200);
        const body = res.body as PageBody;
        const want = expected('createdAt', 'desc', filter);
        expect(idsOf(body.items)).toEqual(want);
        expect(body.total).toBe(want.length);
        // the same through keyset pages
        expect((await walk(lt.owner, `${query()}&limit=2`)).ids).toEqual(want);
      });
    });

    describe('ordering', () => {
      const orderings = ['createdAt', 'updatedAt', 'amount', 'title'].flatMap((orderBy) =>
        (['asc', 'desc'] as const).map((order) => [orderBy, order] as const),
      );

      it.each(orderings)(
        'orderBy=%s&order=%s, ties by id; offset pages and keyset pages agree',
        async (orderBy, order) => {
          const want = expected(orderBy, order);
          const all = (await q(lt.owner, `orderBy=${orderBy}&order=${order}&pageSize=100`))
            .body as PageBody;
          expect(idsOf(all.items)).toEqual(want);

          const paged: string[] = [];
          for (let page = 1; page <= 4; page += 1) {
            const body = (
              await q(lt.owner, `orderBy=${orderBy}&order=${order}&page=${page}&pageSize=4`)
            ).body as PageBody;
            expect(body).toEqual(
              expect.objectContaining({ page, pageSize: 4, total: rows.length }),
            );
            paged.push(...idsOf(body.items));
          }
          expect(paged).toEqual(want);

          const walked = await walk(lt.owner, `orderBy=${orderBy}&order=${order}&limit=3`);
          expect(walked.ids).toEqual(want);
          expect(new Set(walked.ids).size).toBe(walked.ids.length);
          expect(walked.pages).toBe(Math.ceil(rows.length / 3));
        },
      );

      it('defaults to orderBy=createdAt desc (ties on created_at exist and are broken by id)', async () => {
        const createdKeys = rows.map((r) => r.createdKey);
        expect(new Set(createdKeys).size).toBeLessThan(createdKeys.length);
        const body = (await q(lt.owner, 'order=desc&orderBy=createdAt&pageSize=100'))
          .body as PageBody;
        expect(idsOf(body.items)).toEqual(
          idsOf(((await q(lt.owner, 'pageSize=100')).body as PageBody).items),
        );
      });

      it('keyset: a cursor without limit pages by 20; the last page has nextCursor null', async () => {
        const first = (await q(lt.owner, 'limit=20')).body as CursorBody;
        expect(idsOf(first.items)).toEqual(expected());
        expect(first.nextCursor).toBeNull();
        const exact = (await q(lt.owner, `limit=${rows.length}`)).body as CursorBody;
        expect(exact.nextCursor).toBeNull();
        const cursorOnly = await q(
          lt.owner,
          `cursor=${encodeURIComponent(((await q(lt.owner, 'limit=1')).body as CursorBody).nextCursor!)}`,
        );
        expect(cursorOnly.status).toBe(200);
        expect(idsOf((cursorOnly.body as CursorBody).items)).toEqual(expected().slice(1, 21));
      });
    });

    describe('cursors are bound to the listing', () => {
      const firstCursor = async (s: Session, query: string): Promise<string> => {
        const body = (await q(s, `${query}&limit=1`)).body as CursorBody;
        expect(body.nextCursor).toEqual(expect.any(String));
        return encodeURIComponent(body.nextCursor!);
      };

      it('a cursor from status=new used with status=won -> 400 (cursor)', async () => {
        const cursor = await firstCursor(lt.owner, 'status=new');
        expectValidation(await q(lt.owner, `status=won&limit=1&cursor=${cursor}`), 'cursor');
        expectValidation(await q(lt.owner, `limit=1&cursor=${cursor}`), 'cursor');
        expect((await q(lt.owner, `status=new&limit=1&cursor=${cursor}`)).status).toBe(200);
      });

      it('the order of repeated status values does not matter', async () => {
        const cursor = await firstCursor(lt.owner, 'status=new&status=won');
        const res = await q(lt.owner, `status=won&status=new&limit=1&cursor=${cursor}`);
        expect(res.status).toBe(200);
      });

      it.each([
        ['another amount range', () => ['minAmount=1', 'minAmount=2']],
        ['another stage', () => ['stage=proposal', 'stage=negotiation']],
        ['another owner', () => [`ownerId=${lt.member.userId}`, `ownerId=${lt.manager.userId}`]],
        ['another contact', () => [`contactId=${memberContact}`, `contactId=${managerContact}`]],
        ['a filter dropped', () => ['minAmount=1', '']],
        ['another ordering', () => ['orderBy=amount', 'orderBy=title']],
        ['another direction', () => ['orderBy=amount&order=asc', 'orderBy=amount&order=desc']],
      ])('%s -> 400 (cursor)', async (_label, queries) => {
        const [from, to] = queries();
        const cursor = await firstCursor(lt.owner, from);
        expectValidation(await q(lt.owner, `${to}&limit=1&cursor=${cursor}`), 'cursor');
        expect((await q(lt.owner, `${from}&limit=1&cursor=${cursor}`)).status).toBe(200);
      });

      it("a cursor of another organization's listing -> 400 (cursor)", async () => {
        const cursor = await firstCursor(lt.owner, 'orderBy=createdAt');
        await createDeal(team.outsider, { contactId: contactOf.outsider });
        await createDeal(team.outsider, { contactId: contactOf.outsider });
        expectValidation(await q(team.outsider, `limit=1&cursor=${cursor}`), 'cursor');
      });

      it('a tampered cursor -> 400 (cursor)', async () => {
        const cursor = decodeURIComponent(await firstCursor(lt.owner, 'orderBy=createdAt'));
        const [body, signature] = cursor.split('.');
        const forged = Buffer.from(
          JSON.stringify({
            ...JSON.parse(Buffer.from(body, 'base64url').toString()),
            id: randomUUID(),
          }),
        ).toString('base64url');
        for (const bad of [`${forged}.${signature}`, `${body}.x${signature.slice(1)}`, 'garbage']) {
          expectValidation(
            await q(lt.owner, `limit=1&cursor=${encodeURIComponent(bad)}`),
            'cursor',
          );
        }
      });
    });

    it.each([
      ['page=0', 'page'],
      ['page=-1', 'page'],
      ['page=abc', 'page'],
      ['pageSize=0', 'pageSize'],
      ['pageSize=101', 'pageSize'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=2&page=1', 'limit'],
      ['limit=2&pageSize=5', 'limit'],
      ['cursor=abc&page=2', 'cursor'],
      ['orderBy=status', 'orderBy'],
      ['orderBy=created_at', 'orderBy'],
      ['order=up', 'order'],
      ['status=open', 'status'],
      ['status=new&status=bogus', 'status'],
      ['stage=Not%20A%20Stage', 'stage'],
      ['ownerId=me', 'ownerId'],
      ['contactId=123', 'contactId'],
      ['minAmount=-1', 'minAmount'],
      ['minAmount=abc', 'minAmount'],
      ['maxAmount=1.001', 'maxAmount'],
      ['maxAmount=1e13', 'maxAmount'],
      ['foo=1', 'foo'],
      ['organizationId=00000000-0000-4000-8000-000000000001', 'organizationId'],
    ])('answers 400 VALIDATION_FAILED for %s', async (query, field) => {
      expectValidation(await q(lt.owner, query), field);
    });

    it('accepts the bounds page=1&pageSize=1 and pageSize=100, limit=1 and limit=100', async () => {
      const one = (await q(lt.owner, 'page=1&pageSize=1')).body as PageBody;
      expect(one.items).toHaveLength(1);
      expect(one.total).toBe(rows.length);
      expect(((await q(lt.owner, 'pageSize=100')).body as PageBody).items).toHaveLength(
        rows.length,
      );
      expect(((await q(lt.owner, 'limit=1')).body as CursorBody).items).toHaveLength(1);
      expect(((await q(lt.owner, 'limit=100')).body as CursorBody).items).toHaveLength(rows.length);
      const beyond = (await q(lt.owner, 'page=99&pageSize=10')).body as PageBody;
      expect(beyond).toEqual({ items: [], total: rows.length, page: 99, pageSize: 10 });
    });
  });

  // ---------------------------------------------------------------- concurrency

  describe('concurrent changes of one deal', () => {
    /** Stage moves first (they keep the deal open and changing), then the status changes. */
    const RACE: Record<string, unknown>[] = [
      ...['proposal', 'negotiation', 'qualification', 'negotiation', 'proposal', 'negotiation'],
      ...['qualification', 'proposal', 'negotiation', 'proposal', 'qualification', 'negotiation'],
    ]
      .map((stage): Record<string, unknown> => ({ stage }))
      .flatMap((body, i) => (i % 4 === 3 ? [body, { status: 'in_progress' }] : [body]))
      .concat([
        { status: 'won', amount: 100 },
        { stage: 'proposal' },
        { status: 'lost' },
        { status: 'in_progress' },
        { status: 'won', amount: 100 },
      ]);

    /**
     * Sends `bodies` in parallel to one deal as `s` and checks the outcome: only 200, 409
     * INVALID_STATUS_TRANSITION and 422 INVALID_STAGE; a consistent deal; and a timeline in which
     * status_changed and stage_changed entries, in time order, chain from the initial state to
     * the final one, with exactly one transaction per 200 answer that changed something.
     */
    async function race(s: Session, deal: DealBody, bodies: Record<string, unknown>[]) {
      const responses = await Promise.all(bodies.map((b) => patchDeal(s, deal.id, b)));
      for (const res of responses) {
        expect([200, 409, 422]).toContain(res.status);
        if (res.status === 409) expectError(res, 409, 'INVALID_STATUS_TRANSITION');
        if (res.status === 422) expectError(res, 422, 'INVALID_STAGE');
        if (res.status === 200) {
          const body = res.body as DealBody;
          expect(['won', 'lost'].includes(body.status)).toBe(body.stage === 'closed');
        }
      }
      const ok = responses.filter((r) => r.status === 200).map((r) => r.body as DealBody);
      expect(ok.length).toBeGreaterThan(0);

      const final = (await getDeal(s, deal.id)).body as DealBody;
      expect(STAGES).toContain(final.stage);
      expect(['won', 'lost'].includes(final.status)).toBe(final.stage === 'closed');

      const rows = (await activities(deal.id)).filter((a) => a.type !== 'system');
      for (const a of rows) expect(a.authorId).toBe(s.userId);
      const chain = (type: string, start: string): string => {
        let current = start;
        for (const a of rows.filter((r) => r.type === type)) {
          expect({ type, ...a.payload }).toEqual({ type, from: current, to: expect.any(String) });
          expect(a.payload.to).not.toBe(current);
          current = a.payload.to as string;
        }
        return current;
      };
      expect(chain('status_changed', deal.status)).toBe(final.status);
      expect(chain('stage_changed', deal.stage)).toBe(final.stage);

      // one transaction per applied change: at most one status and one stage entry each
      const byTransaction = new Map<string, string[]>();
      for (const a of rows) byTransaction.set(a.at, [...(byTransaction.get(a.at) ?? []), a.type]);
      for (const types of byTransaction.values()) expect(new Set(types).size).toBe(types.length);
      // The 200 answers that changed something are exactly the recorded transactions: a change
      // moves updatedAt to its transaction's time, a no-op answers the previous one.
      const changedAt = new Set(ok.map((d) => d.updatedAt).filter((u) => u !== deal.updatedAt));
      const recordedAt = new Set(rows.map((a) => a.createdAt));
      expect([...changedAt].sort()).toEqual([...recordedAt].sort());
      expect(byTransaction.size).toBeGreaterThanOrEqual(recordedAt.size);
      if (rows.length) expect(final.updatedAt).toBe([...recordedAt].sort().pop());
      return { responses, final, rows };
    }

    it('20 parallel PATCHes (stage and status) on one deal: consistent, one activity per change', async () => {
      expect(RACE).toHaveLength(20);
      // a few rounds, each on a fresh deal, to give a misordering a chance to show
      for (let round = 0; round < 4; round += 1) {
        const deal = await dealOf('owner', { amount: 0 });
        const { responses, rows } = await race(team.owner, deal, RACE);
        expect(responses.filter((r) => r.status === 200).length).toBeGreaterThan(1);
        expect(rows.length).toBeGreaterThan(1);
      }
    });

    it('a member racing forward-only moves on their own deal: no 500s, no broken chain', async () => {
      const deal = await dealOf('member', { amount: 5, status: 'in_progress' });
      const bodies = [
        ...Array.from({ length: 6 }, () => ({ stage: 'proposal' })),
        ...Array.from({ length: 6 }, () => ({ stage: 'negotiation' })),
        ...Array.from({ length: 4 }, () => ({ stage: 'qualification' })),
        { status: 'won' },
        { status: 'lost' },
      ];
      const responses = await Promise.all(bodies.map((b) => patchDeal(team.member, deal.id, b)));
      for (const res of responses) {
        expect([200, 403, 409, 422]).toContain(res.status);
        if (res.status === 403) expectError(res, 403, 'STAGE_ROLLBACK_FORBIDDEN');
      }
      const final = (await getDeal(team.member, deal.id)).body as DealBody;
      expect(['won', 'lost']).toContain(final.status);
      expect(final.stage).toBe('closed');
      const stages = (await activities(deal.id))
        .filter((a) => a.type === 'stage_changed')
        .map((a) => a.payload as { from: string; to: string });
      // forward only: each entry moves to a later stage, chaining from qualification
      let current = 'qualification';
      for (const { from, to } of stages) {
        expect(from).toBe(current);
        expect(STAGES.indexOf(to as (typeof STAGES)[number])).toBeGreaterThan(
          STAGES.indexOf(from as (typeof STAGES)[number]),
        );
        current = to;
      }
      expect(current).toBe('closed');
    });

    it('races on several deals at once: no 500s, no broken chains', async () => {
      const deals = await Promise.all([0, 1, 2].map(() => dealOf('admin', { amount: 0 })));
      await Promise.all(deals.map((d) => race(team.admin, d, RACE.slice(0, 14))));
    });
  });

  // ---------------------------------------------------------------- query cost

  describe('query cost of a list page (no N+1)', () => {
    it('a page costs the same number of SQL queries for 5 and for 50 deals', async () => {
      const owner = await register(t, 'bulk', 'Bulk Org');
      const contactId = await createContact(owner);
      await t.db.query(
        `INSERT INTO deals (organization_id, contact_id, owner_id, title, amount, currency, pipeline_id, stage)
         SELECT $1, $2, $3, 'Bulk ' || i, i, 'USD', p.id, 'qualification'
         FROM generate_series(1, 55) AS i, pipelines p WHERE p.organization_id = $1 AND p.is_default`,
        [owner.organizationId, contactId, owner.userId],
      );
      // warm up (membership cache, prepared paths)
      await listDeals(owner, 'pageSize=5').expect(200);

      const recorded = recordStatements();
      try {
        const cost = async (query: string, n: number): Promise<number> => {
          await consumersIdle(t.db);
          recorded.clear();
          const res = await listDeals(owner, query);
          expect(res.status).toBe(200);
          expect((res.body as { items: unknown[] }).items).toHaveLength(n);
          // The request's statements (not the background workers' polls).
          return recorded.statements().length;
        };
        const small = await cost('pageSize=5', 5);
        const large = await cost('pageSize=50', 50);
        expect(small).toBeGreaterThan(0);
        expect(large).toBe(small);
        const keysetSmall = await cost('limit=5&orderBy=amount', 5);
        const keysetLarge = await cost('limit=50&orderBy=amount', 50);
        expect(keysetLarge).toBe(keysetSmall);
      } finally {
        recorded.restore();
      }
    });
  });
});
