import request from 'supertest';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { redis, redisKeysOf, REDIS_URL } from './support/redis';
import { createTestApp, type TestApp } from './support/test-app';
import { REDIS_ENV } from './support/database';

/*
 * Deal analytics (API.md section 9): every figure is checked against values computed here,
 * independently, from the deals the test created (their state as the deals API answered it),
 * under the visibility rules of section 4, across organizations, and through the cache
 * (in memory and on a real Redis): a write invalidates, a direct SQL change does not.
 */

const API = '/api/v1';
const SUMMARY = `${API}/analytics/deals/summary`;
const FUNNEL = `${API}/analytics/deals/funnel`;
const STATUSES = ['new', 'in_progress', 'won', 'lost'] as const;
const STAGES = ['qualification', 'proposal', 'negotiation', 'closed'] as const;
const DAY_MS = 86_400_000;
/** Redis tests need a real Redis (see the global setup); skipped with a notice without one. */
const describeOnRedis = process.env[REDIS_ENV] ? describe : describe.skip;

type Status = (typeof STATUSES)[number];
type Stage = (typeof STAGES)[number];

interface DealBody {
  id: string;
  ownerId: string;
  status: Status;
  stage: Stage;
  amount: string;
  currency: string;
  createdAt: string;
}

interface DealInput {
  contactId?: string;
  title?: string;
  amount?: number | string;
  currency?: string;
  status?: Status;
  stage?: Stage;
  ownerId?: string;
}

/** What the test knows of a deal: its state as the API answered it (or as SQL set it). */
interface DealRecord {
  id: string;
  ownerId: string;
  status: Status;
  stage: Stage;
  amount: string;
  currency: string;
  createdAt: Date;
}

interface SummaryBody {
  byStatus: Record<Status, { count: number; amounts: Record<string, string> }>;
  wonAverageAmount: Record<string, string>;
  newDealsInPeriod: number;
  periodDays: number;
}

interface FunnelBody {
  stages: { stage: Stage; count: number; byStatus: Record<Status, number> }[];
  conversion: { from: Stage; to: Stage; rate: number }[];
}

// ---- the expected figures, computed independently of the server's analytics ----

/** "10.05" -> 1005n: money is added up in integer cents here. */
function cents(amount: string): bigint {
  const match = /^(\d+)\.(\d{2})$/.exec(amount);
  if (!match) throw new Error(`not a two-decimal amount: ${amount}`);
  return BigInt(match[1]) * 100n + BigInt(match[2]);
}

const formatCents = (value: bigint): string =>
  `${value / 100n}.${(value % 100n).toString().padStart(2, '0')}`;

/** sum / count rounded half-up to the cent (amounts are never negative). */
function averageHalfUp(sum: bigint, count: number): string {
  const n = BigInt(count);
  const whole = sum / n;
  const remainder = sum % n;
  return formatCents(remainder * 2n >= n ? whole + 1n : whole);
}

function expectedSummary(deals: DealRecord[], days: number, now = Date.now()): SummaryBody {
  const sums = new Map<Status, Map<string, bigint>>(STATUSES.map((s) => [s, new Map()]));
  const wonCounts = new Map<string, number>();
  const byStatus = Object.fromEntries(
    STATUSES.map((s) => [s, { count: 0, amounts: {} }]),
  ) as SummaryBody['byStatus'];
  for (const d of deals) {
    byStatus[d.status].count += 1;
    const perCurrency = sums.get(d.status)!;
    perCurrency.set(d.currency, (perCurrency.get(d.currency) ?? 0n) + cents(d.amount));
    if (d.status === 'won') wonCounts.set(d.currency, (wonCounts.get(d.currency) ?? 0) + 1);
  }
  for (const status of STATUSES) {
    for (const [currency, sum] of sums.get(status)!) {
      byStatus[status].amounts[currency] = formatCents(sum);
    }
  }
  const wonAverageAmount: Record<string, string> = {};
  for (const [currency, count] of wonCounts) {
    wonAverageAmount[currency] = averageHalfUp(sums.get('won')!.get(currency)!, count);
  }
  return {
    byStatus,
    wonAverageAmount,
    newDealsInPeriod: deals.filter((d) => d.createdAt.getTime() >= now - days * DAY_MS).length,
    periodDays: days,
  };
}

