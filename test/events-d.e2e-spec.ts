import { randomUUID } from 'node:crypto';
import type { Response, Test } from 'supertest';
import { as, createTeam, type Session, type Team } from './support/api';
import { ISO_TIMESTAMP, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';
import { eventLog, type Envelope, type Page } from './support/events';

/*
 * The domain events (API.md section 12) of the deal, task, activity and pipeline write paths:
 * the exact types in commit order, their subjects, `data` equal to what GET answers after the
 * change, `previous` where the catalog asks for it, the actor and request ids; a failing or
 * no-op request records nothing; another organization never sees them.
 */

const API = '/api/v1';
const EVENTS = `${API}/events`;
const DEALS = `${API}/deals`;
const TASKS = `${API}/tasks`;
const PIPELINES = `${API}/pipelines`;

interface Deal {
  id: string;
  status: string;
  stage: string;
  [key: string]: unknown;
}

/** A date `days` days from today (UTC), YYYY-MM-DD. */
const inDays = (days: number): string =>
  new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

describe('Domain events of deals, tasks, activities and pipelines (API.md section 12)', () => {
  let t: TestApp;
  let team: Team;
  let contactId: string;
  let memberContactId: string;

  const tenant = (s: Session): Record<string, string> => as(s, team.organizationId);
  const log = eventLog(
    () => t,
    () => tenant(team.owner),
  );
  const latestEvents = log.latest;
  const eventsOf = log.of;
  const expectNoEvent = log.expectNoEvent;

  /** Sends `test` with a fresh X-Request-Id; the answer and that id. */
  async function send(test: Test, session: Session): Promise<{ res: Response; requestId: string }> {
    const requestId = randomUUID();
    const res = await test.set(tenant(session)).set('x-request-id', requestId);
    return { res, requestId };
  }

  /** The events recorded by the request `requestId` on `subject`, in commit order. */
  async function eventsOfRequest(subject: string, requestId: string): Promise<Envelope[]> {
    return (await eventsOf(subject)).filter((e) => e.requestid === requestId);
  }

  async function get<T>(path: string): Promise<T> {
    const res = await t.http().get(path).set(tenant(team.owner));
    expect(res.status).toBe(200);
    return res.body as T;
  }

  async function createDeal(session: Session, body: Record<string, unknown>): Promise<Deal> {
    const res = await t
      .http()
      .post(DEALS)
      .set(tenant(session))
      .send({ title: 'Deal', contactId, amount: '100', ...body });
    expect(res.status).toBe(201);
    return res.body as Deal;
  }

  /** The common envelope fields of an event recorded by `requestId` as `actor`. */
  function expectEnvelope(event: Envelope, actor: Session, requestId: string): void {
    expect(event).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(UUID),
      type: expect.any(String),
      source: `/organizations/${team.organizationId}`,
      subject: expect.any(String),
      time: expect.stringMatching(ISO_TIMESTAMP),
      datacontenttype: 'application/json',
      organizationid: team.organizationId,
      actorid: actor.userId,
      requestid: requestId,
      data: expect.any(Object),
    });
  }

  /** `[type, data]` of each event, for exact comparisons. */
  const summary = (events: Envelope[]): [string, Record<string, unknown>][] =>
    events.map((e) => [e.type, e.data]);

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    for (const [session, set] of [
      [team.owner, (id: string) => (contactId = id)],
      [team.member, (id: string) => (memberContactId = id)],
    ] as const) {
      const res = await t
        .http()
        .post(`${API}/contacts`)
        .set(tenant(session))
        .send({ name: 'Ada Lovelace' });
      expect(res.status).toBe(201);
      set((res.body as { id: string }).id);
    }
  });
  afterAll(() => t.close());

  describe('deals', () => {
    it('POST /deals records one deal.created with the deal as GET answers it', async () => {
      const { res, requestId } = await send(
        t.http().post(DEALS).send({ title: 'Created', contactId, amount: '250' }),
        team.owner,
      );
      expect(res.status).toBe(201);
      const deal = res.body as Deal;
      const events = await eventsOfRequest(`deals/${deal.id}`, requestId);
      expect(summary(events)).toEqual([
        ['crm.deal.created.v1', { deal: await get(`${DEALS}/${deal.id}`) }],
      ]);
      expectEnvelope(events[0], team.owner, requestId);
      expect(events[0].subject).toBe(`deals/${deal.id}`);
      // GET /events/{id} answers the same envelope.
      expect(await get(`${EVENTS}/${events[0].id}`)).toEqual(events[0]);
    });

    it('a deal created won records one deal.created (its final state), nothing else', async () => {
      const { res, requestId } = await send(
        t.http().post(DEALS).send({ title: 'Born won', contactId, amount: '10', status: 'won' }),
        team.owner,
      );
      expect(res.status).toBe(201);
      const deal = res.body as Deal;
      expect(deal).toMatchObject({ status: 'won', stage: 'closed' });
      expect(summary(await eventsOf(`deals/${deal.id}`))).toEqual([
        ['crm.deal.created.v1', { deal: await get(`${DEALS}/${deal.id}`) }],
      ]);
      expect((await eventsOfRequest(`deals/${deal.id}`, requestId)).length).toBe(1);
    });

    it('a member creating a deal is its actor', async () => {
      const { res, requestId } = await send(
        t.http().post(DEALS).send({ title: 'Mine', contactId: memberContactId }),
        team.member,
      );
      expect(res.status).toBe(201);
      const [event] = await eventsOfRequest(`deals/${(res.body as Deal).id}`, requestId);
      expectEnvelope(event, team.member, requestId);
    });

    it('PATCH of other fields and the stage: deal.updated, then deal.stage_changed', async () => {
      const deal = await createDeal(team.owner, { title: 'Before' });
      const { res, requestId } = await send(
        t
          .http()
          .patch(`${DEALS}/${deal.id}`)
          .send({ title: 'After', amount: '300', stage: 'proposal' }),
        team.owner,
      );
      expect(res.status).toBe(200);
      const after = await get<Deal>(`${DEALS}/${deal.id}`);
      expect(res.body).toEqual(after);
      const events = await eventsOfRequest(`deals/${deal.id}`, requestId);
      expect(summary(events)).toEqual([
        ['crm.deal.updated.v1', { deal: after, previous: { title: 'Before', amount: '100.00' } }],
        ['crm.deal.stage_changed.v1', { deal: after, previous: { stage: 'qualification' } }],
      ]);
      for (const event of events) expectEnvelope(event, team.owner, requestId);
      // The list is newest first by default: the same events, the other way round.
      const newest = (await latestEvents(10)).filter((e) => e.requestid === requestId);
      expect(newest.map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
    });

    it('a status change to in_progress is a deal.updated with the previous status', async () => {
      const deal = await createDeal(team.owner, {});
      const { res, requestId } = await send(
        t.http().patch(`${DEALS}/${deal.id}`).send({ status: 'in_progress' }),
        team.owner,
      );
      expect(res.status).toBe(200);
      expect(summary(await eventsOfRequest(`deals/${deal.id}`, requestId))).toEqual([
        [
          'crm.deal.updated.v1',
          { deal: await get(`${DEALS}/${deal.id}`), previous: { status: 'new' } },
        ],
      ]);
    });

    it('PATCH winning with another field: updated, stage_changed, won, in that order', async () => {
      const deal = await createDeal(team.owner, { status: 'in_progress', stage: 'proposal' });
      const { res, requestId } = await send(
        t.http().patch(`${DEALS}/${deal.id}`).send({ status: 'won', title: 'Won it' }),
        team.owner,
      );
      expect(res.status).toBe(200);
      const after = await get<Deal>(`${DEALS}/${deal.id}`);
      expect(after).toMatchObject({ status: 'won', stage: 'closed' });
      expect(summary(await eventsOfRequest(`deals/${deal.id}`, requestId))).toEqual([
        ['crm.deal.updated.v1', { deal: after, previous: { title: 'Deal' } }],
        ['crm.deal.stage_changed.v1', { deal: after, previous: { stage: 'proposal' } }],
        ['crm.deal.won.v1', { deal: after, previous: { status: 'in_progress' } }],
      ]);
    });

    it('POST /win: stage_changed then won', async () => {
      const deal = await createDeal(team.owner, { status: 'in_progress' });
      const { res, requestId } = await send(
        t.http().post(`${DEALS}/${deal.id}/win`).send({}),
        team.owner,
      );
      expect(res.status).toBe(200);
      const after = await get<Deal>(`${DEALS}/${deal.id}`);
      expect(summary(await eventsOfRequest(`deals/${deal.id}`, requestId))).toEqual([
        ['crm.deal.stage_changed.v1', { deal: after, previous: { stage: 'qualification' } }],
        ['crm.deal.won.v1', { deal: after, previous: { status: 'in_progress' } }],
      ]);
    });

    it('POST /lose: stage_changed then lost, with the reason', async () => {
      const deal = await createDeal(team.owner, { stage: 'negotiation' });
      const { res, requestId } = await send(
        t.http().post(`${DEALS}/${deal.id}/lose`).send({ reason: 'Budget cut' }),
        team.owner,
      );
      expect(res.status).toBe(200);
      const after = await get<Deal>(`${DEALS}/${deal.id}`);
      expect(after).toMatchObject({ status: 'lost', stage: 'closed', lostReason: 'Budget cut' });
      expect(summary(await eventsOfRequest(`deals/${deal.id}`, requestId))).toEqual([
        ['crm.deal.stage_changed.v1', { deal: after, previous: { stage: 'negotiation' } }],
        ['crm.deal.lost.v1', { deal: after, previous: { status: 'new', lostReason: null } }],
      ]);
    });

    it('POST /move-stage: one stage_changed', async () => {
      const deal = await createDeal(team.member, { contactId: memberContactId });
      const { res, requestId } = await send(
        t.http().post(`${DEALS}/${deal.id}/move-stage`).send({ stage: 'negotiation' }),
        team.member,
      );
      expect(res.status).toBe(200);
      const events = await eventsOfRequest(`deals/${deal.id}`, requestId);
      expect(summary(events)).toEqual([
        [
          'crm.deal.stage_changed.v1',
          { deal: await get(`${DEALS}/${deal.id}`), previous: { stage: 'qualification' } },
        ],
      ]);
      expectEnvelope(events[0], team.member, requestId);
    });

    it('a no-op change and failing changes record nothing', async () => {
      const deal = await createDeal(team.owner, { title: 'Same' });
      const history = await eventsOf(`deals/${deal.id}`);
      await expectNoEvent(async () => {
        const patch = (body: object): Test =>
          t.http().patch(`${DEALS}/${deal.id}`).set(tenant(team.owner)).send(body);
        expect((await patch({ title: 'Same', amount: '100' })).status).toBe(200);
        expect((await patch({ status: 'won' })).status).toBe(409);
        expect((await patch({ stage: 'nowhere' })).status).toBe(422);
        expect((await patch({ title: '' })).status).toBe(400);
        const win = await t.http().post(`${DEALS}/${deal.id}/win`).set(tenant(team.owner));
        expect(win.status).toBe(409);
        const missing = await t
          .http()
          .patch(`${DEALS}/${randomUUID()}`)
          .set(tenant(team.owner))
          .send({ title: 'x' });
        expect(missing.status).toBe(404);
        const create = await t
          .http()
          .post(DEALS)
          .set(tenant(team.owner))
          .send({ title: 'Won without amount', contactId, status: 'won' });
        expect(create.status).toBe(422);
        // Another member's deal is invisible to a member: 404, nothing recorded.
        const hidden = await t.http().delete(`${DEALS}/${deal.id}`).set(tenant(team.member));
        expect(hidden.status).toBe(404);
      });
      expect(await eventsOf(`deals/${deal.id}`)).toEqual(history);
    });

    it('DELETE records deal.deleted with the deal as it was', async () => {
      const deal = await createDeal(team.owner, { title: 'Doomed' });
      const before = await get<Deal>(`${DEALS}/${deal.id}`);
      const { res, requestId } = await send(t.http().delete(`${DEALS}/${deal.id}`), team.owner);
      expect(res.status).toBe(204);
      const events = await eventsOfRequest(`deals/${deal.id}`, requestId);
      expect(summary(events)).toEqual([['crm.deal.deleted.v1', { deal: before }]]);
      expectEnvelope(events[0], team.owner, requestId);
    });

    it("a deal's history by subject: created, updated, stage_changed, lost", async () => {
      const deal = await createDeal(team.owner, {});
      const patch = await t
        .http()
        .patch(`${DEALS}/${deal.id}`)
        .set(tenant(team.owner))
        .send({ status: 'in_progress' });
      expect(patch.status).toBe(200);
      const lose = await t
        .http()
        .post(`${DEALS}/${deal.id}/lose`)
        .set(tenant(team.owner))
        .send({ reason: 'No' });
      expect(lose.status).toBe(200);
      expect((await eventsOf(`deals/${deal.id}`)).map((e) => e.type)).toEqual([
        'crm.deal.created.v1',
        'crm.deal.updated.v1',
        'crm.deal.stage_changed.v1',
        'crm.deal.lost.v1',
      ]);
    });

    it('lead conversion records the deal.created of the deal it creates', async () => {
      const lead = await t
        .http()
        .post(`${API}/leads`)
        .set(tenant(team.owner))
        .send({ name: 'Grace Hopper' });
      expect(lead.status).toBe(201);
      const { res, requestId } = await send(
        t
          .http()
          .post(`${API}/leads/${(lead.body as { id: string }).id}/convert`)
          .send({ dealTitle: 'From a lead' }),
        team.owner,
      );
      expect(res.status).toBe(201);
      const dealId = (res.body as { deal: Deal }).deal.id;
      expect(summary(await eventsOfRequest(`deals/${dealId}`, requestId))).toEqual([
        ['crm.deal.created.v1', { deal: await get(`${DEALS}/${dealId}`) }],
      ]);
    });
  });

  describe('activities', () => {
    it('a comment records activity.comment_added with the activity as the timeline shows it', async () => {
      const deal = await createDeal(team.owner, {});
      const { res, requestId } = await send(
        t
          .http()
          .post(`${DEALS}/${deal.id}/activities`)
          .send({ type: 'comment', payload: { text: 'Called them' } }),
        team.owner,
      );
      expect(res.status).toBe(201);
      const activity = res.body as { id: string };
      const timeline = await get<Page<{ id: string }>>(`${DEALS}/${deal.id}/activities`);
      const listed = timeline.items.find((a) => a.id === activity.id);
      expect(listed).toEqual(activity);
      const events = await eventsOfRequest(`activities/${activity.id}`, requestId);
      expect(summary(events)).toEqual([['crm.activity.comment_added.v1', { activity: listed }]]);
      expectEnvelope(events[0], team.owner, requestId);
      // Nothing else was recorded about the deal by that request.
      expect(await eventsOfRequest(`deals/${deal.id}`, requestId)).toEqual([]);
    });

    it('a failing comment records nothing', async () => {
      const deal = await createDeal(team.owner, {});
      await expectNoEvent(async () => {
        const post = (dealId: string, body: object): Test =>
          t.http().post(`${DEALS}/${dealId}/activities`).set(tenant(team.owner)).send(body);
        expect((await post(deal.id, { type: 'comment', payload: { text: '' } })).status).toBe(400);
        expect((await post(randomUUID(), { type: 'comment', payload: { text: 'x' } })).status).toBe(
          404,
        );
      });
    });
  });

  describe('tasks', () => {
    async function createTask(body: Record<string, unknown> = {}): Promise<{ id: string }> {
      const deal = await createDeal(team.owner, {});
      const res = await t
        .http()
        .post(TASKS)
        .set(tenant(team.owner))
        .send({ dealId: deal.id, title: 'Call back', dueDate: inDays(3), ...body });
      expect(res.status).toBe(201);
      return res.body as { id: string };
    }
    const patchTask = (id: string, body: object): Test =>
      t.http().patch(`${TASKS}/${id}`).send(body);

    it('POST /tasks records one task.created (not the timeline entry it writes)', async () => {
      const deal = await createDeal(team.owner, {});
      const { res, requestId } = await send(
        t
          .http()
          .post(TASKS)
          .send({ dealId: deal.id, title: 'Send quote', description: 'v2', dueDate: inDays(1) }),
        team.owner,
      );
      expect(res.status).toBe(201);
      const task = res.body as { id: string };
      const events = (await latestEvents(20)).filter((e) => e.requestid === requestId);
      expect(summary(events)).toEqual([
        ['crm.task.created.v1', { task: await get(`${TASKS}/${task.id}`) }],
      ]);
      expect(events[0].subject).toBe(`tasks/${task.id}`);
      expectEnvelope(events[0], team.owner, requestId);
    });

    it('marking a task done records only task.completed', async () => {
      const task = await createTask();
      const { res, requestId } = await send(patchTask(task.id, { isDone: true }), team.owner);
      expect(res.status).toBe(200);
      const after = await get(`${TASKS}/${task.id}`);
      expect(res.body).toEqual(after);
      expect(summary(await eventsOfRequest(`tasks/${task.id}`, requestId))).toEqual([
        ['crm.task.completed.v1', { task: after, previous: { isDone: false } }],
      ]);
    });

    it('other fields with done: task.updated, then task.completed', async () => {
      const task = await createTask({ title: 'Old', dueDate: inDays(2) });
      const { res, requestId } = await send(
        patchTask(task.id, { title: 'New', dueDate: inDays(5), isDone: true }),
        team.owner,
      );
      expect(res.status).toBe(200);
      const after = await get(`${TASKS}/${task.id}`);
      expect(summary(await eventsOfRequest(`tasks/${task.id}`, requestId))).toEqual([
        ['crm.task.updated.v1', { task: after, previous: { title: 'Old', dueDate: inDays(2) } }],
        ['crm.task.completed.v1', { task: after, previous: { isDone: false } }],
      ]);
    });

    it('re-opening a task is a task.updated; a no-op or failing PATCH records nothing', async () => {
      const task = await createTask({ description: null });
      expect((await patchTask(task.id, { isDone: true }).set(tenant(team.owner))).status).toBe(200);
      const { res, requestId } = await send(patchTask(task.id, { isDone: false }), team.owner);
      expect(res.status).toBe(200);
      expect(summary(await eventsOfRequest(`tasks/${task.id}`, requestId))).toEqual([
        [
          'crm.task.updated.v1',
          { task: await get(`${TASKS}/${task.id}`), previous: { isDone: true } },
        ],
      ]);
      const history = await eventsOf(`tasks/${task.id}`);
      await expectNoEvent(async () => {
        const same = await patchTask(task.id, { title: 'Call back', isDone: false }).set(
          tenant(team.owner),
        );
        expect(same.status).toBe(200);
        const past = await patchTask(task.id, { dueDate: inDays(-2) }).set(tenant(team.owner));
        expect(past.status).toBe(422);
        const created = await t
          .http()
          .post(TASKS)
          .set(tenant(team.owner))
          .send({ dealId: randomUUID(), title: 'x', dueDate: inDays(1) });
        expect(created.status).toBe(404);
      });
      expect(await eventsOf(`tasks/${task.id}`)).toEqual(history);
    });

    it('DELETE records task.deleted with the task as it was', async () => {
      const task = await createTask();
      const before = await get(`${TASKS}/${task.id}`);
      const { res, requestId } = await send(t.http().delete(`${TASKS}/${task.id}`), team.owner);
      expect(res.status).toBe(204);
      expect(summary(await eventsOfRequest(`tasks/${task.id}`, requestId))).toEqual([
        ['crm.task.deleted.v1', { task: before }],
      ]);
    });
  });

  describe('pipelines', () => {
    const STAGES = [
      { key: 'intro', name: 'Intro', probability: 10 },
      { key: 'demo', name: 'Demo', probability: 50 },
      { key: 'done', name: 'Done', probability: 100 },
    ];

    async function createPipeline(): Promise<{ id: string }> {
      const res = await t
        .http()
        .post(PIPELINES)
        .set(tenant(team.owner))
        .send({ name: 'Sales', stages: STAGES });
      expect(res.status).toBe(201);
      return res.body as { id: string };
    }

    it('create, update and delete record pipeline.created, .updated (+previous), .deleted', async () => {
      const created = await send(
        t.http().post(PIPELINES).send({ name: 'Partners', stages: STAGES }),
        team.owner,
      );
      expect(created.res.status).toBe(201);
      const id = (created.res.body as { id: string }).id;
      const first = await get<{ stages: unknown[] }>(`${PIPELINES}/${id}`);
      const createdEvents = await eventsOfRequest(`pipelines/${id}`, created.requestId);
      expect(summary(createdEvents)).toEqual([['crm.pipeline.created.v1', { pipeline: first }]]);
      expectEnvelope(createdEvents[0], team.owner, created.requestId);

      const stages = [STAGES[0], { key: 'trial', name: 'Trial', probability: 60 }, STAGES[2]];
      const updated = await send(
        t.http().patch(`${PIPELINES}/${id}`).send({ name: 'Partner deals', stages }),
        team.owner,
      );
      expect(updated.res.status).toBe(200);
      const second = await get(`${PIPELINES}/${id}`);
      expect(updated.res.body).toEqual(second);
      expect(summary(await eventsOfRequest(`pipelines/${id}`, updated.requestId))).toEqual([
        [
          'crm.pipeline.updated.v1',
          { pipeline: second, previous: { name: 'Partners', stages: first.stages } },
        ],
      ]);

      const renamed = await send(
        t.http().patch(`${PIPELINES}/${id}`).send({ name: 'Partnerships' }),
        team.owner,
      );
      expect(renamed.res.status).toBe(200);
      const third = await get(`${PIPELINES}/${id}`);
      expect(summary(await eventsOfRequest(`pipelines/${id}`, renamed.requestId))).toEqual([
        ['crm.pipeline.updated.v1', { pipeline: third, previous: { name: 'Partner deals' } }],
      ]);

      const removed = await send(t.http().delete(`${PIPELINES}/${id}`), team.owner);
      expect(removed.res.status).toBe(204);
      expect(summary(await eventsOfRequest(`pipelines/${id}`, removed.requestId))).toEqual([
        ['crm.pipeline.deleted.v1', { pipeline: third }],
      ]);
      expect((await eventsOf(`pipelines/${id}`)).map((e) => e.type)).toEqual([
        'crm.pipeline.created.v1',
        'crm.pipeline.updated.v1',
        'crm.pipeline.updated.v1',
        'crm.pipeline.deleted.v1',
      ]);
    });

    it('no-op and failing pipeline writes record nothing', async () => {
      const pipeline = await createPipeline();
      const deal = await createDeal(team.owner, { pipelineId: pipeline.id });
      expect(deal.stage).toBe('intro');
      const defaultPipeline = (
        await get<Page<{ id: string; isDefault: boolean }>>(PIPELINES)
      ).items.find((p) => p.isDefault)!;
      await expectNoEvent(async () => {
        const patch = (body: object): Test =>
          t.http().patch(`${PIPELINES}/${pipeline.id}`).set(tenant(team.owner)).send(body);
        expect((await patch({})).status).toBe(200);
        expect((await patch({ name: 'Sales', stages: STAGES })).status).toBe(200);
        // The deal's stage must stay: 409 STAGE_IN_USE.
        expect((await patch({ stages: STAGES.slice(1) })).status).toBe(409);
        expect((await patch({ name: '' })).status).toBe(400);
        const inUse = await t.http().delete(`${PIPELINES}/${pipeline.id}`).set(tenant(team.owner));
        expect(inUse.status).toBe(409);
        const isDefault = await t
          .http()
          .delete(`${PIPELINES}/${defaultPipeline.id}`)
          .set(tenant(team.owner));
        expect(isDefault.status).toBe(409);
        // Members may not write pipelines.
        const member = await t
          .http()
          .post(PIPELINES)
          .set(tenant(team.member))
          .send({ name: 'Mine', stages: STAGES });
        expect(member.status).toBe(403);
      });
    });
  });

  describe('organizations', () => {
    it("another organization's owner never sees these events", async () => {
      const deal = await createDeal(team.owner, { title: 'Private' });
      const [event] = await eventsOf(`deals/${deal.id}`);
      expect(event.type).toBe('crm.deal.created.v1');
      const outsider = as(team.outsider, team.outsider.organizationId);
      const one = await t.http().get(`${EVENTS}/${event.id}`).set(outsider);
      expect(one.status).toBe(404);
      const bySubject = await t
        .http()
        .get(`${EVENTS}?subject=${encodeURIComponent(`deals/${deal.id}`)}`)
        .set(outsider);
      expect(bySubject.status).toBe(200);
      expect((bySubject.body as Page<Envelope>).items).toEqual([]);
      const all = await t.http().get(`${EVENTS}?type=crm.deal.*&limit=100`).set(outsider);
      expect(all.status).toBe(200);
      expect(
        (all.body as Page<Envelope>).items.filter(
          (e) => e.organizationid !== team.outsider.organizationId,
        ),
      ).toEqual([]);
    });
  });
});
