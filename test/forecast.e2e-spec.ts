import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import type { Test } from 'supertest';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';
import { TenantCache } from '../src/common/cache/tenant-cache';
import { PipelinesService } from '../src/modules/pipelines/pipelines.service';

/*
 * The per-pipeline funnel and the weighted forecast (API.md sections 9 and 11). Expected
 * figures are computed here, independently, with integer arithmetic over the deals the test
 * made (their state as the deals API answered it) and the stage probabilities the test gave
 * its pipelines; visibility (members: own deals), other organizations, and the analytics
 * cache (invalidated by deal writes and by a pipeline's stage changes).
 */

const API = '/api/v1';
const DEALS = `${API}/deals`;
const CONTACTS = `${API}/contacts`;
const PIPELINES = `${API}/pipelines`;
const FUNNEL = `${API}/analytics/deals/funnel`;
const FORECAST = `${API}/analytics/deals/forecast`;
const STATUSES = ['new', 'in_progress', 'won', 'lost'] as const;
const ROLES = ['owner', 'admin', 'manager', 'member'] as const;
type Status = (typeof STATUSES)[number];
type Role = (typeof ROLES)[number];

interface StageDef {
  key: string;
  name: string;
  probability: number;
}
interface PipelineBody {
  id: string;
  isDefault: boolean;
  stages: (StageDef & { position: number })[];
}
interface DealBody {
  id: string;
  pipelineId: string;
  ownerId: string;
  status: Status;
  stage: string;
  amount: string;
  currency: string;
}
interface ForecastBody {
  pipelineId: string;
  weighted: Record<string, string>;
  open: Record<string, string>;
}
interface FunnelBody {
  stages: { stage: string; count: number; byStatus: Record<Status, number> }[];
  conversion: { from: string; to: string; rate: number }[];
}

// ---- expectations, computed independently with integer arithmetic ----

/** "10.05" -> 1005n. */
function cents(amount: string): bigint {
  const match = /^(\d+)\.(\d{2})$/.exec(amount);
  if (!match) throw new Error(`not a two-decimal amount: ${amount}`);
  return BigInt(match[1]) * 100n + BigInt(match[2]);
}
const formatCents = (value: bigint): string =>
  `${value / 100n}.${(value % 100n).toString().padStart(2, '0')}`;

/** Per currency over the open deals: sum, and sum of amount x p / 100 rounded half-up once. */
function expectedForecast(
  pipelineId: string,
  stages: StageDef[],
  deals: DealBody[],
  ownerId?: string,
): ForecastBody {
  const probability = new Map(stages.map((s) => [s.key, BigInt(s.probability)]));
  const open = new Map<string, bigint>();
  /** In hundredths of a cent: cents x percent. */
  const weighted = new Map<string, bigint>();
  for (const d of deals) {
    if (d.pipelineId !== pipelineId) continue;
    if (ownerId && d.ownerId !== ownerId) continue;
    if (d.status !== 'new' && d.status !== 'in_progress') continue;
    const p = probability.get(d.stage);
    if (p === undefined) throw new Error(`stage ${d.stage} not in the pipeline`);
    open.set(d.currency, (open.get(d.currency) ?? 0n) + cents(d.amount));
    weighted.set(d.currency, (weighted.get(d.currency) ?? 0n) + cents(d.amount) * p);
  }
  const halfUp = (hundredths: bigint): bigint => (hundredths + 50n) / 100n;
  return {
    pipelineId,
    open: Object.fromEntries([...open].map(([c, v]) => [c, formatCents(v)])),
    weighted: Object.fromEntries([...weighted].map(([c, v]) => [c, formatCents(halfUp(v))])),
  };
}

