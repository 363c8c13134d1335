import { randomUUID } from 'node:crypto';
import type { Response, Test } from 'supertest';
import { as, createTeam, expectError, type Session, type Team } from './support/api';
import { ISO_TIMESTAMP, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Deal actions (API.md section 11): POST /deals/{id}/move-stage {stage}, /win, /lose {reason}
 * answer 200 Deal under exactly the rules of PATCH /deals/{id} (section 6, roles and
 * visibility of section 4, precedence of section 1), write the same timeline entries, and
 * invalidate the analytics like any deal write. `lose` keeps its reason in `lostReason`.
 */

const API = '/api/v1';
const DEALS = `${API}/deals`;
const CONTACTS = `${API}/contacts`;
const PIPELINES = `${API}/pipelines`;
const SUMMARY = `${API}/analytics/deals/summary`;
const FUNNEL = `${API}/analytics/deals/funnel`;
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
const ROLES = ['owner', 'admin', 'manager', 'member'] as const;
type Role = (typeof ROLES)[number];
type Status = 'new' | 'in_progress' | 'won' | 'lost';

interface DealBody {
  id: string;
  organizationId: string;
  contactId: string;
  pipelineId: string;
  ownerId: string;
  title: string;
  amount: string;
  currency: string;
  status: Status;
  stage: string;
  lostReason: string | null;
  createdAt: string;
  updatedAt: string;
}
interface ActivityBody {
  id: string;
  dealId: string;
  authorId: string | null;
  type: string;
  payload: Record<string, unknown>;
  createdAt: string;
}
interface SummaryBody {
  byStatus: Record<Status, { count: number; amounts: Record<string, string> }>;
  wonAverageAmount: Record<string, string>;
}
interface FunnelBody {
  stages: { stage: string; count: number; byStatus: Record<Status, number> }[];
}

type Action =
  { kind: 'move-stage'; stage: string } | { kind: 'win' } | { kind: 'lose'; reason: string };

/** The PATCH body an action stands for. */
function patchOf(action: Action): Record<string, unknown> {
  switch (action.kind) {
    case 'move-stage':
      return { stage: action.stage };
    case 'win':
      return { status: 'won' };
    case 'lose':
      return { status: 'lost' };
  }
}

describe('Deal actions (API.md section 11)', () => {
  let t: TestApp;
  let team: Team;
  const contactOf = {} as Record<Role | 'outsider', string>;
  /** `lead < demo < contract < done`. */
  let sales: string;
  let defaultPipeline: string;

  const headers = (s: Session): Record<string, string> =>
    as(s, s === team.outsider ? s.organizationId : team.organizationId);

  const act = (s: Session, id: string, action: Action, body?: unknown): Test => {
    const req = t.http().post(`${DEALS}/${id}/${action.kind}`).set(headers(s));
    if (body !== undefined) return req.send(body as object);
    if (action.kind === 'move-stage') return req.send({ stage: action.stage });
    if (action.kind === 'lose') return req.send({ reason: action.reason });
    return req;
  };
  const moveStage = (s: Session, id: string, stage: unknown): Test =>
    t.http().post(`${DEALS}/${id}/move-stage`).set(headers(s)).send({ stage });
  const win = (s: Session, id: string): Test => t.http().post(`${DEALS}/${id}/win`).set(headers(s));
  const lose = (s: Session, id: string, body: unknown): Test =>
    t
      .http()
      .post(`${DEALS}/${id}/lose`)
      .set(headers(s))
      .send(body as object);
  const patchDeal = (s: Session, id: string, body: Record<string, unknown>): Test =>
    t.http().patch(`${DEALS}/${id}`).set(headers(s)).send(body);
  const getDeal = (s: Session, id: string): Test => t.http().get(`${DEALS}/${id}`).set(headers(s));

  async function createContact(s: Session): Promise<string> {
    const res = await t.http().post(CONTACTS).set(headers(s)).send({ name: 'Alan Turing' });
    expect(res.status).toBe(201);
    return (res.body as { id: string }).id;
  }

  /**
   * A deal of `role` brought to `status`/`stage` through the API (so its timeline is real):
   * created new at the first stage, then PATCHed as the owner.
   */
  async function dealOf(
    role: Role | 'outsider',
    state: { status?: Status; stage?: string; amount?: string; pipelineId?: string } = {},
  ): Promise<DealBody> {
    const s = role === 'outsider' ? team.outsider : team[role];
    const res = await t
      .http()
      .post(DEALS)
      .set(headers(s))
      .send({
        contactId: contactOf[role],
        title: 'Deal',
        amount: state.amount ?? '250.50',
        ...(state.pipelineId ? { pipelineId: state.pipelineId } : {}),
      });
    expect(res.status).toBe(201);
    let deal = res.body as DealBody;
    const admin = role === 'outsider' ? team.outsider : team.owner;
    const steps: Record<string, unknown>[] = [];
    if (state.status && state.status !== 'new') {
      if (state.status === 'won') steps.push({ status: 'in_progress' });
      steps.push({ status: state.status });
    }
    if (state.stage && state.status !== 'won' && state.status !== 'lost') {
      steps.unshift({ stage: state.stage });
    }
    for (const step of steps) {
      const patched = await patchDeal(admin, deal.id, step);
      expect(patched.status).toBe(200);
      deal = patched.body as DealBody;
    }
    return deal;
  }

  async function timeline(s: Session, dealId: string): Promise<ActivityBody[]> {
    const res = await t.http().get(`${DEALS}/${dealId}/activities?pageSize=100`).set(headers(s));
    expect(res.status).toBe(200);
    return (res.body as { items: ActivityBody[] }).items;
  }
  /** The status/stage entries, oldest first, comparable across deals. */
  async function changes(
    s: Session,
    dealId: string,
  ): Promise<Pick<ActivityBody, 'type' | 'authorId' | 'payload'>[]> {
    return (await timeline(s, dealId))
      .filter((a) => a.type === 'status_changed' || a.type === 'stage_changed')
      .sort((a, b) =>
        a.createdAt === b.createdAt
          ? a.type.localeCompare(b.type)
          : a.createdAt.localeCompare(b.createdAt),
      )
      .map(({ type, authorId, payload }) => ({ type, authorId, payload }));
  }

  async function dealRow(id: string): Promise<Record<string, unknown>> {
    const rows: Record<string, unknown>[] = await t.db.query(
      `SELECT *, updated_at::text AS updated_text,
              (SELECT count(*)::int FROM activities a WHERE a.deal_id = d.id) AS activity_count
         FROM deals d WHERE id = $1`,
      [id],
    );
    return rows[0];
  }
  /** `refused` leaves the deal row and its timeline untouched. */
  async function expectUnchanged(id: string, refused: () => Promise<void>): Promise<void> {
    const before = await dealRow(id);
    await refused();
    expect(await dealRow(id)).toEqual(before);
  }

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    for (const role of [...ROLES, 'outsider'] as const) {
      contactOf[role] = await createContact(role === 'outsider' ? team.outsider : team[role]);
    }
    const res = await t
      .http()
      .post(PIPELINES)
      .set(headers(team.owner))
      .send({
        name: 'Sales',
        stages: [
          { key: 'lead', name: 'Lead', probability: 5 },
          { key: 'demo', name: 'Demo', probability: 25 },
          { key: 'contract', name: 'Contract', probability: 80 },
          { key: 'done', name: 'Done', probability: 100 },
        ],
      });
    expect(res.status).toBe(201);
    sales = (res.body as { id: string }).id;
    const list = await t.http().get(PIPELINES).set(headers(team.owner));
    defaultPipeline = (list.body as { items: { id: string; isDefault: boolean }[] }).items.find(
      (p) => p.isDefault,
    )!.id;
  });
  afterAll(() => t.close());

  // ------------------------------------------------------------------ move-stage

  describe('POST /deals/{id}/move-stage', () => {
    it('answers 200 with the Deal, moved, and records stage_changed by the caller', async () => {
      const deal = await dealOf('member');
      const res = await moveStage(team.member, deal.id, 'proposal');
      expect(res.status).toBe(200);
      expect(Object.keys(res.body as object).sort()).toEqual(DEAL_KEYS);
      const moved = res.body as DealBody;
      expect(moved).toEqual({
        ...deal,
        stage: 'proposal',
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect(Date.parse(moved.updatedAt)).toBeGreaterThanOrEqual(Date.parse(deal.updatedAt));
      expect((await getDeal(team.member, deal.id)).body).toEqual(moved);
      expect(await changes(team.member, deal.id)).toEqual([
        {
          type: 'stage_changed',
          authorId: team.member.userId,
          payload: { from: 'qualification', to: 'proposal' },
        },
      ]);
    });

    it('members and managers only move forward (403 STAGE_ROLLBACK_FORBIDDEN); owners and admins both ways', async () => {
      for (const role of ['member', 'manager'] as const) {
        const deal = await dealOf(role, { stage: 'negotiation' });
        await expectUnchanged(deal.id, async () => {
          for (const to of ['proposal', 'qualification']) {
            expectError(await moveStage(team[role], deal.id, to), 403, 'STAGE_ROLLBACK_FORBIDDEN');
          }
        });
      }
      // A manager on a member's deal (visible to managers) is refused just the same.
      const membersDeal = await dealOf('member', { stage: 'proposal' });
      expectError(
        await moveStage(team.manager, membersDeal.id, 'qualification'),
        403,
        'STAGE_ROLLBACK_FORBIDDEN',
      );
      for (const role of ['owner', 'admin'] as const) {
        const deal = await dealOf('member', { stage: 'negotiation' });
        const res = await moveStage(team[role], deal.id, 'qualification');
        expect(res.status).toBe(200);
        expect((res.body as DealBody).stage).toBe('qualification');
        expect(await changes(team.member, deal.id)).toEqual([
          {
            type: 'stage_changed',
            authorId: team.owner.userId,
            payload: { from: 'qualification', to: 'negotiation' },
          },
          {
            type: 'stage_changed',
            authorId: team[role].userId,
            payload: { from: 'negotiation', to: 'qualification' },
          },
        ]);
      }
    });

    it('422 INVALID_STAGE: unknown stage, the closing stage while open, leaving the closing stage', async () => {
      const open = await dealOf('member', { status: 'in_progress' });
      await expectUnchanged(open.id, async () => {
        for (const to of ['closed', 'demo', 'done', 'nope']) {
          expectError(await moveStage(team.member, open.id, to), 422, 'INVALID_STAGE');
        }
      });
      const won = await dealOf('owner', { status: 'won' });
      expect(won.stage).toBe('closed');
      await expectUnchanged(won.id, async () => {
        expectError(await moveStage(team.owner, won.id, 'proposal'), 422, 'INVALID_STAGE');
        expectError(await moveStage(team.admin, won.id, 'qualification'), 422, 'INVALID_STAGE');
        // Who may change what (403) comes before the semantic rule (422).
        expectError(
          await moveStage(team.manager, won.id, 'negotiation'),
          403,
          'STAGE_ROLLBACK_FORBIDDEN',
        );
      });
      // In a custom pipeline, the default pipeline's keys are unknown.
      const custom = await dealOf('member', { pipelineId: sales });
      expectError(await moveStage(team.member, custom.id, 'proposal'), 422, 'INVALID_STAGE');
      expectError(await moveStage(team.member, custom.id, 'done'), 422, 'INVALID_STAGE');
      const res = await moveStage(team.member, custom.id, 'contract');
      expect(res.status).toBe(200);
      expect((res.body as DealBody).stage).toBe('contract');
      expectError(await moveStage(team.member, custom.id, 'demo'), 403, 'STAGE_ROLLBACK_FORBIDDEN');
    });

    it('moving to the current stage is a 200 no-op (nothing written)', async () => {
      const deal = await dealOf('member', { stage: 'proposal' });
      await expectUnchanged(deal.id, async () => {
        const res = await moveStage(team.member, deal.id, 'proposal');
        expect(res.status).toBe(200);
        expect(res.body).toEqual(deal);
      });
    });

    it.each([
      ['no body', undefined],
      ['no stage', {}],
      ['a null stage', { stage: null }],
      ['a numeric stage', { stage: 3 }],
      ['a malformed stage key', { stage: 'Proposal' }],
      ['an extra property', { stage: 'proposal', status: 'won' }],
      ['a status instead', { status: 'won' }],
    ])('rejects %s (400 VALIDATION_FAILED)', async (_, body) => {
      const deal = await dealOf('member');
      await expectUnchanged(deal.id, async () => {
        const req = t.http().post(`${DEALS}/${deal.id}/move-stage`).set(headers(team.member));
        expectError(await (body === undefined ? req : req.send(body)), 400, 'VALIDATION_FAILED');
      });
    });
  });

  // ------------------------------------------------------------------ win

  describe('POST /deals/{id}/win', () => {
    it('wins an in_progress deal: 200, status won, stage closed by itself, both entries', async () => {
      const deal = await dealOf('member', { status: 'in_progress', stage: 'proposal' });
      const res = await win(team.member, deal.id);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body as object).sort()).toEqual(DEAL_KEYS);
      expect(res.body).toEqual({
        ...deal,
        status: 'won',
        stage: 'closed',
        lostReason: null,
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      expect((await getDeal(team.member, deal.id)).body).toEqual(res.body);
      const entries = await changes(team.member, deal.id);
      expect(entries.slice(-2)).toEqual([
        {
          type: 'stage_changed',
          authorId: team.member.userId,
          payload: { from: 'proposal', to: 'closed' },
        },
        {
          type: 'status_changed',
          authorId: team.member.userId,
          payload: { from: 'in_progress', to: 'won' },
        },
      ]);
    });

    it("in a custom pipeline it closes at that pipeline's last stage", async () => {
      const deal = await dealOf('manager', {
        pipelineId: sales,
        status: 'in_progress',
        stage: 'demo',
      });
      const res = await win(team.manager, deal.id);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'won', stage: 'done', pipelineId: sales });
      expect((await changes(team.manager, deal.id)).slice(-2)).toEqual([
        {
          type: 'stage_changed',
          authorId: team.manager.userId,
          payload: { from: 'demo', to: 'done' },
        },
        {
          type: 'status_changed',
          authorId: team.manager.userId,
          payload: { from: 'in_progress', to: 'won' },
        },
      ]);
    });

    it('409 INVALID_STATUS_TRANSITION from new and from lost (even with amount 0: 409 before 422)', async () => {
      for (const deal of [
        await dealOf('member'),
        await dealOf('member', { amount: '0' }),
        await dealOf('member', { status: 'lost' }),
      ]) {
        await expectUnchanged(deal.id, async () => {
          expectError(await win(team.member, deal.id), 409, 'INVALID_STATUS_TRANSITION');
        });
      }
    });

    it('422 AMOUNT_REQUIRED_TO_WIN when the amount is 0', async () => {
      const deal = await dealOf('admin', { status: 'in_progress', amount: '0.00' });
      await expectUnchanged(deal.id, async () => {
        expectError(await win(team.admin, deal.id), 422, 'AMOUNT_REQUIRED_TO_WIN');
      });
      await patchDeal(team.admin, deal.id, { amount: '0.01' }).expect(200);
      expect((await win(team.admin, deal.id)).body).toMatchObject({
        status: 'won',
        amount: '0.01',
      });
    });

    it('winning a won deal again is a 200 no-op', async () => {
      const deal = await dealOf('member', { status: 'won' });
      await expectUnchanged(deal.id, async () => {
        const res = await win(team.member, deal.id);
        expect(res.status).toBe(200);
        expect(res.body).toEqual(deal);
      });
    });

    it('takes no body properties: unknown ones and malformed JSON are 400; {} is fine', async () => {
      const deal = await dealOf('member', { status: 'in_progress' });
      await expectUnchanged(deal.id, async () => {
        for (const body of [{ amount: '999' }, { status: 'lost' }, { reason: 'x' }]) {
          expectError(
            await t.http().post(`${DEALS}/${deal.id}/win`).set(headers(team.member)).send(body),
            400,
            'VALIDATION_FAILED',
          );
        }
        expectError(
          await t
            .http()
            .post(`${DEALS}/${deal.id}/win`)
            .set(headers(team.member))
            .set('content-type', 'application/json')
            .send('{"amount":'),
          400,
          'VALIDATION_FAILED',
        );
      });
      const res = await t.http().post(`${DEALS}/${deal.id}/win`).set(headers(team.member)).send({});
      expect(res.status).toBe(200);
      expect((res.body as DealBody).status).toBe('won');
    });
  });

  // ------------------------------------------------------------------ lose

  describe('POST /deals/{id}/lose', () => {
    it('loses a new or in_progress deal with its reason (trimmed): stage closed, entries written', async () => {
      for (const status of ['new', 'in_progress'] as const) {
        const deal = await dealOf('member', { status, stage: 'negotiation' });
        const res = await lose(team.member, deal.id, { reason: '  Chose a competitor  ' });
        expect(res.status).toBe(200);
        expect(Object.keys(res.body as object).sort()).toEqual(DEAL_KEYS);
        expect(res.body).toEqual({
          ...deal,
          status: 'lost',
          stage: 'closed',
          lostReason: 'Chose a competitor',
          updatedAt: expect.stringMatching(ISO_TIMESTAMP),
        });
        expect((await getDeal(team.member, deal.id)).body).toEqual(res.body);
        const listed = await t
          .http()
          .get(`${DEALS}?status=lost&pageSize=100`)
          .set(headers(team.member));
        expect((listed.body as { items: DealBody[] }).items).toContainEqual(res.body);
        expect((await changes(team.member, deal.id)).slice(-2)).toEqual([
          {
            type: 'stage_changed',
            authorId: team.member.userId,
            payload: { from: 'negotiation', to: 'closed' },
          },
          {
            type: 'status_changed',
            authorId: team.member.userId,
            payload: { from: status, to: 'lost' },
          },
        ]);
      }
    });

    it('lostReason is null on deals not lost through lose (also lost through PATCH)', async () => {
      const open = await dealOf('member');
      expect(open.lostReason).toBeNull();
      const patched = await dealOf('member', { status: 'lost' });
      expect(patched).toMatchObject({ status: 'lost', lostReason: null });
      const won = await dealOf('member', { status: 'won' });
      expect(won.lostReason).toBeNull();
    });

    it('a 1000-character reason is kept whole; in a custom pipeline the deal closes at its last stage', async () => {
      const deal = await dealOf('owner', { pipelineId: sales, stage: 'demo' });
      const reason = `${'é'.repeat(999)}!`;
      const res = await lose(team.owner, deal.id, { reason });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'lost', stage: 'done', lostReason: reason });
    });

    it('409 INVALID_STATUS_TRANSITION for a won deal', async () => {
      const deal = await dealOf('member', { status: 'won' });
      await expectUnchanged(deal.id, async () => {
        expectError(
          await lose(team.member, deal.id, { reason: 'Too late' }),
          409,
          'INVALID_STATUS_TRANSITION',
        );
      });
    });

    it('losing a lost deal again is a 200 no-op: the first reason stays, nothing is written', async () => {
      const deal = await dealOf('member');
      const lost = (await lose(team.member, deal.id, { reason: 'First' }).expect(200))
        .body as DealBody;
      await expectUnchanged(deal.id, async () => {
        const res = await lose(team.member, deal.id, { reason: 'Second' });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(lost);
      });
      // A lost deal lost through PATCH keeps no reason when lost again through the action.
      const patched = await dealOf('member', { status: 'lost' });
      await expectUnchanged(patched.id, async () => {
        const res = await lose(team.member, patched.id, { reason: 'Late' });
        expect(res.status).toBe(200);
        expect(res.body).toEqual(patched);
      });
    });

    it.each([
      ['no body', undefined],
      ['no reason', {}],
      ['an empty reason', { reason: '' }],
      ['a blank reason', { reason: '   ' }],
      ['a null reason', { reason: null }],
      ['a numeric reason', { reason: 42 }],
      ['a 1001-character reason', { reason: 'r'.repeat(1001) }],
      ['an extra property', { reason: 'Price', status: 'lost' }],
      ['lostReason instead', { lostReason: 'Price' }],
    ])('rejects %s (400 VALIDATION_FAILED)', async (_, body) => {
      const deal = await dealOf('member');
      await expectUnchanged(deal.id, async () => {
        const req = t.http().post(`${DEALS}/${deal.id}/lose`).set(headers(team.member));
        expectError(await (body === undefined ? req : req.send(body)), 400, 'VALIDATION_FAILED');
      });
    });
  });

  // ------------------------------------------------------------------ visibility, precedence

  describe('visibility and precedence', () => {
    const actions: Action[] = [
      { kind: 'move-stage', stage: 'proposal' },
      { kind: 'win' },
      { kind: 'lose', reason: 'Nope' },
    ];

    it("404 NOT_FOUND for another member's deal (for a member), another organization's deal, an unknown id", async () => {
      const managersDeal = await dealOf('manager', { status: 'in_progress' });
      const outsidersDeal = await dealOf('outsider', { status: 'in_progress' });
      for (const action of actions) {
        await expectUnchanged(managersDeal.id, async () => {
          expectError(await act(team.member, managersDeal.id, action), 404, 'NOT_FOUND');
        });
        await expectUnchanged(outsidersDeal.id, async () => {
          for (const role of ROLES) {
            expectError(await act(team[role], outsidersDeal.id, action), 404, 'NOT_FOUND');
          }
        });
        expectError(await act(team.owner, randomUUID(), action), 404, 'NOT_FOUND');
        expectError(await act(team.owner, 'not-a-uuid', action), 400, 'VALIDATION_FAILED');
      }
    });

    it('validation (400) before visibility (404) before the rules; visibility before 422', async () => {
      const outsidersDeal = await dealOf('outsider', { status: 'in_progress' });
      expectError(
        await act(team.owner, outsidersDeal.id, { kind: 'move-stage', stage: 'x' }, { stage: 'X' }),
        400,
        'VALIDATION_FAILED',
      );
      expectError(
        await act(team.owner, outsidersDeal.id, { kind: 'lose', reason: '' }),
        400,
        'VALIDATION_FAILED',
      );
      expectError(
        await act(team.owner, outsidersDeal.id, { kind: 'move-stage', stage: 'nowhere' }),
        404,
        'NOT_FOUND',
      );
      const wonOfManager = await dealOf('manager', { status: 'won' });
      expectError(
        await act(team.member, wonOfManager.id, { kind: 'move-stage', stage: 'qualification' }),
        404,
        'NOT_FOUND',
      );
    });

    it('401 without a token, 403 NOT_A_MEMBER in an organization the caller is not in', async () => {
      const deal = await dealOf('member', { status: 'in_progress' });
      for (const action of actions) {
        const path = `${DEALS}/${deal.id}/${action.kind}`;
        expectError(
          await t.http().post(path).set({ 'x-organization-id': team.organizationId }).send({}),
          401,
          'UNAUTHENTICATED',
        );
        expectError(
          await t
            .http()
            .post(path)
            .set(as(team.outsider, team.organizationId))
            .send(patchOf(action)),
          403,
          'NOT_A_MEMBER',
        );
      }
      expect((await getDeal(team.member, deal.id)).body).toEqual(deal);
    });
  });

  // ------------------------------------------------------------------ equivalence with PATCH

  describe('an action gives exactly what the equivalent PATCH gives on an identical deal', () => {
    type Scenario = [
      string,
      Role,
      Role,
      { status?: Status; stage?: string; amount?: string; pipelineId?: 'sales' },
      Action,
    ];
    const scenarios: Scenario[] = [
      [
        'member moves forward',
        'member',
        'member',
        {},
        { kind: 'move-stage', stage: 'negotiation' },
      ],
      [
        'member moves back',
        'member',
        'member',
        { stage: 'negotiation' },
        { kind: 'move-stage', stage: 'proposal' },
      ],
      [
        'manager moves back',
        'manager',
        'member',
        { stage: 'proposal' },
        { kind: 'move-stage', stage: 'qualification' },
      ],
      [
        'admin moves back',
        'admin',
        'member',
        { stage: 'negotiation' },
        { kind: 'move-stage', stage: 'qualification' },
      ],
      [
        'owner moves a won deal',
        'owner',
        'owner',
        { status: 'won' },
        { kind: 'move-stage', stage: 'proposal' },
      ],
      [
        'member moves to closed while open',
        'member',
        'member',
        { status: 'in_progress' },
        { kind: 'move-stage', stage: 'closed' },
      ],
      [
        'member moves to an unknown stage',
        'member',
        'member',
        {},
        { kind: 'move-stage', stage: 'nowhere' },
      ],
      [
        'member moves to the same stage',
        'member',
        'member',
        { stage: 'proposal' },
        { kind: 'move-stage', stage: 'proposal' },
      ],
      [
        'custom pipeline, member moves forward',
        'member',
        'member',
        { pipelineId: 'sales' },
        { kind: 'move-stage', stage: 'contract' },
      ],
      [
        'custom pipeline, member moves back',
        'member',
        'member',
        { pipelineId: 'sales', stage: 'contract' },
        { kind: 'move-stage', stage: 'demo' },
      ],
      [
        'custom pipeline, closing stage while open',
        'owner',
        'owner',
        { pipelineId: 'sales' },
        { kind: 'move-stage', stage: 'done' },
      ],
      [
        'win in_progress',
        'member',
        'member',
        { status: 'in_progress', stage: 'negotiation' },
        { kind: 'win' },
      ],
      [
        'win in_progress at the first stage (manager)',
        'manager',
        'member',
        { status: 'in_progress' },
        { kind: 'win' },
      ],
      ['win new', 'member', 'member', {}, { kind: 'win' }],
      ['win new with amount 0', 'member', 'member', { amount: '0' }, { kind: 'win' }],
      [
        'win in_progress with amount 0',
        'member',
        'member',
        { status: 'in_progress', amount: '0' },
        { kind: 'win' },
      ],
      ['win won', 'member', 'member', { status: 'won' }, { kind: 'win' }],
      ['win lost', 'admin', 'member', { status: 'lost' }, { kind: 'win' }],
      [
        'custom pipeline, win',
        'member',
        'member',
        { pipelineId: 'sales', status: 'in_progress', stage: 'contract' },
        { kind: 'win' },
      ],
      ['lose new', 'member', 'member', { stage: 'proposal' }, { kind: 'lose', reason: 'Budget' }],
      [
        'lose in_progress',
        'manager',
        'manager',
        { status: 'in_progress' },
        { kind: 'lose', reason: 'Budget' },
      ],
      ['lose won', 'owner', 'member', { status: 'won' }, { kind: 'lose', reason: 'Budget' }],
      ['lose lost', 'member', 'member', { status: 'lost' }, { kind: 'lose', reason: 'Budget' }],
      [
        'custom pipeline, lose',
        'admin',
        'member',
        { pipelineId: 'sales', stage: 'demo' },
        { kind: 'lose', reason: 'Budget' },
      ],
    ];

    it.each(scenarios)('%s', async (_, actorRole, ownerRole, state, action) => {
      const pipelineId = state.pipelineId === 'sales' ? sales : undefined;
      const spec = { ...state, pipelineId };
      const viaAction = await dealOf(ownerRole, spec);
      const viaPatch = await dealOf(ownerRole, spec);
      const actor = team[actorRole];
      const a = await act(actor, viaAction.id, action);
      const p = await patchDeal(actor, viaPatch.id, patchOf(action));
      const outcome = (res: Response): unknown =>
        res.status === 200
          ? { status: 200, deal: res.body as DealBody }
          : { status: res.status, code: (res.body as { code: string }).code };
      const expected = outcome(p) as { status: number; deal?: DealBody };
      const got = outcome(a) as { status: number; deal?: DealBody };
      expect(got.status).toBe(expected.status);
      if (expected.deal && got.deal) {
        const strip = (d: DealBody): Partial<DealBody> => ({
          status: d.status,
          stage: d.stage,
          amount: d.amount,
          currency: d.currency,
          ownerId: d.ownerId,
          pipelineId: d.pipelineId,
          title: d.title,
          contactId: d.contactId,
        });
        expect(strip(got.deal)).toEqual(strip(expected.deal));
        // The same write, or the same no-op.
        expect(got.deal.updatedAt === viaAction.updatedAt).toBe(
          expected.deal.updatedAt === viaPatch.updatedAt,
        );
        const becameLost = action.kind === 'lose' && viaAction.status !== 'lost';
        expect(got.deal.lostReason).toBe(becameLost ? action.reason : expected.deal.lostReason);
      } else {
        expect(got).toEqual(expected);
      }
      const owner = team[ownerRole];
      expect(await changes(owner, viaAction.id)).toEqual(await changes(owner, viaPatch.id));
      const final = async (id: string): Promise<Partial<DealBody>> => {
        const d = (await getDeal(owner, id)).body as DealBody;
        return { status: d.status, stage: d.stage, amount: d.amount };
      };
      expect(await final(viaAction.id)).toEqual(await final(viaPatch.id));
    });
  });

  // ------------------------------------------------------------------ analytics

  describe('analytics are invalidated by actions', () => {
    it('the summary and the funnel right after win, lose and move-stage reflect them', async () => {
      const owner = team.owner;
      const summary = async (): Promise<SummaryBody> => {
        const res = await t.http().get(SUMMARY).set(headers(owner));
        expect(res.status).toBe(200);
        return res.body as SummaryBody;
      };
      const funnelCount = async (stage: string, pipelineId?: string): Promise<number> => {
        const res = await t
          .http()
          .get(`${FUNNEL}${pipelineId ? `?pipelineId=${pipelineId}` : ''}`)
          .set(headers(owner));
        expect(res.status).toBe(200);
        return (res.body as FunnelBody).stages.find((s) => s.stage === stage)!.count;
      };
      const deal = await dealOf('member', {
        status: 'in_progress',
        amount: '1234.56',
        stage: 'proposal',
      });
      const loser = await dealOf('member', { amount: '10.00' });
      const mover = await dealOf('member', { pipelineId: sales });

      const before = await summary();
      const proposalBefore = await funnelCount('proposal');
      const contractBefore = await funnelCount('contract', sales);
      // Cached answers are served again unchanged.
      expect(await summary()).toEqual(before);

      await win(team.member, deal.id).expect(200);
      const afterWin = await summary();
      expect(afterWin.byStatus.won.count).toBe(before.byStatus.won.count + 1);
      expect(afterWin.byStatus.in_progress.count).toBe(before.byStatus.in_progress.count - 1);
      expect(afterWin.byStatus.won.amounts.USD).not.toBe(before.byStatus.won.amounts.USD);
      expect(await funnelCount('proposal')).toBe(proposalBefore - 1);

      await lose(team.member, loser.id, { reason: 'Gone' }).expect(200);
      const afterLose = await summary();
      expect(afterLose.byStatus.lost.count).toBe(afterWin.byStatus.lost.count + 1);
      expect(afterLose.byStatus.new.count).toBe(afterWin.byStatus.new.count - 1);

      await moveStage(team.member, mover.id, 'contract').expect(200);
      expect(await funnelCount('contract', sales)).toBe(contractBefore + 1);
    });

    it('the won amounts are exact for a member (own deals only) right after win', async () => {
      const member = team.member;
      const res0 = await t.http().get(SUMMARY).set(headers(member));
      const wonBefore = (res0.body as SummaryBody).byStatus.won;
      const cents = (a?: string): bigint => (a ? BigInt(a.replace('.', '')) : 0n);
      const deal = await dealOf('member', { status: 'in_progress', amount: '0.99' });
      await t.http().get(SUMMARY).set(headers(member)).expect(200);
      await win(member, deal.id).expect(200);
      const res1 = await t.http().get(SUMMARY).set(headers(member));
      const wonAfter = (res1.body as SummaryBody).byStatus.won;
      expect(wonAfter.count).toBe(wonBefore.count + 1);
      expect(cents(wonAfter.amounts.USD)).toBe(cents(wonBefore.amounts.USD) + 99n);
    });
  });

  it('the OpenAPI document lists the three actions; win takes an optional, empty body', async () => {
    const res = await t.http().get('/docs-json');
    expect(res.status).toBe(200);
    const paths = (res.body as { paths: Record<string, Record<string, Record<string, unknown>>> })
      .paths;
    for (const action of ['move-stage', 'win', 'lose']) {
      expect(paths[`${DEALS}/{id}/${action}`]?.post).toBeDefined();
    }
    const winBody = paths[`${DEALS}/{id}/win`].post.requestBody as { required?: boolean };
    expect(winBody?.required ?? false).toBe(false);
    const loseBody = paths[`${DEALS}/{id}/lose`].post.requestBody as { required?: boolean };
    expect(loseBody.required).toBe(true);
  });

  it('deals of the default pipeline carry its id', async () => {
    const deal = await dealOf('member');
    expect(deal.pipelineId).toBe(defaultPipeline);
    expect(deal.id).toMatch(UUID);
  });
});
