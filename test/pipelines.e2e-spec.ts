import { randomUUID } from 'node:crypto';
import type { Response, Test } from 'supertest';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { ISO_TIMESTAMP, keysOf, UUID } from './support/resource';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Pipelines (API.md section 11): the default pipeline of every organization, the pipeline
 * CRUD with its roles, validation and STAGE_IN_USE / PIPELINE_IN_USE guards, and deals living
 * in a pipeline: default pipeline and first stage, stage keys of the deal's own pipeline, and
 * the section 6 rules (order, rollback, closing stage) following that pipeline's positions.
 */

const API = '/api/v1';
const PIPELINES = `${API}/pipelines`;
const DEALS = `${API}/deals`;
const CONTACTS = `${API}/contacts`;
const PIPELINE_KEYS = [
  'createdAt',
  'id',
  'isDefault',
  'name',
  'organizationId',
  'stages',
  'updatedAt',
];
const DEFAULT_STAGES = [
  { key: 'qualification', name: 'Qualification', position: 0, probability: 10 },
  { key: 'proposal', name: 'Proposal', position: 1, probability: 30 },
  { key: 'negotiation', name: 'Negotiation', position: 2, probability: 60 },
  { key: 'closed', name: 'Closed', position: 3, probability: 100 },
];

interface StageInput {
  key: string;
  name: string;
  probability: number;
}
interface Stage extends StageInput {
  position: number;
}
interface PipelineBody {
  id: string;
  organizationId: string;
  name: string;
  isDefault: boolean;
  stages: Stage[];
  createdAt: string;
  updatedAt: string;
}
interface DealBody {
  id: string;
  pipelineId: string;
  ownerId: string;
  status: string;
  stage: string;
  amount: string;
  lostReason: string | null;
}
interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}
interface Keyset<T> {
  items: T[];
  nextCursor: string | null;
}

/** `lead < demo < contract < done` (done is the closing stage). */
const SALES_STAGES: StageInput[] = [
  { key: 'lead', name: 'Lead', probability: 5 },
  { key: 'demo', name: 'Demo', probability: 25 },
  { key: 'contract', name: 'Contract', probability: 80 },
  { key: 'done', name: 'Done', probability: 100 },
];

const stage = (key: string, probability = 50): StageInput => ({
  key,
  name: key.toUpperCase(),
  probability,
});
const positioned = (stages: StageInput[]): Stage[] =>
  stages.map((s, position) => ({ key: s.key, name: s.name, position, probability: s.probability }));
const idsOf = (items: { id: string }[]): string[] => items.map((i) => i.id);