function expectedFunnel(
  pipelineId: string,
  keys: string[],
  deals: DealBody[],
  ownerId?: string,
): FunnelBody {
  const mine = deals.filter(
    (d) => d.pipelineId === pipelineId && (!ownerId || d.ownerId === ownerId),
  );
  const atOrBeyond = (i: number): number => mine.filter((d) => keys.indexOf(d.stage) >= i).length;
  /** part / whole half-up to 4 decimals, exactly (integers). */
  const rate = (part: number, whole: number): number =>
    whole === 0 ? 0 : Math.floor((2 * part * 10_000 + whole) / (2 * whole)) / 10_000;
  return {
    stages: keys.map((stage) => ({
      stage,
      count: mine.filter((d) => d.stage === stage).length,
      byStatus: Object.fromEntries(
        STATUSES.map((s) => [s, mine.filter((d) => d.stage === stage && d.status === s).length]),
      ) as Record<Status, number>,
    })),
    conversion: keys.slice(1).map((to, i) => ({
      from: keys[i],
      to,
      rate: rate(atOrBeyond(i + 1), atOrBeyond(i)),
    })),
  };
}

// `lead < demo < contract < done`, with a half-up case at demo (12.10 x 25% = 3.025).
const SALES: StageDef[] = [
  { key: 'lead', name: 'Lead', probability: 30 },
  { key: 'demo', name: 'Demo', probability: 25 },
  { key: 'contract', name: 'Contract', probability: 55 },
  { key: 'done', name: 'Done', probability: 100 },
];
const DEFAULT: StageDef[] = [
  { key: 'qualification', name: 'Qualification', probability: 10 },
  { key: 'proposal', name: 'Proposal', probability: 30 },
  { key: 'negotiation', name: 'Negotiation', probability: 60 },
  { key: 'closed', name: 'Closed', probability: 100 },
];