function expectedFunnel(deals: DealRecord[]): FunnelBody {
  const stages = STAGES.map((stage) => ({
    stage,
    count: deals.filter((d) => d.stage === stage).length,
    byStatus: Object.fromEntries(
      STATUSES.map((s) => [s, deals.filter((d) => d.stage === stage && d.status === s).length]),
    ) as Record<Status, number>,
  }));
  const atOrBeyond = (stage: Stage): number =>
    deals.filter((d) => STAGES.indexOf(d.stage) >= STAGES.indexOf(stage)).length;
  const conversion = STAGES.slice(1).map((to, i) => {
    const from = STAGES[i];
    const whole = atOrBeyond(from);
    const rate = whole === 0 ? 0 : Math.round((atOrBeyond(to) * 10_000) / whole) / 10_000;
    return { from, to, rate };
  });
  return { stages, conversion };
}

// ---- HTTP helpers ----

function summaryOf(
  t: TestApp,
  session: Session,
  organizationId: string,
  days?: number,
): Promise<SummaryBody> {
  return t
    .http()
    .get(SUMMARY)
    .query(days === undefined ? {} : { days })
    .set(as(session, organizationId))
    .then((res) => {
      expect(res.status).toBe(200);
      return res.body as SummaryBody;
    });
}

function funnelOf(t: TestApp, session: Session, organizationId: string): Promise<FunnelBody> {
  return t
    .http()
    .get(FUNNEL)
    .set(as(session, organizationId))
    .then((res) => {
      expect(res.status).toBe(200);
      return res.body as FunnelBody;
    });
}

function toRecord(body: DealBody): DealRecord {
  return {
    id: body.id,
    ownerId: body.ownerId,
    status: body.status,
    stage: body.stage,
    amount: body.amount,
    currency: body.currency,
    createdAt: new Date(body.createdAt),
  };
}

/**
 * The deals of one organization as the test made them: every write goes through the API and
 * the answer is recorded; `sqlUpdate` changes a row behind the application's back (no cache
 * invalidation) and records that too.
 */
class Book {
  constructor(
    private readonly t: TestApp,
    readonly organizationId: string,
    readonly deals = new Map<string, DealRecord>(),
    private readonly contacts = new Map<string, string>(),
  ) {}

  /** The same book, writing through another copy of the application. */
  via(other: TestApp): Book {
    return new Book(other, this.organizationId, this.deals, this.contacts);
  }

  all(): DealRecord[] {
    return [...this.deals.values()];
  }

  /** What `session` may see: everything, or for members their own deals. */
  visibleTo(session: Session, role: 'owner' | 'admin' | 'manager' | 'member'): DealRecord[] {
    return role === 'member' ? this.all().filter((d) => d.ownerId === session.userId) : this.all();
  }

  async contactOf(session: Session): Promise<string> {
    const known = this.contacts.get(session.userId);
    if (known) return known;
    const res = await this.t
      .http()
      .post(`${API}/contacts`)
      .set(as(session, this.organizationId))
      .send({ name: `Contact of ${session.email}` });
    expect(res.status).toBe(201);
    const id = (res.body as { id: string }).id;
    this.contacts.set(session.userId, id);
    return id;
  }

  async create(session: Session, input: DealInput): Promise<DealRecord> {
    const res = await this.t
      .http()
      .post(`${API}/deals`)
      .set(as(session, this.organizationId))
      .send({ contactId: await this.contactOf(session), title: 'A deal', ...input });
    expect(res.status).toBe(201);
    const deal = toRecord(res.body as DealBody);
    this.deals.set(deal.id, deal);
    return deal;
  }

  async change(session: Session, id: string, change: DealInput): Promise<DealRecord> {
    const res = await this.t
      .http()
      .patch(`${API}/deals/${id}`)
      .set(as(session, this.organizationId))
      .send(change);
    expect(res.status).toBe(200);
    const deal = toRecord(res.body as DealBody);
    this.deals.set(deal.id, deal);
    return deal;
  }

  async remove(session: Session, id: string): Promise<void> {
    const res = await this.t
      .http()
      .delete(`${API}/deals/${id}`)
      .set(as(session, this.organizationId));
    expect(res.status).toBe(204);
    this.deals.delete(id);
  }