describe('Pipelines (API.md section 11)', () => {
  let t: TestApp;
  let team: Team;
  let contact: Record<'owner' | 'manager' | 'member' | 'outsider', string>;
  let defaultPipeline: PipelineBody;
  let outsiderPipeline: PipelineBody;

  const orgOf = (s: Session): string =>
    s === team.outsider || !Object.values(team).includes(s)
      ? s.organizationId
      : team.organizationId;
  const headers = (s: Session): Record<string, string> => as(s, orgOf(s));

  const list = (s: Session, query = ''): Test =>
    t
      .http()
      .get(`${PIPELINES}${query ? `?${query}` : ''}`)
      .set(headers(s));
  const post = (s: Session, body: unknown): Test =>
    t
      .http()
      .post(PIPELINES)
      .set(headers(s))
      .send(body as object);
  const get = (s: Session, id: string): Test => t.http().get(`${PIPELINES}/${id}`).set(headers(s));
  const patch = (s: Session, id: string, body: unknown): Test =>
    t
      .http()
      .patch(`${PIPELINES}/${id}`)
      .set(headers(s))
      .send(body as object);
  const del = (s: Session, id: string): Test =>
    t.http().delete(`${PIPELINES}/${id}`).set(headers(s));
  const postDeal = (s: Session, body: Record<string, unknown>): Test =>
    t.http().post(DEALS).set(headers(s)).send(body);
  const patchDeal = (s: Session, id: string, body: Record<string, unknown>): Test =>
    t.http().patch(`${DEALS}/${id}`).set(headers(s)).send(body);
  const listDeals = (s: Session, query: string): Test =>
    t.http().get(`${DEALS}?${query}`).set(headers(s));

  async function createPipeline(
    name = 'Sales',
    stages: StageInput[] = SALES_STAGES,
    s: Session = team.owner,
  ): Promise<PipelineBody> {
    const res = await post(s, { name, stages });
    expect(res.status).toBe(201);
    return res.body as PipelineBody;
  }
  async function createContact(s: Session): Promise<string> {
    const res = await t.http().post(CONTACTS).set(headers(s)).send({ name: 'Grace Hopper' });
    expect(res.status).toBe(201);
    return (res.body as { id: string }).id;
  }
  async function createDeal(
    s: Session,
    contactId: string,
    body: Record<string, unknown> = {},
  ): Promise<DealBody> {
    const res = await postDeal(s, { contactId, title: 'Deal', amount: '100', ...body });
    expect(res.status).toBe(201);
    return res.body as DealBody;
  }
  async function pipelineRows(organizationId: string): Promise<Record<string, unknown>[]> {
    return t.db.query(
      `SELECT id, name, is_default, stages, updated_at::text AS updated FROM pipelines
        WHERE organization_id = $1 ORDER BY id`,
      [organizationId],
    );
  }
  async function dealActivities(
    dealId: string,
  ): Promise<{ type: string; payload: Record<string, unknown> }[]> {
    return t.db.query(
      `SELECT type, payload FROM activities WHERE deal_id = $1 AND type <> 'system'
        ORDER BY created_at, type::text`,
      [dealId],
    );
  }

  beforeAll(async () => {
    t = await createTestApp();
    team = await createTeam(t);
    contact = {
      owner: await createContact(team.owner),
      manager: await createContact(team.manager),
      member: await createContact(team.member),
      outsider: await createContact(team.outsider),
    };
    const mine = await list(team.owner).expect(200);
    defaultPipeline = (mine.body as Page<PipelineBody>).items[0];
    const theirs = await list(team.outsider).expect(200);
    outsiderPipeline = (theirs.body as Page<PipelineBody>).items[0];
  });
  afterAll(() => t.close());

  // ------------------------------------------------------------------ default pipeline

  describe('the default pipeline', () => {
    it('every new organization has exactly one, with the section 6 stages at positions 0..3', async () => {
      const fresh = await register(t, 'fresh', 'Fresh Org');
      const created = await t
        .http()
        .post(`${API}/organizations`)
        .set(as(fresh))
        .send({ name: 'Second Org' });
      expect(created.status).toBe(201);
      const secondOrg = (created.body as { id: string }).id;
      const cases: [Session, string][] = [
        [team.owner, team.organizationId],
        [team.outsider, team.outsider.organizationId],
        [fresh, fresh.organizationId],
        [fresh, secondOrg],
      ];
      const ids = new Set<string>();
      for (const [s, organizationId] of cases) {
        const res = await t.http().get(PIPELINES).set(as(s, organizationId));
        expect(res.status).toBe(200);
        const body = res.body as Page<PipelineBody>;
        expect(body.total).toBe(1);
        expect(body.items).toHaveLength(1);
        const [pipeline] = body.items;
        expect(keysOf(pipeline)).toEqual(PIPELINE_KEYS);
        expect(pipeline).toEqual({
          id: expect.stringMatching(UUID),
          organizationId,
          name: expect.any(String),
          isDefault: true,
          stages: DEFAULT_STAGES.map((s) => ({
            key: s.key,
            name: expect.any(String),
            position: s.position,
            probability: s.probability,
          })),
          createdAt: expect.stringMatching(ISO_TIMESTAMP),
          updatedAt: expect.stringMatching(ISO_TIMESTAMP),
        });
        for (const st of pipeline.stages)
          expect(keysOf(st)).toEqual(['key', 'name', 'position', 'probability']);
        ids.add(pipeline.id);
        const rows = await pipelineRows(organizationId);
        expect(rows.filter((r) => r.is_default)).toHaveLength(1);
      }
      expect(ids.size).toBe(cases.length);
    });

    it('every role of the organization may list and read pipelines', async () => {
      for (const role of ['owner', 'admin', 'manager', 'member'] as const) {
        const res = await list(team[role]);
        expect(res.status).toBe(200);
        expect(idsOf((res.body as Page<PipelineBody>).items)).toContain(defaultPipeline.id);
        const one = await get(team[role], defaultPipeline.id);
        expect(one.status).toBe(200);
        expect(one.body).toEqual(defaultPipeline);
      }
    });

    it('the default pipeline cannot be deleted (409 PIPELINE_IN_USE), by owner or admin', async () => {
      for (const s of [team.owner, team.admin]) {
        expectError(await del(s, defaultPipeline.id), 409, 'PIPELINE_IN_USE');
      }
      expect((await get(team.owner, defaultPipeline.id)).status).toBe(200);
    });
  });

  // ------------------------------------------------------------------ list

  describe('GET /pipelines is a list like every list', () => {
    let owner: Session;
    let all: string[];

    beforeAll(async () => {
      owner = await register(t, 'lister', 'List Org');
      for (let i = 0; i < 4; i += 1) {
        const res = await post(owner, { name: `P${i}`, stages: [stage('a'), stage('b')] });
        expect(res.status).toBe(201);
      }
      const res = await list(owner, 'pageSize=100&order=asc');
      expect(res.status).toBe(200);
      all = idsOf((res.body as Page<PipelineBody>).items);
      expect(all).toHaveLength(5);
    });

    it('pages with page/pageSize and total, newest first by default, oldest first with order=asc', async () => {
      const rows: { id: string }[] = await t.db.query(
        `SELECT id FROM pipelines WHERE organization_id = $1 ORDER BY created_at, id`,
        [owner.organizationId],
      );
      const asc = rows.map((r) => r.id);
      expect(all).toEqual(asc);
      const desc = [...asc].reverse();
      const first = await list(owner, 'page=1&pageSize=2');
      expect(first.status).toBe(200);
      expect(first.body).toEqual({
        items: expect.any(Array),
        total: 5,
        page: 1,
        pageSize: 2,
      });
      const pages: string[] = [];
      for (const page of [1, 2, 3]) {
        const res = await list(owner, `page=${page}&pageSize=2`);
        expect(res.status).toBe(200);
        pages.push(...idsOf((res.body as Page<PipelineBody>).items));
      }
      expect(pages).toEqual(desc);
      const defaults = await list(owner);
      expect(defaults.body).toMatchObject({ total: 5, page: 1, pageSize: 20 });
      expect(idsOf((defaults.body as Page<PipelineBody>).items)).toEqual(desc);
      // The default pipeline (the oldest) comes last by default.
      expect((defaults.body as Page<PipelineBody>).items[4].isDefault).toBe(true);
    });

    it('walks with limit/cursor (keyset) without repeats or gaps', async () => {
      for (const order of ['asc', 'desc']) {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = `limit=2&order=${order}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const res = await list(owner, query);
          expect(res.status).toBe(200);
          const body = res.body as Keyset<PipelineBody>;
          expect(keysOf(body)).toEqual(['items', 'nextCursor']);
          seen.push(...idsOf(body.items));
          cursor = body.nextCursor;
          pages += 1;
        } while (cursor && pages < 10);
        expect(pages).toBe(3);
        expect(seen).toEqual(order === 'asc' ? all : [...all].reverse());
      }
    });

    it('rejects bad list parameters and foreign or tampered cursors (400)', async () => {
      const first = await list(owner, 'limit=2');
      const cursor = (first.body as Keyset<PipelineBody>).nextCursor!;
      expect(cursor).toEqual(expect.any(String));
      for (const query of [
        'page=0',
        'pageSize=0',
        'pageSize=101',
        'limit=0',
        'limit=101',
        'page=1&limit=2',
        `pageSize=2&cursor=${encodeURIComponent(cursor)}`,
        `limit=2&cursor=${encodeURIComponent(`${cursor}x`)}`,
        `limit=2&order=asc&cursor=${encodeURIComponent(cursor)}`,
        'order=sideways',
        'isDefault=true',
      ]) {
        expectError(await list(owner, query), 400, 'VALIDATION_FAILED');
      }
      // A cursor of the deals list is not a pipelines cursor.
      const contactId = await createContact(owner);
      for (let i = 0; i < 2; i += 1) await createDeal(owner, contactId);
      const deals = await listDeals(owner, 'limit=1');
      const dealCursor = (deals.body as Keyset<DealBody>).nextCursor!;
      expect(dealCursor).toEqual(expect.any(String));
      expectError(
        await list(owner, `limit=2&cursor=${encodeURIComponent(dealCursor)}`),
        400,
        'VALIDATION_FAILED',
      );
    });

    it("lists only the caller's organization's pipelines", async () => {
      const res = await list(team.outsider, 'pageSize=100');
      expect(res.status).toBe(200);
      const items = (res.body as Page<PipelineBody>).items;
      expect(items.every((p) => p.organizationId === team.outsider.organizationId)).toBe(true);
      expect(idsOf(items)).not.toContain(defaultPipeline.id);
    });
  });

  // ------------------------------------------------------------------ POST

  describe('POST /pipelines', () => {
    it('owner and admin create (201): positions 0, 1, 2... in the given order', async () => {
      for (const s of [team.owner, team.admin]) {
        const before = Date.now();
        const res = await post(s, { name: '  Enterprise  ', stages: SALES_STAGES });
        expect(res.status).toBe(201);
        expect(keysOf(res.body)).toEqual(PIPELINE_KEYS);
        const body = res.body as PipelineBody;
        expect(body).toEqual({
          id: expect.stringMatching(UUID),
          organizationId: team.organizationId,
          name: 'Enterprise',
          isDefault: false,
          stages: positioned(SALES_STAGES),
          createdAt: expect.stringMatching(ISO_TIMESTAMP),
          updatedAt: expect.stringMatching(ISO_TIMESTAMP),
        });
        expect(Date.parse(body.createdAt)).toBeGreaterThanOrEqual(before - 5_000);
        expect((await get(team.member, body.id)).body).toEqual(body);
      }
    });

    it('manager and member may not (403 FORBIDDEN), before validation, and nothing is created', async () => {
      const before = await pipelineRows(team.organizationId);
      for (const s of [team.manager, team.member]) {
        expectError(await post(s, { name: 'Mine', stages: SALES_STAGES }), 403, 'FORBIDDEN');
        expectError(await post(s, { name: '', stages: [] }), 403, 'FORBIDDEN');
      }
      expect(await pipelineRows(team.organizationId)).toEqual(before);
    });

    it('accepts the bounds: 2 and 20 stages, 40-char keys, probability 0 and 100, 200-char names', async () => {
      const twenty = Array.from({ length: 20 }, (_, i) => stage(`s${i}`, i * 5));
      const res20 = await post(team.owner, { name: 'n'.repeat(200), stages: twenty });
      expect(res20.status).toBe(201);
      expect((res20.body as PipelineBody).stages).toEqual(positioned(twenty));
      const edge = [
        { key: `a${'b_9'.repeat(13)}`, name: 'x'.repeat(100), probability: 0 },
        { key: 'z', name: 'Z', probability: 100 },
      ];
      expect(edge[0].key).toHaveLength(40);
      const res2 = await post(team.owner, { name: 'P', stages: edge });
      expect(res2.status).toBe(201);
      expect((res2.body as PipelineBody).stages).toEqual(positioned(edge));
    });

    const two = [stage('a'), stage('b')];
    const invalid: [string, unknown][] = [
      ['no body', undefined],
      ['no name', { stages: two }],
      ['an empty name', { name: '', stages: two }],
      ['a blank name', { name: '   ', stages: two }],
      ['a 201-char name', { name: 'n'.repeat(201), stages: two }],
      ['a numeric name', { name: 5, stages: two }],
      ['no stages', { name: 'P' }],
      ['stages not an array', { name: 'P', stages: stage('a') }],
      ['stages that are arrays', { name: 'P', stages: [[], []] }],
      ['a stage that is a string', { name: 'P', stages: ['a', stage('b')] }],
      ['one stage', { name: 'P', stages: [stage('a')] }],
      ['no stage', { name: 'P', stages: [] }],
      ['21 stages', { name: 'P', stages: Array.from({ length: 21 }, (_, i) => stage(`s${i}`)) }],
      ['a duplicate key', { name: 'P', stages: [stage('a'), stage('b'), stage('a')] }],
      ['an upper-case key', { name: 'P', stages: [stage('Lead'), stage('b')] }],
      ['a key starting with a digit', { name: 'P', stages: [stage('1a'), stage('b')] }],
      ['a key starting with _', { name: 'P', stages: [stage('_a'), stage('b')] }],
      ['a key with a dash', { name: 'P', stages: [stage('a-b'), stage('b')] }],
      ['an empty key', { name: 'P', stages: [stage(''), stage('b')] }],
      ['a 41-char key', { name: 'P', stages: [stage(`a${'b'.repeat(40)}`), stage('b')] }],
      ['a numeric key', { name: 'P', stages: [{ key: 1, name: 'A', probability: 1 }, stage('b')] }],
      ['probability -1', { name: 'P', stages: [stage('a', -1), stage('b')] }],
      ['probability 101', { name: 'P', stages: [stage('a', 101), stage('b')] }],
      ['probability 10.5', { name: 'P', stages: [stage('a', 10.5), stage('b')] }],
      [
        'probability as a string',
        { name: 'P', stages: [{ key: 'a', name: 'A', probability: '10' }, stage('b')] },
      ],
      ['no probability', { name: 'P', stages: [{ key: 'a', name: 'A' }, stage('b')] }],
      ['no stage name', { name: 'P', stages: [{ key: 'a', probability: 1 }, stage('b')] }],
      [
        'an empty stage name',
        { name: 'P', stages: [{ key: 'a', name: '', probability: 1 }, stage('b')] },
      ],
      ['a null stage', { name: 'P', stages: [null, stage('b')] }],
      [
        'a client-set position',
        { name: 'P', stages: [{ ...stage('a'), position: 5 }, stage('b')] },
      ],
      ['isDefault', { name: 'P', stages: two, isDefault: true }],
      ['an unknown property', { name: 'P', stages: two, color: 'red' }],
    ];
    it.each(invalid)('rejects %s (400 VALIDATION_FAILED) and creates nothing', async (_, body) => {
      const before = await pipelineRows(team.organizationId);
      const res = await post(team.owner, body);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(await pipelineRows(team.organizationId)).toEqual(before);
    });

    it('a duplicate key names the stages in details', async () => {
      const res = await post(team.owner, { name: 'P', stages: [stage('a'), stage('a')] });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect((res.body as { details: { field: string }[] }).details).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ field: expect.stringContaining('stages') }),
        ]),
      );
    });

    it('the same key may appear in different pipelines', async () => {
      const a = await createPipeline('A', [stage('x'), stage('y')]);
      const b = await createPipeline('B', [stage('x'), stage('y')]);
      expect(a.id).not.toBe(b.id);
    });
  });

  // ------------------------------------------------------------------ by id

  describe('GET, PATCH, DELETE /pipelines/{id}', () => {
    it("another organization's pipeline is 404 NOT_FOUND, as is an unknown id; a bad id is 400", async () => {
      const before = await pipelineRows(team.outsider.organizationId);
      for (const id of [outsiderPipeline.id, randomUUID()]) {
        expectError(await get(team.owner, id), 404, 'NOT_FOUND');
        expectError(await patch(team.owner, id, { name: 'Stolen' }), 404, 'NOT_FOUND');
        expectError(
          await patch(team.owner, id, { stages: [stage('a'), stage('b')] }),
          404,
          'NOT_FOUND',
        );
        expectError(await del(team.owner, id), 404, 'NOT_FOUND');
      }
      expectError(await get(team.outsider, defaultPipeline.id), 404, 'NOT_FOUND');
      expect(await pipelineRows(team.outsider.organizationId)).toEqual(before);
      expectError(await get(team.owner, 'not-a-uuid'), 400, 'VALIDATION_FAILED');
      expectError(await patch(team.owner, 'not-a-uuid', { name: 'X' }), 400, 'VALIDATION_FAILED');
      expectError(await del(team.owner, 'not-a-uuid'), 400, 'VALIDATION_FAILED');
    });

    it('precedence: role (403) before validation (400) before visibility (404)', async () => {
      const mine = await createPipeline('Precedence', [stage('a'), stage('b')]);
      for (const s of [team.manager, team.member]) {
        expectError(await patch(s, mine.id, { name: 'X' }), 403, 'FORBIDDEN');
        expectError(await patch(s, outsiderPipeline.id, { name: '' }), 403, 'FORBIDDEN');
        expectError(await del(s, mine.id), 403, 'FORBIDDEN');
        expectError(await del(s, outsiderPipeline.id), 403, 'FORBIDDEN');
      }
      expectError(
        await patch(team.owner, outsiderPipeline.id, { name: '' }),
        400,
        'VALIDATION_FAILED',
      );
      expectError(
        await patch(team.owner, outsiderPipeline.id, { stages: [stage('a')] }),
        400,
        'VALIDATION_FAILED',
      );
      expect((await get(team.owner, mine.id)).body).toEqual(mine);
    });

    it('an outsider without membership gets 403 NOT_A_MEMBER, and no token 401', async () => {
      expectError(
        await t.http().get(PIPELINES).set(as(team.outsider, team.organizationId)),
        403,
        'NOT_A_MEMBER',
      );
      expectError(
        await t.http().get(PIPELINES).set({ 'x-organization-id': team.organizationId }),
        401,
        'UNAUTHENTICATED',
      );
    });
  });

  // ------------------------------------------------------------------ PATCH

  describe('PATCH /pipelines/{id}', () => {
    it('renames the pipeline (stages unchanged, updatedAt moves)', async () => {
      const p = await createPipeline();
      await new Promise((r) => setTimeout(r, 5));
      const res = await patch(team.admin, p.id, { name: ' Renamed ' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        ...p,
        name: 'Renamed',
        updatedAt: expect.stringMatching(ISO_TIMESTAMP),
      });
      const body = res.body as PipelineBody;
      expect(Date.parse(body.updatedAt)).toBeGreaterThan(Date.parse(p.updatedAt));
      expect((await get(team.member, p.id)).body).toEqual(body);
    });

    it('adds a stage, renames a stage and reorders stages (positions reassigned)', async () => {
      const p = await createPipeline();
      const added = [
        SALES_STAGES[0],
        SALES_STAGES[1],
        stage('trial', 40),
        SALES_STAGES[2],
        SALES_STAGES[3],
      ];
      let res = await patch(team.owner, p.id, { stages: added });
      expect(res.status).toBe(200);
      expect((res.body as PipelineBody).stages).toEqual(positioned(added));

      const renamed = added.map((s) => (s.key === 'demo' ? { ...s, name: 'Product demo' } : s));
      res = await patch(team.owner, p.id, { stages: renamed });
      expect(res.status).toBe(200);
      expect((res.body as PipelineBody).stages).toEqual(positioned(renamed));

      const reordered = [renamed[0], renamed[3], renamed[1], renamed[2], renamed[4]];
      res = await patch(team.owner, p.id, { stages: reordered, name: 'Both' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: 'Both', stages: positioned(reordered) });
      expect((await get(team.member, p.id)).body).toEqual(res.body);
    });

    it('an empty body changes nothing', async () => {
      const p = await createPipeline();
      const res = await patch(team.owner, p.id, {});
      expect(res.status).toBe(200);
      expect(res.body).toEqual(p);
    });

    it.each([
      ['one stage', { stages: [stage('a')] }],
      ['21 stages', { stages: Array.from({ length: 21 }, (_, i) => stage(`s${i}`)) }],
      ['a duplicate key', { stages: [stage('a'), stage('a')] }],
      ['a bad key', { stages: [stage('A'), stage('b')] }],
      ['a bad probability', { stages: [stage('a', 101), stage('b')] }],
      ['an empty name', { name: '' }],
      ['a null name', { name: null }],
      ['null stages', { stages: null }],
      ['isDefault', { isDefault: true }],
    ])('rejects %s (400) and changes nothing', async (_, body) => {
      const p = await createPipeline();
      expectError(await patch(team.owner, p.id, body), 400, 'VALIDATION_FAILED');
      expect((await get(team.owner, p.id)).body).toEqual(p);
    });

    it('removing a stage that deals use is 409 STAGE_IN_USE and changes nothing; an unused one may go', async () => {
      const p = await createPipeline();
      const deal = await createDeal(team.owner, contact.owner, { pipelineId: p.id, stage: 'demo' });
      const rowsBefore = await pipelineRows(team.organizationId);
      const withoutDemo = SALES_STAGES.filter((s) => s.key !== 'demo');
      for (const s of [team.owner, team.admin]) {
        expectError(
          await patch(s, p.id, { name: 'Renamed', stages: withoutDemo }),
          409,
          'STAGE_IN_USE',
        );
      }
      // Renaming a stage key is removing the old one.
      expectError(
        await patch(team.owner, p.id, {
          stages: SALES_STAGES.map((s) => (s.key === 'demo' ? { ...s, key: 'demo2' } : s)),
        }),
        409,
        'STAGE_IN_USE',
      );
      expect(await pipelineRows(team.organizationId)).toEqual(rowsBefore);
      expect((await get(team.owner, p.id)).body).toEqual(p);

      // A stage only a deal of a member uses counts too.
      const q = await createPipeline();
      await createDeal(team.member, contact.member, { pipelineId: q.id, stage: 'contract' });
      expectError(
        await patch(team.owner, q.id, { stages: SALES_STAGES.filter((s) => s.key !== 'contract') }),
        409,
        'STAGE_IN_USE',
      );

      const withoutContract = SALES_STAGES.filter((s) => s.key !== 'contract');
      const res = await patch(team.owner, p.id, { stages: withoutContract });
      expect(res.status).toBe(200);
      expect((res.body as PipelineBody).stages).toEqual(positioned(withoutContract));
      // Once the deal moved on, demo may go as well.
      await patchDeal(team.owner, deal.id, { stage: 'lead' }).expect(200);
      const onlyLead = withoutContract.filter((s) => s.key !== 'demo');
      expect((await patch(team.owner, p.id, { stages: onlyLead })).status).toBe(200);
    });

    it('won/lost deals must stay at the last stage: moving it or appending after it is 409 STAGE_IN_USE', async () => {
      const p = await createPipeline();
      const won = await createDeal(team.owner, contact.owner, { pipelineId: p.id, status: 'won' });
      expect(won.stage).toBe('done');
      const [lead, demo, contract, done] = SALES_STAGES;
      for (const stages of [
        [lead, demo, done, contract],
        [done, lead, demo, contract],
        [lead, demo, contract, done, stage('after')],
      ]) {
        expectError(await patch(team.owner, p.id, { stages }), 409, 'STAGE_IN_USE');
      }
      expect((await get(team.owner, p.id)).body).toEqual(p);
      // Keeping done last is fine, even removing unused stages and inserting new ones before it.
      const ok = [demo, lead, stage('extra'), done];
      const res = await patch(team.owner, p.id, { stages: ok });
      expect(res.status).toBe(200);
      expect((res.body as PipelineBody).stages).toEqual(positioned(ok));

      // A lost deal pins the closing stage just the same.
      const q = await createPipeline();
      const open = await createDeal(team.owner, contact.owner, { pipelineId: q.id });
      await t
        .http()
        .post(`${DEALS}/${open.id}/lose`)
        .set(headers(team.owner))
        .send({ reason: 'No' })
        .expect(200);
      expectError(
        await patch(team.owner, q.id, { stages: [lead, demo, done, contract] }),
        409,
        'STAGE_IN_USE',
      );
    });

    it('open deals may not end up at the new last (closing) stage: 409 STAGE_IN_USE', async () => {
      const p = await createPipeline();
      await createDeal(team.owner, contact.owner, { pipelineId: p.id, stage: 'contract' });
      const [lead, demo, contract, done] = SALES_STAGES;
      for (const stages of [
        [lead, demo, done, contract],
        [lead, demo, contract],
      ]) {
        expectError(await patch(team.owner, p.id, { stages }), 409, 'STAGE_IN_USE');
      }
      expect((await get(team.owner, p.id)).body).toEqual(p);
      // Without won/lost deals, the closing stage may change to an unused stage.
      const ok = [lead, contract, demo, stage('signed')];
      expect((await patch(team.owner, p.id, { stages: ok })).status).toBe(200);
    });

    it("after a reorder, the deals' stage order follows the new positions", async () => {
      const p = await createPipeline();
      const deal = await createDeal(team.member, contact.member, {
        pipelineId: p.id,
        stage: 'contract',
      });
      expectError(
        await patchDeal(team.member, deal.id, { stage: 'demo' }),
        403,
        'STAGE_ROLLBACK_FORBIDDEN',
      );
      const [lead, demo, contract, done] = SALES_STAGES;
      const res = await patch(team.owner, p.id, { stages: [lead, contract, demo, done] });
      expect(res.status).toBe(200);
      // demo now comes after contract: a forward move for a member.
      const moved = await patchDeal(team.member, deal.id, { stage: 'demo' });
      expect(moved.status).toBe(200);
      expect((moved.body as DealBody).stage).toBe('demo');
      expectError(
        await patchDeal(team.member, deal.id, { stage: 'contract' }),
        403,
        'STAGE_ROLLBACK_FORBIDDEN',
      );
    });
  });

  // ------------------------------------------------------------------ races with deal writes

  /*
   * Stage edits racing deal writes (docs/decisions/0033): deal writes take no lock on the
   * pipeline row; a change that sets a stage or a status holds the pipeline's stage lock shared,
   * a stage edit exclusive. Each case pins one order of the race with a lock held by the test's
   * own connection and waits (pg_stat_activity) until the requests queue where the order needs
   * them; whatever the order, no deal is left at a stage its pipeline no longer has.
   */
  describe('stage edits racing deal writes', () => {
    const held: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const release of held.splice(0)) await release();
    });
    /** A transaction on a connection of its own, holding the locks of `sql` until `release`. */
    async function hold(sql: string, params: unknown[]): Promise<() => Promise<void>> {
      const runner = t.db.createQueryRunner();
      await runner.connect();
      await runner.startTransaction();
      await runner.query(sql, params);
      let open = true;
      const release = async (): Promise<void> => {
        if (!open) return;
        open = false;
        await runner.commitTransaction();
        await runner.release();
      };
      held.push(release);
      return release;
    }
    /**
     * Waits until `n` sessions of this database wait for a lock of this kind (running a
     * statement that contains `statement`, when given).
     */
    async function waiting(
      event: 'advisory' | 'transactionid' | 'relation',
      n: number,
      statement = '',
    ): Promise<void> {
      for (let i = 0; i < 500; i += 1) {
        const [{ count }]: { count: number }[] = await t.db.query(
          `SELECT count(*)::int AS count FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1
              AND strpos(query, $2) > 0`,
          [event, statement],
        );
        if (count >= n) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`no ${n} sessions waiting for a ${event} lock`);
    }
    const getDeal = (id: string): Test => t.http().get(`${DEALS}/${id}`).set(headers(team.owner));
    /** Starts the request now (supertest sends on `then`). */
    const send = (test: Test): Promise<Response> => test.then((res) => res);
    async function dealStages(pipelineId: string): Promise<string[]> {
      const rows: { stage: string }[] = await t.db.query(
        'SELECT DISTINCT stage FROM deals WHERE pipeline_id = $1',
        [pipelineId],
      );
      return rows.map((r) => r.stage);
    }
    /** The invariant: every deal of the pipeline is at one of its stages, closed ones last. */
    async function expectConsistent(pipelineId: string) {
      const keys = ((await get(team.owner, pipelineId)).body as PipelineBody).stages.map(
        (s) => s.key,
      );
      const rows: { stage: string; status: string }[] = await t.db.query(
        'SELECT stage, status::text AS status FROM deals WHERE pipeline_id = $1',
        [pipelineId],
      );
      for (const row of rows) {
        expect(keys).toContain(row.stage);
        expect(['won', 'lost'].includes(row.status)).toBe(row.stage === keys[keys.length - 1]);
      }
    }
    const lockDeal = (id: string) => hold('SELECT 1 FROM deals WHERE id = $1 FOR UPDATE', [id]);
    const [lead, demo, contract, done] = SALES_STAGES;

    it('a move that holds the stage lock first wins; the edit removing its stage then is 409 STAGE_IN_USE', async () => {
      const p = await createPipeline();
      const deal = await createDeal(team.owner, contact.owner, { pipelineId: p.id });
      // The move takes the stage lock, then waits for the deal row the test holds.
      const release = await lockDeal(deal.id);
      const move = send(patchDeal(team.owner, deal.id, { stage: 'demo' }));
      await waiting('transactionid', 1);
      const edit = send(patch(team.owner, p.id, { stages: [lead, contract, done] }));
      await waiting('advisory', 1);
      await release();
      const moved = await move;
      expect(moved.status).toBe(200);
      expect((moved.body as DealBody).stage).toBe('demo');
      expectError(await edit, 409, 'STAGE_IN_USE');
      expect((await get(team.owner, p.id)).body).toEqual(p);
      await expectConsistent(p.id);
    });

    it('a move queued behind an edit that renames its stage key reads the new stages: 422 INVALID_STAGE', async () => {
      const p = await createPipeline();
      const [first, second] = [
        await createDeal(team.owner, contact.owner, { pipelineId: p.id }),
        await createDeal(team.member, contact.member, { pipelineId: p.id }),
      ];
      // A move of `first` in flight (stage lock shared, waiting for the row); the edit queues
      // for the stage lock; a move of `second` to the renamed stage queues behind the edit.
      const release = await lockDeal(first.id);
      const inFlight = send(patchDeal(team.owner, first.id, { stage: 'contract' }));
      await waiting('transactionid', 1);
      const renamed = [lead, { ...demo, key: 'trial' }, contract, done];
      const edit = send(patch(team.owner, p.id, { stages: renamed }));
      await waiting('advisory', 1);
      const late = send(patchDeal(team.member, second.id, { stage: 'demo' }));
      await waiting('advisory', 2);
      await release();
      expect((await inFlight).status).toBe(200);
      const edited = await edit;
      expect(edited.status).toBe(200);
      expect((edited.body as PipelineBody).stages.map((s) => s.key)).toEqual([
        'lead',
        'trial',
        'contract',
        'done',
      ]);
      expectError(await late, 422, 'INVALID_STAGE');
      expect(((await getDeal(second.id)).body as DealBody).stage).toBe('lead');
      expect(await dealActivities(second.id)).toEqual([]);
      // The new key is a stage like any other.
      await patchDeal(team.member, second.id, { stage: 'trial' }).expect(200);
      await expectConsistent(p.id);
    });

    it('closing stage: an open deal moving to the stage an edit makes the closing one', async () => {
      // The move first: the edit finds an open deal at its new closing stage (409).
      const p = await createPipeline();
      const deal = await createDeal(team.owner, contact.owner, { pipelineId: p.id });
      let release = await lockDeal(deal.id);
      const move = send(patchDeal(team.owner, deal.id, { stage: 'contract' }));
      await waiting('transactionid', 1);
      const edit = send(patch(team.owner, p.id, { stages: [lead, demo, contract] }));
      await waiting('advisory', 1);
      await release();
      expect((await move).status).toBe(200);
      expectError(await edit, 409, 'STAGE_IN_USE');
      await expectConsistent(p.id);

      // The edit first: the move finds contract closing, which an open deal may not take (422);
      // a win moves the deal to the new closing stage.
      const q = await createPipeline();
      const [busy, late] = [
        await createDeal(team.owner, contact.owner, { pipelineId: q.id }),
        await createDeal(team.owner, contact.owner, { pipelineId: q.id, status: 'in_progress' }),
      ];
      release = await lockDeal(busy.id);
      const inFlight = send(patchDeal(team.owner, busy.id, { stage: 'demo' }));
      await waiting('transactionid', 1);
      const edit2 = send(patch(team.owner, q.id, { stages: [lead, demo, contract] }));
      await waiting('advisory', 1);
      const lateMove = send(patchDeal(team.owner, late.id, { stage: 'contract' }));
      await waiting('advisory', 2);
      await release();
      expect((await inFlight).status).toBe(200);
      expect((await edit2).status).toBe(200);
      expectError(await lateMove, 422, 'INVALID_STAGE');
      const won = await t
        .http()
        .post(`${DEALS}/${late.id}/win`)
        .set(headers(team.owner))
        .send({})
        .expect(200);
      expect((won.body as DealBody).stage).toBe('contract');
      await expectConsistent(q.id);
    });

    it('a deal created at a stage while an edit removes it: the edit waits for the creation (409)', async () => {
      const p = await createPipeline();
      // The creation holds the stage lock until its commit, which the test holds up: the last
      // step of a write is the events insert, which waits for the test's lock on that table.
      const release = await hold('LOCK TABLE events IN SHARE MODE', []);
      const create = send(
        postDeal(team.owner, {
          contactId: contact.owner,
          title: 'D',
          pipelineId: p.id,
          stage: 'demo',
        }),
      );
      await waiting('relation', 1, 'INSERT INTO events');
      const edit = send(patch(team.owner, p.id, { stages: [lead, contract, done] }));
      await waiting('advisory', 1);
      await release();
      expect((await create).status).toBe(201);
      expectError(await edit, 409, 'STAGE_IN_USE');
      expect(await dealStages(p.id)).toEqual(['demo']);
      await expectConsistent(p.id);
    });

    it('many moves and stage edits at once: only 200, 409 STAGE_IN_USE and 422 INVALID_STAGE, and a consistent pipeline', async () => {
      const extra = [stage('review'), stage('legal')];
      const full = [lead, demo, ...extra, contract, done];
      const p = await createPipeline('Busy', full);
      const deals = await Promise.all(
        Array.from({ length: 8 }, () =>
          createDeal(team.owner, contact.owner, { pipelineId: p.id }),
        ),
      );
      const targets = ['demo', 'review', 'legal', 'contract'];
      const edits = [
        [lead, demo, contract, done],
        full,
        [lead, stage('review'), contract, done],
        full,
        [lead, demo, stage('legal'), contract, done],
      ];
      const responses = await Promise.all([
        ...deals.flatMap((d, i) => [
          send(patchDeal(team.owner, d.id, { stage: targets[i % 4] })),
          send(patchDeal(team.owner, d.id, { stage: targets[(i + 1) % 4] })),
        ]),
        ...edits.map((stages) => send(patch(team.owner, p.id, { stages }))),
      ]);
      const moves = responses.slice(0, deals.length * 2);
      for (const res of moves) {
        if (res.status !== 200) expectError(res, 422, 'INVALID_STAGE');
      }
      for (const res of responses.slice(deals.length * 2)) {
        if (res.status !== 200) expectError(res, 409, 'STAGE_IN_USE');
      }
      await expectConsistent(p.id);
    });
  });

  // ------------------------------------------------------------------ DELETE

  describe('DELETE /pipelines/{id}', () => {
    it('deletes a pipeline without deals (204); then it is gone (404)', async () => {
      for (const s of [team.owner, team.admin]) {
        const p = await createPipeline('Doomed');
        const res = await del(s, p.id);
        expect(res.status).toBe(204);
        expect(res.text).toBe('');
        expectError(await get(team.owner, p.id), 404, 'NOT_FOUND');
        expectError(await del(s, p.id), 404, 'NOT_FOUND');
        const all = await list(team.owner, 'pageSize=100');
        expect(idsOf((all.body as Page<PipelineBody>).items)).not.toContain(p.id);
      }
    });

    it('a pipeline with deals (any status, any owner) is 409 PIPELINE_IN_USE until they are gone', async () => {
      const p = await createPipeline('Busy');
      const deal = await createDeal(team.member, contact.member, {
        pipelineId: p.id,
        status: 'lost',
      });
      expectError(await del(team.owner, p.id), 409, 'PIPELINE_IN_USE');
      expectError(await del(team.admin, p.id), 409, 'PIPELINE_IN_USE');
      expect((await get(team.owner, p.id)).body).toEqual(p);
      await t.http().delete(`${DEALS}/${deal.id}`).set(headers(team.member)).expect(204);
      expect((await del(team.owner, p.id)).status).toBe(204);
    });
  });

  // ------------------------------------------------------------------ deals in pipelines

  describe('deals in pipelines', () => {
    let sales: PipelineBody;

    beforeAll(async () => {
      sales = await createPipeline('Sales funnel');
    });

    it('without pipelineId a deal joins the default pipeline at its first stage', async () => {
      const deal = await createDeal(team.member, contact.member);
      expect(deal).toMatchObject({
        pipelineId: defaultPipeline.id,
        stage: 'qualification',
        lostReason: null,
      });
    });

    it('with pipelineId it joins that pipeline at ITS first stage; won/lost start at its last', async () => {
      const deal = await createDeal(team.member, contact.member, { pipelineId: sales.id });
      expect(deal).toMatchObject({ pipelineId: sales.id, stage: 'lead', status: 'new' });
      const got = await t.http().get(`${DEALS}/${deal.id}`).set(headers(team.member));
      expect(got.body).toEqual(deal);
      const won = await createDeal(team.manager, contact.manager, {
        pipelineId: sales.id,
        status: 'won',
      });
      expect(won).toMatchObject({ status: 'won', stage: 'done' });
      const lost = await createDeal(team.owner, contact.owner, {
        pipelineId: sales.id,
        status: 'lost',
        stage: 'done',
      });
      expect(lost).toMatchObject({ status: 'lost', stage: 'done' });
      // An upper-case pipeline id is the same id.
      const upper = await createDeal(team.owner, contact.owner, {
        pipelineId: sales.id.toUpperCase(),
        stage: 'demo',
      });
      expect(upper).toMatchObject({ pipelineId: sales.id, stage: 'demo' });
    });

    it("stage must be a key of the deal's own pipeline (422 INVALID_STAGE)", async () => {
      const before = await t.db.query('SELECT count(*)::int AS n FROM deals');
      for (const body of [
        { pipelineId: sales.id, stage: 'proposal' },
        { pipelineId: sales.id, stage: 'qualification' },
        { pipelineId: sales.id, stage: 'closed', status: 'lost' },
        { stage: 'demo' },
        { pipelineId: sales.id, stage: 'done' },
        { pipelineId: sales.id, stage: 'done', status: 'in_progress' },
        { stage: 'closed' },
      ]) {
        expectError(
          await postDeal(team.owner, { contactId: contact.owner, title: 'X', ...body }),
          422,
          'INVALID_STAGE',
        );
      }
      expect(await t.db.query('SELECT count(*)::int AS n FROM deals')).toEqual(before);

      const inSales = await createDeal(team.owner, contact.owner, { pipelineId: sales.id });
      const inDefault = await createDeal(team.owner, contact.owner);
      expectError(
        await patchDeal(team.owner, inSales.id, { stage: 'proposal' }),
        422,
        'INVALID_STAGE',
      );
      expectError(
        await patchDeal(team.owner, inSales.id, { stage: 'closed' }),
        422,
        'INVALID_STAGE',
      );
      expectError(
        await patchDeal(team.owner, inDefault.id, { stage: 'demo' }),
        422,
        'INVALID_STAGE',
      );
      expectError(
        await patchDeal(team.owner, inDefault.id, { stage: 'done' }),
        422,
        'INVALID_STAGE',
      );
      // The closing stage of the custom pipeline needs won/lost.
      await patchDeal(team.owner, inSales.id, { status: 'in_progress' }).expect(200);
      expectError(await patchDeal(team.owner, inSales.id, { stage: 'done' }), 422, 'INVALID_STAGE');
      // A stage key that is not even well-formed is a 400.
      expectError(
        await patchDeal(team.owner, inSales.id, { stage: 'Done' }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('stage order, rollback and the closing stage follow the custom positions', async () => {
      const deal = await createDeal(team.member, contact.member, { pipelineId: sales.id });
      let res = await patchDeal(team.member, deal.id, { stage: 'contract', status: 'in_progress' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ stage: 'contract', status: 'in_progress' });
      // member and manager may not go back: contract -> demo.
      expectError(
        await patchDeal(team.member, deal.id, { stage: 'demo' }),
        403,
        'STAGE_ROLLBACK_FORBIDDEN',
      );
      expectError(
        await patchDeal(team.manager, deal.id, { stage: 'lead' }),
        403,
        'STAGE_ROLLBACK_FORBIDDEN',
      );
      // won moves the deal to the pipeline's own closing stage.
      res = await patchDeal(team.member, deal.id, { status: 'won' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'won', stage: 'done', pipelineId: sales.id });
      expect(await dealActivities(deal.id)).toEqual([
        { type: 'stage_changed', payload: { from: 'lead', to: 'contract' } },
        { type: 'status_changed', payload: { from: 'new', to: 'in_progress' } },
        { type: 'stage_changed', payload: { from: 'contract', to: 'done' } },
        { type: 'status_changed', payload: { from: 'in_progress', to: 'won' } },
      ]);
      // A won deal stays at done.
      expectError(
        await patchDeal(team.owner, deal.id, { stage: 'contract' }),
        422,
        'INVALID_STAGE',
      );
      expectError(
        await patchDeal(team.member, deal.id, { stage: 'contract' }),
        403,
        'STAGE_ROLLBACK_FORBIDDEN',
      );

      // Owners and admins may go back.
      const other = await createDeal(team.owner, contact.owner, {
        pipelineId: sales.id,
        stage: 'contract',
      });
      for (const [s, to] of [
        [team.admin, 'demo'],
        [team.owner, 'lead'],
      ] as const) {
        res = await patchDeal(s, other.id, { stage: to });
        expect(res.status).toBe(200);
        expect((res.body as DealBody).stage).toBe(to);
      }
      // In the default pipeline the same member may go forward to negotiation, not to closed.
      const plain = await createDeal(team.member, contact.member, { status: 'in_progress' });
      expect((await patchDeal(team.member, plain.id, { stage: 'negotiation' })).status).toBe(200);
      expectError(
        await patchDeal(team.member, plain.id, { stage: 'closed' }),
        422,
        'INVALID_STAGE',
      );
    });

    it('pipelineId of another organization (or unknown) is 404; a malformed one 400', async () => {
      const before = await t.db.query('SELECT count(*)::int AS n FROM deals');
      for (const pipelineId of [outsiderPipeline.id, randomUUID()]) {
        expectError(
          await postDeal(team.owner, { contactId: contact.owner, title: 'X', pipelineId }),
          404,
          'NOT_FOUND',
        );
        // Visibility (404) comes before the stage rule (422).
        expectError(
          await postDeal(team.owner, {
            contactId: contact.owner,
            title: 'X',
            pipelineId,
            stage: 'nope',
          }),
          404,
          'NOT_FOUND',
        );
      }
      expectError(
        await postDeal(team.outsider, {
          contactId: contact.outsider,
          title: 'X',
          pipelineId: sales.id,
        }),
        404,
        'NOT_FOUND',
      );
      for (const pipelineId of ['nope', null, 5]) {
        expectError(
          await postDeal(team.owner, { contactId: contact.owner, title: 'X', pipelineId }),
          400,
          'VALIDATION_FAILED',
        );
      }
      // A deal's pipeline is not changed through PATCH.
      const deal = await createDeal(team.owner, contact.owner);
      expectError(
        await patchDeal(team.owner, deal.id, { pipelineId: sales.id }),
        400,
        'VALIDATION_FAILED',
      );
      expect(await t.db.query('SELECT count(*)::int AS n FROM deals')).toEqual([
        { n: (before as { n: number }[])[0].n + 1 },
      ]);
    });

    describe('the deals list pipelineId filter', () => {
      let owner: Session;
      let member: Session;
      let pipelineA: PipelineBody;
      let defaultOfOrg: string;
      const inA: string[] = [];
      const inDefault: string[] = [];
      let memberInA: string;

      beforeAll(async () => {
        owner = await register(t, 'filter', 'Filter Org');
        member = await register(t, 'filtermember');
        await t
          .http()
          .post(`${API}/organizations/current/members`)
          .set(as(owner, owner.organizationId))
          .send({ email: member.email, role: 'member' })
          .expect(201);
        member = { ...member, organizationId: owner.organizationId };
        const ownerContact = await createContact(owner);
        const memberContact = await createContact(member);
        pipelineA = await createPipeline('A', SALES_STAGES, owner);
        defaultOfOrg = ((await list(owner)).body as Page<PipelineBody>).items.find(
          (p) => p.isDefault,
        )!.id;
        for (let i = 0; i < 3; i += 1) {
          inA.push((await createDeal(owner, ownerContact, { pipelineId: pipelineA.id })).id);
          inDefault.push((await createDeal(owner, ownerContact)).id);
        }
        memberInA = (
          await createDeal(member, memberContact, { pipelineId: pipelineA.id, stage: 'demo' })
        ).id;
        inA.push(memberInA);
      });

      it('returns exactly the deals of that pipeline (with total), for each role', async () => {
        let res = await listDeals(owner, `pipelineId=${pipelineA.id}&pageSize=100`);
        expect(res.status).toBe(200);
        let body = res.body as Page<DealBody>;
        expect(body.total).toBe(4);
        expect(idsOf(body.items).sort()).toEqual([...inA].sort());
        expect(body.items.every((d) => d.pipelineId === pipelineA.id)).toBe(true);

        res = await listDeals(owner, `pipelineId=${defaultOfOrg}&pageSize=100`);
        body = res.body as Page<DealBody>;
        expect(body.total).toBe(3);
        expect(idsOf(body.items).sort()).toEqual([...inDefault].sort());

        res = await listDeals(owner, `pipelineId=${pipelineA.id}&stage=demo`);
        expect(idsOf((res.body as Page<DealBody>).items)).toEqual([memberInA]);

        res = await listDeals(member, `pipelineId=${pipelineA.id}`);
        expect(idsOf((res.body as Page<DealBody>).items)).toEqual([memberInA]);
        res = await listDeals(member, `pipelineId=${defaultOfOrg}`);
        expect((res.body as Page<DealBody>).total).toBe(0);

        // Another organization's pipeline finds nothing here.
        res = await listDeals(owner, `pipelineId=${defaultPipeline.id}`);
        expect(res.status).toBe(200);
        expect((res.body as Page<DealBody>).total).toBe(0);
        expectError(await listDeals(owner, 'pipelineId=nope'), 400, 'VALIDATION_FAILED');
      });

      it('keyset pages under the filter; its cursor is bound to the filter (400 otherwise)', async () => {
        const seen: string[] = [];
        let cursor: string | null = null;
        let first: string | null = null;
        do {
          const q: string = `pipelineId=${pipelineA.id}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const res = await listDeals(owner, q);
          expect(res.status).toBe(200);
          const body = res.body as Keyset<DealBody>;
          seen.push(...idsOf(body.items));
          cursor = body.nextCursor;
          first ??= cursor;
        } while (cursor);
        expect(seen.sort()).toEqual([...inA].sort());
        expect(first).toEqual(expect.any(String));
        for (const q of [`pipelineId=${defaultOfOrg}&limit=3`, 'limit=3']) {
          expectError(
            await listDeals(owner, `${q}&cursor=${encodeURIComponent(first!)}`),
            400,
            'VALIDATION_FAILED',
          );
        }
        const unfiltered = await listDeals(owner, 'limit=3');
        const plainCursor = (unfiltered.body as Keyset<DealBody>).nextCursor!;
        expectError(
          await listDeals(
            owner,
            `pipelineId=${pipelineA.id}&limit=3&cursor=${encodeURIComponent(plainCursor)}`,
          ),
          400,
          'VALIDATION_FAILED',
        );
      });
    });
  });
});