describe('Funnel and forecast per pipeline (API.md sections 9 and 11)', () => {
  let t: TestApp;
  let team: Team;
  const contactOf = {} as Record<Role | 'outsider', string>;
  /** Every deal of the team's organization, as the API last answered it. */
  const deals = new Map<string, DealBody>();
  let sales: PipelineBody;
  let salesStages: StageDef[] = SALES;
  let defaultPipeline: PipelineBody;
  let outsiderPipeline: PipelineBody;

  const headers = (s: Session): Record<string, string> =>
    as(s, s === team.outsider ? s.organizationId : team.organizationId);
  const forecastReq = (s: Session, query = ''): Test =>
    t
      .http()
      .get(`${FORECAST}${query ? `?${query}` : ''}`)
      .set(headers(s));
  const funnelReq = (s: Session, query = ''): Test =>
    t
      .http()
      .get(`${FUNNEL}${query ? `?${query}` : ''}`)
      .set(headers(s));
  async function forecast(s: Session, pipelineId?: string): Promise<ForecastBody> {
    const res = await forecastReq(s, pipelineId ? `pipelineId=${pipelineId}` : '');
    expect(res.status).toBe(200);
    return res.body as ForecastBody;
  }
  async function funnel(s: Session, pipelineId?: string): Promise<FunnelBody> {
    const res = await funnelReq(s, pipelineId ? `pipelineId=${pipelineId}` : '');
    expect(res.status).toBe(200);
    return res.body as FunnelBody;
  }

  function record(res: { status: number; body: unknown }, status = 200): DealBody {
    expect(res.status).toBe(status);
    const deal = res.body as DealBody;
    deals.set(deal.id, deal);
    return deal;
  }
  /** A deal created as `role` and brought to `status` as the owner (through the API). */
  async function deal(
    role: Role,
    amount: string,
    currency: string,
    stage: string,
    status: Status = 'new',
    pipelineId: string = sales.id,
  ): Promise<DealBody> {
    const closed = status === 'won' || status === 'lost';
    let d = record(
      await t
        .http()
        .post(DEALS)
        .set(headers(team[role]))
        .send({
          contactId: contactOf[role],
          title: 'Deal',
          amount,
          currency,
          pipelineId,
          ...(closed ? {} : { stage }),
        }),
      201,
    );
    if (status !== 'new') {
      d = record(
        await t
          .http()
          .patch(`${DEALS}/${d.id}`)
          .set(headers(team.owner))
          .send({ status: 'in_progress' }),
      );
    }
    if (closed) {
      const action = status === 'won' ? 'win' : 'lose';
      d = record(
        await t
          .http()
          .post(`${DEALS}/${d.id}/${action}`)
          .set(headers(team.owner))
          .send(status === 'lost' ? { reason: 'No budget' } : {}),
      );
    }
    return d;
  }
  const all = (): DealBody[] => [...deals.values()];

  async function createPipeline(
    s: Session,
    name: string,
    stages: StageDef[],
    organizationId?: string,
  ): Promise<PipelineBody> {
    const res = await t
      .http()
      .post(PIPELINES)
      .set(organizationId ? as(s, organizationId) : headers(s))
      .send({ name, stages });
    expect(res.status).toBe(201);
    return res.body as PipelineBody;
  }

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    for (const role of [...ROLES, 'outsider'] as const) {
      const s = role === 'outsider' ? team.outsider : team[role];
      const res = await t.http().post(CONTACTS).set(headers(s)).send({ name: 'Ada' });
      expect(res.status).toBe(201);
      contactOf[role] = (res.body as { id: string }).id;
    }
    sales = await createPipeline(team.owner, 'Sales', SALES);
    const list = await t.http().get(PIPELINES).set(headers(team.owner));
    defaultPipeline = (list.body as { items: PipelineBody[] }).items.find((p) => p.isDefault)!;
    const other = await t.http().get(PIPELINES).set(headers(team.outsider));
    outsiderPipeline = (other.body as { items: PipelineBody[] }).items[0];

    // The custom pipeline: two currencies (three with the member's), open and closed deals.
    await deal('owner', '10.05', 'USD', 'lead'); // 3.015
    await deal('admin', '10.05', 'USD', 'lead', 'in_progress'); // + 3.015 + 549.9945 = 556.02
    await deal('manager', '999.99', 'USD', 'contract', 'in_progress');
    await deal('owner', '12.10', 'EUR', 'demo'); // 3.025 -> 3.03 (half-up, not half-even)
    await deal('owner', '0', 'EUR', 'lead');
    await deal('owner', '500.00', 'USD', 'lead', 'won');
    await deal('admin', '70.00', 'EUR', 'lead', 'lost');
    await deal('member', '100.00', 'GBP', 'contract', 'in_progress');
    await deal('member', '0.05', 'GBP', 'demo'); // 0.0125
    await deal('member', '33.33', 'GBP', 'lead', 'won');
    // The default pipeline.
    await deal('owner', '10.05', 'USD', 'proposal', 'new', defaultPipeline.id); // 3.015
    await deal('member', '1.15', 'USD', 'qualification', 'in_progress', defaultPipeline.id);
    await deal('manager', '200.00', 'JPY', 'negotiation', 'new', defaultPipeline.id);
    await deal('admin', '80.00', 'USD', 'qualification', 'lost', defaultPipeline.id);
    // The outsider's organization: must never count here.
    await t
      .http()
      .post(DEALS)
      .set(headers(team.outsider))
      .send({ contactId: contactOf.outsider, title: 'X', amount: '777', currency: 'USD' })
      .expect(201);
  });
  afterAll(() => t.close());

  // ------------------------------------------------------------------ forecast

  describe('GET /analytics/deals/forecast', () => {
    it('has exactly {pipelineId, weighted, open}, amounts as two-decimal strings', async () => {
      const body = await forecast(team.owner, sales.id);
      expect(Object.keys(body).sort()).toEqual(['open', 'pipelineId', 'weighted']);
      for (const value of [...Object.values(body.open), ...Object.values(body.weighted)]) {
        expect(value).toMatch(/^\d+\.\d{2}$/);
      }
    });

    it('sums the open deals per currency and weights them by stage probability, rounding the sum half-up', async () => {
      const expected = expectedForecast(sales.id, salesStages, all());
      // The cases the data was built for, spelled out.
      expect(expected.weighted.USD).toBe(
        formatCents((1005n * 30n * 2n + 99999n * 55n + 50n) / 100n),
      );
      // Rounding each deal first would give 3.02 + 3.02 + 549.99 = 556.03.
      expect(expected.weighted.EUR).toBe('3.03');
      expect(expected).toEqual({
        pipelineId: sales.id,
        open: { USD: '1020.09', EUR: '12.10', GBP: '100.05' },
        weighted: { USD: '556.02', EUR: '3.03', GBP: '55.01' },
      });
      for (const role of ['owner', 'admin', 'manager'] as const) {
        expect(await forecast(team[role], sales.id)).toEqual(expected);
      }
    });

    it('members see the forecast of their own deals only', async () => {
      const expected = expectedForecast(sales.id, salesStages, all(), team.member.userId);
      expect(expected).toEqual({
        pipelineId: sales.id,
        open: { GBP: '100.05' },
        weighted: { GBP: '55.01' },
      });
      expect(await forecast(team.member, sales.id)).toEqual(expected);
    });

    it('without pipelineId it is the default pipeline (with its probabilities)', async () => {
      const expected = expectedForecast(defaultPipeline.id, DEFAULT, all());
      expect(expected).toEqual({
        pipelineId: defaultPipeline.id,
        open: { USD: '11.20', JPY: '200.00' },
        weighted: { USD: '3.13', JPY: '120.00' },
      });
      // 10.05 x 30% = 3.015 and 1.15 x 10% = 0.115: 3.13 summed first (3.02 + 0.12 = 3.14 otherwise).
      expect(await forecast(team.owner)).toEqual(expected);
      expect(await forecast(team.owner, defaultPipeline.id)).toEqual(expected);
      expect(await forecast(team.member)).toEqual(
        expectedForecast(defaultPipeline.id, DEFAULT, all(), team.member.userId),
      );
    });

    it('a pipeline without open deals answers empty objects', async () => {
      const empty = await createPipeline(team.owner, 'Empty', [
        { key: 'a', name: 'A', probability: 50 },
        { key: 'b', name: 'B', probability: 100 },
      ]);
      expect(await forecast(team.manager, empty.id)).toEqual({
        pipelineId: empty.id,
        weighted: {},
        open: {},
      });
      const fresh = await register(t, 'fresh', 'Fresh Org');
      const res = await t.http().get(FORECAST).set(as(fresh, fresh.organizationId));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        pipelineId: expect.any(String),
        weighted: {},
        open: {},
      });
    });

    it("another organization's pipeline or an unknown id is 404; a malformed one or unknown parameter 400", async () => {
      for (const id of [outsiderPipeline.id, randomUUID()]) {
        expectError(await forecastReq(team.owner, `pipelineId=${id}`), 404, 'NOT_FOUND');
        expectError(await forecastReq(team.member, `pipelineId=${id}`), 404, 'NOT_FOUND');
      }
      expectError(await forecastReq(team.outsider, `pipelineId=${sales.id}`), 404, 'NOT_FOUND');
      for (const query of [
        'pipelineId=nope',
        'pipelineId=',
        'days=30',
        `pipelineId=${sales.id}&x=1`,
      ]) {
        expectError(await forecastReq(team.owner, query), 400, 'VALIDATION_FAILED');
      }
      // The outsider's own forecast only sees their deal.
      expect(await forecast(team.outsider)).toEqual({
        pipelineId: outsiderPipeline.id,
        open: { USD: '777.00' },
        weighted: { USD: '77.70' },
      });
    });

    it('handles the largest amounts without overflow (sums beyond numeric(14,2))', async () => {
      const owner = await register(t, 'big', 'Big Org');
      const contact = await t
        .http()
        .post(CONTACTS)
        .set(as(owner, owner.organizationId))
        .send({ name: 'B' });
      const big: DealBody[] = [];
      for (const stage of ['proposal', 'negotiation', 'negotiation']) {
        const res = await t
          .http()
          .post(DEALS)
          .set(as(owner, owner.organizationId))
          .send({
            contactId: (contact.body as { id: string }).id,
            title: 'Big',
            amount: '999999999999.99',
            currency: 'USD',
            stage,
          });
        expect(res.status).toBe(201);
        big.push(res.body as DealBody);
      }
      const res = await t.http().get(FORECAST).set(as(owner, owner.organizationId));
      expect(res.status).toBe(200);
      const pipelineId = (res.body as ForecastBody).pipelineId;
      expect(res.body).toEqual(expectedForecast(pipelineId, DEFAULT, big));
      expect(res.body).toEqual({
        pipelineId,
        open: { USD: '2999999999999.97' },
        weighted: { USD: '1499999999999.99' },
      });
    });
  });

  // ------------------------------------------------------------------ funnel

  describe('GET /analytics/deals/funnel?pipelineId=', () => {
    it("lists the pipeline's stages in its order, with counts and conversion", async () => {
      const expected = expectedFunnel(
        sales.id,
        salesStages.map((s) => s.key),
        all(),
      );
      expect(expected.stages.map((s) => s.count)).toEqual([3, 2, 2, 3]);
      for (const role of ['owner', 'admin', 'manager'] as const) {
        expect(await funnel(team[role], sales.id)).toEqual(expected);
      }
      expect(await funnel(team.member, sales.id)).toEqual(
        expectedFunnel(
          sales.id,
          salesStages.map((s) => s.key),
          all(),
          team.member.userId,
        ),
      );
    });

    it('without pipelineId it is the default pipeline', async () => {
      const keys = DEFAULT.map((s) => s.key);
      const expected = expectedFunnel(defaultPipeline.id, keys, all());
      expect(await funnel(team.owner)).toEqual(expected);
      expect(await funnel(team.owner, defaultPipeline.id)).toEqual(expected);
      expect(await funnel(team.member)).toEqual(
        expectedFunnel(defaultPipeline.id, keys, all(), team.member.userId),
      );
    });

    it("another organization's pipeline or an unknown id is 404; a malformed one 400", async () => {
      for (const id of [outsiderPipeline.id, randomUUID()]) {
        expectError(await funnelReq(team.owner, `pipelineId=${id}`), 404, 'NOT_FOUND');
      }
      expectError(await funnelReq(team.outsider, `pipelineId=${sales.id}`), 404, 'NOT_FOUND');
      for (const query of ['pipelineId=nope', 'pipelineId=', 'pipelineId=123']) {
        expectError(await funnelReq(team.owner, query), 400, 'VALIDATION_FAILED');
      }
    });
  });

  // ------------------------------------------------------------------ cache and invalidation

  describe('cache and invalidation', () => {
    /** Reads both as owner and member, so both scopes are cached, and checks them. */
    async function expectCurrent(): Promise<void> {
      expect(await forecast(team.owner, sales.id)).toEqual(
        expectedForecast(sales.id, salesStages, all()),
      );
      expect(await forecast(team.member, sales.id)).toEqual(
        expectedForecast(sales.id, salesStages, all(), team.member.userId),
      );
      const keys = salesStages.map((s) => s.key);
      expect(await funnel(team.owner, sales.id)).toEqual(expectedFunnel(sales.id, keys, all()));
    }

    it('answers are cached: a change behind the API stays unseen until a deal write', async () => {
      await expectCurrent();
      const target = all().find(
        (d) =>
          d.pipelineId === sales.id &&
          d.status === 'new' &&
          d.currency === 'EUR' &&
          d.amount === '12.10',
      )!;
      await t.db.query(`UPDATE deals SET amount = 20.00 WHERE id = $1`, [target.id]);
      const stale = await forecast(team.owner, sales.id);
      expect(stale.open.EUR).toBe('12.10');
      // A deal write of the organization (here a move-stage) invalidates.
      record(
        await t
          .http()
          .post(`${DEALS}/${target.id}/move-stage`)
          .set(headers(team.owner))
          .send({ stage: 'contract' }),
      );
      expect(deals.get(target.id)).toMatchObject({ amount: '20.00', stage: 'contract' });
      await expectCurrent();
      expect((await forecast(team.owner, sales.id)).open.EUR).toBe('20.00');
    });

    it('deal writes invalidate: create, PATCH amount and stage, win, lose, delete', async () => {
      await expectCurrent();
      const created = await deal('member', '40.40', 'USD', 'demo');
      await expectCurrent();
      record(
        await t
          .http()
          .patch(`${DEALS}/${created.id}`)
          .set(headers(team.member))
          .send({ amount: '40.41' }),
      );
      await expectCurrent();
      record(
        await t
          .http()
          .patch(`${DEALS}/${created.id}`)
          .set(headers(team.member))
          .send({ stage: 'contract', status: 'in_progress' }),
      );
      await expectCurrent();
      record(await t.http().post(`${DEALS}/${created.id}/win`).set(headers(team.member)));
      expect(deals.get(created.id)).toMatchObject({ status: 'won', stage: 'done' });
      await expectCurrent();
      const loser = await deal('admin', '9.99', 'EUR', 'demo');
      await expectCurrent();
      record(
        await t
          .http()
          .post(`${DEALS}/${loser.id}/lose`)
          .set(headers(team.admin))
          .send({ reason: 'Gone' }),
      );
      await expectCurrent();
      const doomed = await deal('owner', '5.00', 'CHF', 'lead');
      await expectCurrent();
      await t.http().delete(`${DEALS}/${doomed.id}`).set(headers(team.owner)).expect(204);
      deals.delete(doomed.id);
      await expectCurrent();
    });

    it("a pipeline's probability change (PATCH) invalidates the forecast; a reorder the funnel", async () => {
      await expectCurrent();
      const before = await forecast(team.owner, sales.id);
      salesStages = salesStages.map((s) =>
        s.key === 'contract'
          ? { ...s, probability: 45 }
          : s.key === 'lead'
            ? { ...s, probability: 35 }
            : s,
      );
      const res = await t
        .http()
        .patch(`${PIPELINES}/${sales.id}`)
        .set(headers(team.admin))
        .send({ stages: salesStages });
      expect(res.status).toBe(200);
      const after = await forecast(team.owner, sales.id);
      expect(after).toEqual(expectedForecast(sales.id, salesStages, all()));
      expect(after.weighted).not.toEqual(before.weighted);
      await expectCurrent();

      // Reorder demo and contract (open deals only there): the funnel follows the new order.
      const [lead, demo, contract, done] = salesStages;
      salesStages = [lead, contract, demo, done];
      await t
        .http()
        .patch(`${PIPELINES}/${sales.id}`)
        .set(headers(team.owner))
        .send({ stages: salesStages })
        .expect(200);
      const reordered = await funnel(team.owner, sales.id);
      expect(reordered.stages.map((s) => s.stage)).toEqual(['lead', 'contract', 'demo', 'done']);
      await expectCurrent();

      // A pure rename changes no figure and stays correct.
      await t
        .http()
        .patch(`${PIPELINES}/${sales.id}`)
        .set(headers(team.owner))
        .send({ name: 'Renamed' })
        .expect(200);
      await expectCurrent();
    });

    it('a cached forecast or funnel costs no query, not even the pipeline lookup', async () => {
      const service = t.app.get(PipelinesService);
      for (const read of [
        () => forecast(team.owner, sales.id),
        () => funnel(team.owner, sales.id),
        () => funnel(team.owner),
      ]) {
        await read();
        const spy = jest.spyOn(service, 'find');
        try {
          await read();
          expect(spy).not.toHaveBeenCalled();
        } finally {
          spy.mockRestore();
        }
      }
    });

    it('a stage change committing while a forecast or funnel is computed is not cached stale', async () => {
      const service = t.app.get(PipelinesService);
      const find = service.find.bind(service);
      for (const [kind, read] of [
        ['forecast', () => forecast(team.owner, sales.id)],
        ['funnel', () => funnel(team.owner, sales.id)],
      ] as const) {
        await expectCurrent();
        const next =
          kind === 'forecast'
            ? salesStages.map((s) => ({ ...s, probability: Math.max(0, s.probability - 5) }))
            : [salesStages[0], salesStages[2], salesStages[1], salesStages[3]];
        let injected = false;
        // A cache miss (another write invalidated the answers); right after the computation read
        // the pipeline, the pipeline changes through the API (commit and invalidation). The
        // answer computed from the old stages must not be served afterwards.
        await t.app.get(TenantCache).invalidate(team.organizationId);
        const spy = jest.spyOn(service, 'find').mockImplementation(async (reader, id, lock) => {
          const pipeline = await find(reader, id, lock);
          if (!injected && lock === undefined && id === sales.id) {
            injected = true;
            const res = await t
              .http()
              .patch(`${PIPELINES}/${sales.id}`)
              .set(headers(team.admin))
              .send({ stages: next });
            expect(res.status).toBe(200);
          }
          return pipeline;
        });
        try {
          await read();
        } finally {
          spy.mockRestore();
        }
        expect(injected).toBe(true);
        salesStages = next;
        await expectCurrent();
      }
    });
  });
});