  /** Sets created_at `days` days back, by SQL (bypasses the cache invalidation). */
  async backdate(id: string, days: number): Promise<void> {
    await this.t.db.query(
      `UPDATE deals SET created_at = now() - make_interval(days => $2) WHERE id = $1`,
      [id, days],
    );
    await this.reload(id);
  }

  /** Adds `cents` to a deal's amount by SQL (bypasses the cache invalidation). */
  async sqlAddToAmount(id: string, delta: string): Promise<void> {
    await this.t.db.query(`UPDATE deals SET amount = amount + $2::numeric WHERE id = $1`, [
      id,
      delta,
    ]);
    await this.reload(id);
  }

  private async reload(id: string): Promise<void> {
    const rows: { created_at: Date; amount: string }[] = await this.t.db.query(
      'SELECT created_at, amount FROM deals WHERE id = $1',
      [id],
    );
    expect(rows).toHaveLength(1);
    const deal = this.deals.get(id)!;
    deal.createdAt = new Date(rows[0].created_at);
    deal.amount = rows[0].amount;
  }
}

/** Asserts that `session`'s summary (default days) and funnel match the book right now. */
async function expectFigures(
  t: TestApp,
  book: Book,
  session: Session,
  role: 'owner' | 'admin' | 'manager' | 'member',
): Promise<void> {
  const deals = book.visibleTo(session, role);
  expect(await summaryOf(t, session, book.organizationId)).toEqual(expectedSummary(deals, 30));
  expect(await funnelOf(t, session, book.organizationId)).toEqual(expectedFunnel(deals));
}

/** A second copy of the application on the same database as `t` (e.g. sharing one Redis). */
async function secondInstance(t: TestApp): Promise<{
  http: () => ReturnType<typeof request>;
  close: () => Promise<void>;
}> {
  const url = t.config.databaseUrl!;
  const app = await createApp(t.config, url, createLogger(t.config));
  await app.getHttpAdapter().getInstance().ready();
  return { http: () => request(app.getHttpServer()), close: () => app.close() };
}

// ---- the tests ----

describe('Deal analytics (API.md section 9)', () => {
  let t: TestApp;
  let team: Team;
  let book: Book;

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    book = new Book(t, team.organizationId);
    const { owner, manager, member } = team;

    // The member's own deals: USD and EUR, all four statuses, a half-up won average in EUR.
    await book.create(member, { amount: '100.00', currency: 'USD' });
    const memberInProgress = await book.create(member, { amount: 50, currency: 'eur' });
    await book.change(member, memberInProgress.id, { status: 'in_progress' });
    await book.create(member, { amount: '10.00', currency: 'EUR', status: 'won' });
    const secondWon = await book.create(member, { amount: '10.05', currency: 'EUR' });
    await book.change(member, secondWon.id, { status: 'in_progress', stage: 'proposal' });
    await book.change(member, secondWon.id, { status: 'won' });
    await book.create(member, { currency: 'GBP', stage: 'proposal' }); // amount 0.00
    const memberLost = await book.create(member, { amount: '7.10', currency: 'USD' });
    await book.change(member, memberLost.id, { status: 'lost' });

    // The rest of the organization: also half-up in USD, and deals created long ago.
    await book.create(owner, { amount: '200.00', currency: 'USD', status: 'won' });
    await book.create(owner, { amount: '300.01', currency: 'USD', status: 'won' });
    const negotiating = await book.create(owner, { amount: '1500.50', currency: 'USD' });
    await book.change(owner, negotiating.id, { status: 'in_progress', stage: 'negotiation' });
    const ownerLost = await book.create(owner, { amount: '75.25', currency: 'EUR' });
    await book.change(owner, ownerLost.id, { status: 'lost' });
    await book.create(owner, { amount: '99.99', currency: 'USD', stage: 'proposal' });
    const old40 = await book.create(owner, { amount: '33.33', currency: 'USD' });
    const old31 = await book.create(owner, { amount: '12.34', currency: 'EUR' });
    const old29 = await book.create(manager, { amount: '45.67', currency: 'EUR' });
    const old400 = await book.create(manager, { amount: '1.00', currency: 'USD', status: 'lost' });
    // A deal the manager creates for the member counts as the member's.
    const forMember = await book.create(manager, {
      amount: '20.00',
      currency: 'EUR',
      ownerId: member.userId,
    });
    await book.change(manager, forMember.id, { stage: 'proposal' });

    // Before the first analytics call, so no cached answer can ignore these SQL changes.
    await book.backdate(old40.id, 40);
    await book.backdate(old31.id, 31);
    await book.backdate(old29.id, 29);
    await book.backdate(old400.id, 400);
    await book.backdate(memberLost.id, 100);
  });

  afterAll(() => t.close());

  describe('figures', () => {
    it('the data set covers two currencies, all statuses and stages, and deals older than 30 days', () => {
      const deals = book.all();
      expect(new Set(deals.map((d) => d.currency))).toEqual(new Set(['USD', 'EUR', 'GBP']));
      expect(new Set(deals.map((d) => d.status))).toEqual(new Set(STATUSES));
      expect(new Set(deals.map((d) => d.stage))).toEqual(new Set(STAGES));
      expect(deals.filter((d) => d.createdAt.getTime() < Date.now() - 30 * DAY_MS)).toHaveLength(4);
    });

    it.each(['owner', 'admin', 'manager'] as const)(
      'the summary covers the whole organization for role %s',
      async (role) => {
        const body = await summaryOf(t, team[role], team.organizationId);
        expect(body).toEqual(expectedSummary(book.all(), 30));
        expect(Object.keys(body).sort()).toEqual([
          'byStatus',
          'newDealsInPeriod',
          'periodDays',
          'wonAverageAmount',
        ]);
        expect(Object.keys(body.byStatus).sort()).toEqual([...STATUSES].sort());
      },
    );

    it('the summary never adds amounts across currencies and rounds won averages half-up', async () => {
      const body = await summaryOf(t, team.owner, team.organizationId);
      for (const status of STATUSES) {
        for (const amount of Object.values(body.byStatus[status].amounts)) {
          expect(amount).toMatch(/^\d+\.\d{2}$/);
        }
      }
      // Won EUR: 10.00 and 10.05 -> 10.025 -> 10.03; won USD: 200.00 and 300.01 -> 250.005 -> 250.01.
      expect(body.wonAverageAmount).toEqual({ EUR: '10.03', USD: '250.01' });
      expect(body.byStatus.won.amounts).toEqual({ EUR: '20.05', USD: '500.01' });
      // A currency with only zero amounts still shows up with "0.00" (the deal counts).
      const memberBody = await summaryOf(t, team.member, team.organizationId);
      expect(memberBody.byStatus.new.amounts).toEqual({
        USD: '100.00',
        EUR: '20.00',
        GBP: '0.00',
      });
    });

    it('a member sees figures over their own deals only (also those others created for them)', async () => {
      const mine = book.visibleTo(team.member, 'member');
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.length).toBeLessThan(book.all().length);
      await expectFigures(t, book, team.member, 'member');
      const body = await summaryOf(t, team.member, team.organizationId);
      expect(body.wonAverageAmount).toEqual({ EUR: '10.03' });
    });

    it('newDealsInPeriod counts the deals created in the last `days` days', async () => {
      for (const days of [1, 28, 30, 35, 100, 365]) {
        for (const [session, role] of [
          [team.manager, 'manager'],
          [team.member, 'member'],
        ] as const) {
          const body = await summaryOf(t, session, team.organizationId, days);
          const expected = expectedSummary(book.visibleTo(session, role), days);
          expect({ days, role, body }).toEqual({ days, role, body: expected });
        }
      }
      // Sanity of the data: the backdated deals fall outside 30 days, not outside 365 (but one).
      const all = book.all().length;
      expect((await summaryOf(t, team.owner, team.organizationId, 30)).newDealsInPeriod).toBe(
        all - 4,
      );
      expect((await summaryOf(t, team.owner, team.organizationId, 365)).newDealsInPeriod).toBe(
        all - 1,
      );
    });

    it('days defaults to 30', async () => {
      const body = await summaryOf(t, team.owner, team.organizationId);
      expect(body.periodDays).toBe(30);
      expect(body).toEqual(await summaryOf(t, team.owner, team.organizationId, 30));
    });

    it.each(['0', '366', 'abc', '-1', '1.5', '', '1e2', '30&days=31'])(
      'days=%s answers 400 VALIDATION_FAILED',
      async (days) => {
        const res = await t
          .http()
          .get(`${SUMMARY}?days=${days}`)
          .set(as(team.owner, team.organizationId));
        expectError(res, 400, 'VALIDATION_FAILED');
        expect(res.body.details).toEqual(
          expect.arrayContaining([{ field: 'days', message: expect.any(String) }]),
        );
      },
    );

    it('an unknown query parameter answers 400', async () => {
      const res = await t
        .http()
        .get(`${SUMMARY}?period=30`)
        .set(as(team.owner, team.organizationId));
      expectError(res, 400, 'VALIDATION_FAILED');
    });

    it.each(['owner', 'admin', 'manager'] as const)(
      'the funnel covers the whole organization for role %s',
      async (role) => {
        const body = await funnelOf(t, team[role], team.organizationId);
        expect(body).toEqual(expectedFunnel(book.all()));
        expect(body.stages.map((s) => s.stage)).toEqual([...STAGES]);
        expect(body.conversion.map((c) => [c.from, c.to])).toEqual([
          ['qualification', 'proposal'],
          ['proposal', 'negotiation'],
          ['negotiation', 'closed'],
        ]);
        for (const { rate } of body.conversion) {
          expect(typeof rate).toBe('number');
          expect(Math.round(rate * 10_000) / 10_000).toBe(rate);
        }
        // The counts add up to the deals, each stage's count to its statuses.
        expect(body.stages.reduce((n, s) => n + s.count, 0)).toBe(book.all().length);
        for (const stage of body.stages) {
          expect(Object.values(stage.byStatus).reduce((n, c) => n + c, 0)).toBe(stage.count);
        }
      },
    );

    it('the funnel of a member covers their own deals only', async () => {
      const body = await funnelOf(t, team.member, team.organizationId);
      expect(body).toEqual(expectedFunnel(book.visibleTo(team.member, 'member')));
    });

    it('an organization without deals: four empty statuses and stages, rates 0', async () => {
      const lonely = await register(t, 'lonely', 'Empty Org');
      expect(await summaryOf(t, lonely, lonely.organizationId, 7)).toEqual({
        byStatus: {
          new: { count: 0, amounts: {} },
          in_progress: { count: 0, amounts: {} },
          won: { count: 0, amounts: {} },
          lost: { count: 0, amounts: {} },
        },
        wonAverageAmount: {},
        newDealsInPeriod: 0,
        periodDays: 7,
      });
      expect(await funnelOf(t, lonely, lonely.organizationId)).toEqual(expectedFunnel([]));
      expect(
        (await funnelOf(t, lonely, lonely.organizationId)).conversion.map((c) => c.rate),
      ).toEqual([0, 0, 0]);
    });

    it('conversion rates are rounded to 4 decimals (2/3 -> 0.6667)', async () => {
      const solo = await register(t, 'solo', 'Funnel Org');
      const own = new Book(t, solo.organizationId);
      // qualification: 1, proposal: 1, negotiation: 0, closed: 1 (lost)
      await own.create(solo, { amount: 1, currency: 'USD' });
      await own.create(solo, { amount: 1, currency: 'USD', stage: 'proposal' });
      await own.create(solo, { amount: 1, currency: 'USD', status: 'lost' });
      const body = await funnelOf(t, solo, solo.organizationId);
      expect(body).toEqual(expectedFunnel(own.all()));
      expect(body.conversion.map((c) => c.rate)).toEqual([0.6667, 0.5, 1]);
    });

    it('a rate exactly halfway at the fifth decimal rounds up (1/32 = 0.03125 -> 0.0313)', async () => {
      const solo = await register(t, 'halfway', 'Halfway Org');
      const own = new Book(t, solo.organizationId);
      await own.contactOf(solo);
      await Promise.all(
        Array.from({ length: 31 }, () => own.create(solo, { amount: 1, currency: 'USD' })),
      );
      await own.create(solo, { amount: 1, currency: 'USD', stage: 'proposal' });
      const body = await funnelOf(t, solo, solo.organizationId);
      expect(body).toEqual(expectedFunnel(own.all()));
      expect(body.conversion.map((c) => c.rate)).toEqual([0.0313, 0, 0]);
    });
  });

  describe('organizations and access', () => {
    it("another organization's deals never count, and it sees only its own", async () => {
      const other = new Book(t, team.outsider.organizationId);
      await other.create(team.outsider, { amount: '999.99', currency: 'USD', status: 'won' });
      await other.create(team.outsider, { amount: '5.00', currency: 'GBP' });
      await expectFigures(t, book, team.owner, 'owner');
      await expectFigures(t, book, team.member, 'member');
      await expectFigures(t, other, team.outsider, 'owner');
      const body = await summaryOf(t, team.outsider, team.outsider.organizationId);
      expect(body.byStatus.won).toEqual({ count: 1, amounts: { USD: '999.99' } });
    });

    it("a caller outside the organization gets 403 NOT_A_MEMBER, not the organization's figures", async () => {
      for (const path of [SUMMARY, FUNNEL]) {
        const res = await t.http().get(path).set(as(team.outsider, team.organizationId));
        expectError(res, 403, 'NOT_A_MEMBER');
      }
    });

    it('needs a token and the organization header', async () => {
      for (const path of [SUMMARY, FUNNEL]) {
        expectError(await t.http().get(path), 401, 'UNAUTHENTICATED');
        expectError(
          await t.http().get(path).set(as(team.owner)),
          400,
          'INVALID_ORGANIZATION_HEADER',
        );
      }
    });
  });

  describe('cache and invalidation (in-memory store)', () => {
    /** Primes the cache of the writer and of the member, runs `write`, then checks both. */
    async function afterWrite(
      writer: Session,
      writerRole: 'owner' | 'admin' | 'manager' | 'member',
      write: () => Promise<unknown>,
    ): Promise<void> {
      await expectFigures(t, book, writer, writerRole);
      await expectFigures(t, book, team.member, 'member');
      await write();
      await expectFigures(t, book, writer, writerRole);
      await expectFigures(t, book, team.member, 'member');
    }

    it('a create is reflected by the next summary and funnel', async () => {
      await afterWrite(team.member, 'member', () =>
        book.create(team.member, { amount: '11.11', currency: 'EUR' }),
      );
      await afterWrite(team.manager, 'manager', () =>
        book.create(team.manager, { amount: '22.22', currency: 'USD', status: 'won' }),
      );
    });

    it('status, stage, amount, currency and owner changes are reflected at once', async () => {
      const deal = await book.create(team.member, { amount: '40.00', currency: 'USD' });
      await afterWrite(team.member, 'member', () =>
        book.change(team.member, deal.id, { stage: 'proposal' }),
      );
      await afterWrite(team.member, 'member', () =>
        book.change(team.member, deal.id, { status: 'in_progress' }),
      );
      await afterWrite(team.member, 'member', () =>
        book.change(team.member, deal.id, { amount: '40.05' }),
      );
      await afterWrite(team.member, 'member', () =>
        book.change(team.member, deal.id, { currency: 'EUR' }),
      );
      await afterWrite(team.owner, 'owner', () =>
        book.change(team.owner, deal.id, { stage: 'qualification' }),
      );
      await afterWrite(team.member, 'member', () =>
        book.change(team.member, deal.id, { status: 'won' }),
      );
      // Reassigned by a manager: it leaves the member's figures at once.
      await afterWrite(team.manager, 'manager', () =>
        book.change(team.manager, deal.id, { ownerId: team.owner.userId }),
      );
    });

    it('a delete is reflected at once', async () => {
      const deal = await book.create(team.member, { amount: '3.00', currency: 'USD' });
      await afterWrite(team.member, 'member', () => book.remove(team.member, deal.id));
    });

    it('answers come from the cache: a SQL change stays unseen until a deal write invalidates', async () => {
      const target = book.all().find((d) => d.ownerId === team.member.userId)!;
      const ownerBefore = await summaryOf(t, team.owner, team.organizationId);
      const memberBefore = await summaryOf(t, team.member, team.organizationId);
      const funnelBefore = await funnelOf(t, team.owner, team.organizationId);
      await book.sqlAddToAmount(target.id, '1000.00');
      await t.db.query(`UPDATE deals SET stage = 'negotiation' WHERE id = $1 AND status = 'new'`, [
        target.id,
      ]);
      // Cached: unchanged, though the database changed.
      expect(await summaryOf(t, team.owner, team.organizationId)).toEqual(ownerBefore);
      expect(await summaryOf(t, team.member, team.organizationId)).toEqual(memberBefore);
      expect(await funnelOf(t, team.owner, team.organizationId)).toEqual(funnelBefore);
      expect(ownerBefore).not.toEqual(expectedSummary(book.all(), 30));
      // Another days value is another entry: computed now, so it already sees the change.
      expect(await summaryOf(t, team.owner, team.organizationId, 31)).toEqual(
        expectedSummary(book.all(), 31),
      );
      // Any deal write of the organization invalidates every scope's entries.
      const other = book.all().find((d) => d.ownerId !== team.member.userId)!;
      await book.change(team.owner, other.id, { title: 'Renamed' });
      const rows: { stage: Stage }[] = await t.db.query('SELECT stage FROM deals WHERE id = $1', [
        target.id,
      ]);
      book.deals.get(target.id)!.stage = rows[0].stage;
      await expectFigures(t, book, team.owner, 'owner');
      await expectFigures(t, book, team.member, 'member');
    });

    it('with ANALYTICS_CACHE_TTL_SECONDS=0 a SQL change is visible at once', async () => {
      const uncached = await createTestApp({ ANALYTICS_CACHE_TTL_SECONDS: '0' });
      try {
        const owner = await register(uncached, 'nocache');
        const own = new Book(uncached, owner.organizationId);
        const deal = await own.create(owner, { amount: '10.00', currency: 'USD' });
        await expectFigures(uncached, own, owner, 'owner');
        await own.sqlAddToAmount(deal.id, '5.00');
        await expectFigures(uncached, own, owner, 'owner');
        expect((await summaryOf(uncached, owner, owner.organizationId)).byStatus.new).toEqual({
          count: 1,
          amounts: { USD: '15.00' },
        });
      } finally {
        await uncached.close();
      }
    });

    it('cached answers expire after ANALYTICS_CACHE_TTL_SECONDS', async () => {
      const shortLived = await createTestApp({ ANALYTICS_CACHE_TTL_SECONDS: '1' });
      try {
        const owner = await register(shortLived, 'ttl');
        const own = new Book(shortLived, owner.organizationId);
        const deal = await own.create(owner, { amount: '10.00', currency: 'USD' });
        const before = await summaryOf(shortLived, owner, owner.organizationId);
        expect(before).toEqual(expectedSummary(own.all(), 30));
        await own.sqlAddToAmount(deal.id, '5.00');
        expect(await summaryOf(shortLived, owner, owner.organizationId)).toEqual(before);
        await new Promise((resolve) => setTimeout(resolve, 1_300));
        await expectFigures(shortLived, own, owner, 'owner');
      } finally {
        await shortLived.close();
      }
    });
  });

  describeOnRedis('cache on Redis (REDIS_URL), shared by two app copies', () => {
    let a: TestApp;
    let b: Awaited<ReturnType<typeof secondInstance>>;
    let owner: Session;
    let member: Session;
    let shared: Book;
    /** App B as a TestApp-like target for the helpers (same database as A). */
    let viaB: TestApp;

    beforeAll(async () => {
      expect(await redis('ping')).toBe('PONG');
      a = await createTestApp({ REDIS_URL, ANALYTICS_CACHE_TTL_SECONDS: '60' });
      b = await secondInstance(a);
      viaB = { ...a, http: b.http };
      owner = await register(a, 'redis-owner', 'Redis Org');
      member = await register(a, 'redis-member');
      const res = await a
        .http()
        .post(`${API}/organizations/current/members`)
        .set(as(owner, owner.organizationId))
        .send({ email: member.email, role: 'member' });
      expect(res.status).toBe(201);
      shared = new Book(a, owner.organizationId);
      await shared.create(owner, { amount: '10.00', currency: 'EUR', status: 'won' });
      await shared.create(member, { amount: '10.05', currency: 'EUR', status: 'won' });
      await shared.create(member, { amount: '7.00', currency: 'USD', stage: 'proposal' });
    });

    afterAll(async () => {
      const keys = owner ? await redisKeysOf(owner.organizationId) : [];
      if (keys.length) await redis('del', ...keys);
      await b?.close();
      await a?.close();
    });

    it('stores entries with a TTL in Redis under the organization', async () => {
      await expectFigures(a, shared, owner, 'owner');
      await expectFigures(a, shared, member, 'member');
      const keys = await redisKeysOf(owner.organizationId);
      const entries = keys.filter((k) => k.includes(`:analytics:${owner.organizationId}:`));
      expect(keys.some((k) => k.endsWith(`:generation:${owner.organizationId}`))).toBe(true);
      expect(entries.some((k) => k.endsWith(':deals-summary:all:days=30'))).toBe(true);
      expect(entries.some((k) => k.includes(':deals-funnel:all:pipeline='))).toBe(true);
      expect(entries.some((k) => k.includes(`:deals-summary:owner=${member.userId}:`))).toBe(true);
      for (const key of entries) {
        const ttl = Number(await redis('ttl', key));
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60);
      }
    });

    it('both copies read the same cached answer; a write through A invalidates what B cached', async () => {
      await expectFigures(viaB, shared, owner, 'owner');
      await expectFigures(viaB, shared, member, 'member');
      const ownerBefore = await summaryOf(viaB, owner, owner.organizationId);
      const memberFunnelBefore = await funnelOf(viaB, member, owner.organizationId);
      const target = shared.all().find((d) => d.ownerId === member.userId && d.status === 'won')!;
      await shared.sqlAddToAmount(target.id, '100.00');
      // Cached in Redis: neither copy sees the SQL change.
      expect(await summaryOf(viaB, owner, owner.organizationId)).toEqual(ownerBefore);
      expect(await summaryOf(a, owner, owner.organizationId)).toEqual(ownerBefore);
      expect(await funnelOf(a, member, owner.organizationId)).toEqual(memberFunnelBefore);
      expect(ownerBefore).not.toEqual(expectedSummary(shared.all(), 30));
      // A write through A: B's next answers reflect it (and the SQL change).
      await shared.create(owner, { amount: '1.00', currency: 'USD' });
      await expectFigures(viaB, shared, owner, 'owner');
      await expectFigures(viaB, shared, member, 'member');
    });

    it('every kind of write through one copy is seen by the other at once', async () => {
      const deal = await shared.create(member, { amount: '2.00', currency: 'USD' });
      await expectFigures(viaB, shared, member, 'member');
      await shared.change(member, deal.id, { status: 'in_progress' });
      await expectFigures(viaB, shared, member, 'member');
      await shared.change(member, deal.id, { amount: '2.50', stage: 'negotiation' });
      await expectFigures(viaB, shared, owner, 'owner');
      await expectFigures(viaB, shared, member, 'member');
      await shared.remove(member, deal.id);
      await expectFigures(viaB, shared, owner, 'owner');
      await expectFigures(viaB, shared, member, 'member');
      // And the other way round: written through B, read through A.
      await shared.via(viaB).create(owner, { amount: '3.00', currency: 'EUR', status: 'won' });
      await expectFigures(a, shared, owner, 'owner');
    });

    it('an unreachable Redis neither fails nor blocks deal writes and analytics (answers uncached)', async () => {
      const unreachable = await createTestApp({ REDIS_URL: 'redis://127.0.0.1:1' });
      try {
        const user = await register(unreachable, 'no-redis');
        const own = new Book(unreachable, user.organizationId);
        const started = Date.now();
        const deal = await own.create(user, { amount: '10.00', currency: 'USD' });
        await expectFigures(unreachable, own, user, 'owner');
        await own.change(user, deal.id, { status: 'in_progress' });
        await expectFigures(unreachable, own, user, 'owner');
        await own.sqlAddToAmount(deal.id, '1.00');
        await expectFigures(unreachable, own, user, 'owner');
        expect(Date.now() - started).toBeLessThan(15_000);
      } finally {
        await unreachable.close();
      }
    }, 30_000);
  });
});
