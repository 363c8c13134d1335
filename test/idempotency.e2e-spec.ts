import { randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import { keyScope, requestFingerprint } from '../src/common/idempotency/idempotency-request';
import { as, expectError, PASSWORD, register, type Session } from './support/api';
import { REDIS_ENV } from './support/database';
import { redis, REDIS_URL } from './support/redis';
import { tcpProxy } from './support/tcp-proxy';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Idempotency-Key on POST (API.md section 17), against the real PostgreSQL and, with REDIS_URL,
 * the real Redis (skipped when no Redis answers, unless REQUIRE_REDIS=true makes the global setup
 * fail). The same suite runs on both stores.
 */

const describeOnRedis = process.env[REDIS_ENV] ? describe : describe.skip;

const KEY = 'Idempotency-Key';
const DEALS = '/api/v1/deals';
const CONTACTS = '/api/v1/contacts';

interface DealBody {
  id: string;
  title: string;
}

type Store = 'postgres' | 'redis';

function idempotencySuite(store: Store, env: () => Record<string, string>): void {
  let t: TestApp;
  let owner: Session;
  let contactId: string;

  const post = (path: string, session: Session, body: object, key?: string, org?: string) => {
    const req = t
      .http()
      .post(path)
      .set(as(session, org ?? session.organizationId));
    if (key !== undefined) void req.set(KEY, key);
    return req.send(body);
  };
  const dealCount = async (session: Session = owner, org?: string): Promise<number> => {
    const res = await t
      .http()
      .get(`${DEALS}?pageSize=1`)
      .set(as(session, org ?? session.organizationId));
    expect(res.status).toBe(200);
    return (res.body as { total: number }).total;
  };
  const newContact = async (session: Session, org?: string): Promise<string> => {
    const res = await post(CONTACTS, session, { name: `C ${randomUUID()}` }, undefined, org);
    expect(res.status).toBe(201);
    return (res.body as { id: string }).id;
  };
  const expectReplayOf = (res: Response, first: Response): void => {
    expect(res.status).toBe(first.status);
    expect(res.headers['idempotent-replayed']).toBe('true');
    expect(res.headers['content-type']).toBe(first.headers['content-type']);
    expect(res.text).toBe(first.text); // byte-identical JSON
    expect(res.headers.etag).toBe(first.headers.etag);
    expect(res.headers.location).toBe(first.headers.location);
  };
  /** The key's rows in PostgreSQL and keys in Redis (to tell which store kept it). */
  const keptIn = async (session: Session, key: string): Promise<{ pg: number; redis: number }> => {
    const scope = keyScope({ id: session.userId }, session.organizationId);
    const rows = await t.db.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM idempotency_keys WHERE scope = $1 AND key = $2',
      [scope, key],
    );
    const inRedis = process.env[REDIS_ENV]
      ? Number(await redis('EXISTS', redisKeyOf(scope, key)))
      : 0;
    return { pg: rows[0].n, redis: inRedis };
  };

  beforeAll(async () => {
    t = await createTestApp(env());
    owner = await register(t, `idem-${store}`);
    contactId = await newContact(owner);
  });
  afterAll(() => t.close());

  it(`keeps the answers in ${store}`, async () => {
    const key = randomUUID();
    const res = await post(DEALS, owner, { contactId, title: 'Where' }, key);
    expect(res.status).toBe(201);
    expect(await keptIn(owner, key)).toEqual(
      store === 'redis' ? { pg: 0, redis: 1 } : { pg: 1, redis: 0 },
    );
    if (store === 'redis') {
      const scope = keyScope({ id: owner.userId }, owner.organizationId);
      const ttl = Number(await redis('PTTL', redisKeyOf(scope, key)));
      expect(ttl).toBeGreaterThan((t.config.idempotencyTtlSeconds - 60) * 1000);
    } else {
      const [row] = await t.db.query<{ state: string; ttl: number }[]>(
        `SELECT state, extract(epoch FROM expires_at - now())::int AS ttl FROM idempotency_keys WHERE key = $1`,
        [key],
      );
      expect(row.state).toBe('completed');
      expect(row.ttl).toBeGreaterThan(t.config.idempotencyTtlSeconds - 60);
    }
  });

  it('20 concurrent POSTs with one key and one body create one deal; each answer is the 201 or 409 IDEMPOTENCY_KEY_IN_USE; a later retry replays the 201', async () => {
    const before = await dealCount();
    const key = randomUUID();
    const body = { contactId, title: 'Concurrent', amount: '100.00' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => post(DEALS, owner, body, key)),
    );
    const created = answers.filter((a) => a.status === 201);
    const busy = answers.filter((a) => a.status !== 201);
    for (const res of busy) expectError(res, 409, 'IDEMPOTENCY_KEY_IN_USE');
    expect(created.length).toBeGreaterThanOrEqual(1);
    const originals = created.filter((a) => a.headers['idempotent-replayed'] === undefined);
    expect(originals).toHaveLength(1);
    const [original] = originals;
    // The headers that matter are replayed too (the ETag of API.md section 17).
    expect(original.headers.etag).toEqual(expect.any(String));
    for (const res of created) {
      expect((res.body as DealBody).id).toBe((original.body as DealBody).id);
      if (res !== original) expectReplayOf(res, original);
    }
    expect(await dealCount()).toBe(before + 1);

    const retry = await post(DEALS, owner, body, key);
    expectReplayOf(retry, original);
    expect(await dealCount()).toBe(before + 1);
    // The body's property order does not matter.
    const reordered = await post(
      DEALS,
      owner,
      { amount: '100.00', title: 'Concurrent', contactId },
      key,
    );
    expectReplayOf(reordered, original);
    expect(await dealCount()).toBe(before + 1);
  });

  it('the same key with another body (or another route) -> 422 IDEMPOTENCY_KEY_REUSED, nothing created', async () => {
    const key = randomUUID();
    expect((await post(DEALS, owner, { contactId, title: 'First' }, key)).status).toBe(201);
    const before = await dealCount();
    expectError(
      await post(DEALS, owner, { contactId, title: 'Second' }, key),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    expectError(
      await post(CONTACTS, owner, { contactId, title: 'First' }, key),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect(await dealCount()).toBe(before);
  });

  it('another user, or the same user in another organization, with the same key is independent', async () => {
    const key = randomUUID();
    const first = await post(DEALS, owner, { contactId, title: 'Mine' }, key);
    expect(first.status).toBe(201);

    const other = await register(t, `idem-other-${store}`);
    const theirContact = await newContact(other);
    const theirs = await post(DEALS, other, { contactId: theirContact, title: 'Mine' }, key);
    expect(theirs.status).toBe(201);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(await dealCount(other)).toBe(1);

    const org = await t
      .http()
      .post('/api/v1/organizations')
      .set(as(owner))
      .send({ name: `Second ${store}` });
    expect(org.status).toBe(201);
    const secondOrg = (org.body as { id: string }).id;
    const secondContact = await newContact(owner, secondOrg);
    const there = await post(
      DEALS,
      owner,
      { contactId: secondContact, title: 'Mine' },
      key,
      secondOrg,
    );
    expect(there.status).toBe(201);
    expect(there.headers['idempotent-replayed']).toBeUndefined();
    expect(await dealCount(owner, secondOrg)).toBe(1);
    // And the first one's answer is still its own.
    expectReplayOf(await post(DEALS, owner, { contactId, title: 'Mine' }, key), first);
  });

  it('a 4xx answer is kept and replayed identically, even when the request would now succeed', async () => {
    const email = `taken-${randomUUID()}@example.com`;
    const existing = await post(CONTACTS, owner, { name: 'Taken', email });
    expect(existing.status).toBe(201);
    const key = randomUUID();
    const first = await post(CONTACTS, owner, { name: 'Again', email }, key);
    expectError(first, 409, 'CONTACT_EMAIL_TAKEN');
    const del = await t
      .http()
      .delete(`${CONTACTS}/${(existing.body as { id: string }).id}`)
      .set(as(owner, owner.organizationId));
    expect(del.status).toBe(204);
    const retry = await post(CONTACTS, owner, { name: 'Again', email }, key);
    expectReplayOf(retry, first);
    expect((retry.body as { requestId: string }).requestId).toBe(
      (first.body as { requestId: string }).requestId,
    );
    // Without the key the same request now succeeds: the replay did not run it.
    expect((await post(CONTACTS, owner, { name: 'Again', email })).status).toBe(201);

    // A validation 400 likewise.
    const invalidKey = randomUUID();
    const invalid = await post(DEALS, owner, { contactId, title: '' }, invalidKey);
    expectError(invalid, 400, 'VALIDATION_FAILED');
    expectReplayOf(await post(DEALS, owner, { contactId, title: '' }, invalidKey), invalid);
  });

  it('a 5xx is not kept: the key is released and a retry runs again (a real 500: the deals table renamed away)', async () => {
    const key = randomUUID();
    const body = { contactId, title: 'After the outage' };
    await t.db.query('ALTER TABLE deals RENAME TO deals_away');
    let failed: Response;
    try {
      failed = await post(DEALS, owner, body, key);
    } finally {
      await t.db.query('ALTER TABLE deals_away RENAME TO deals');
    }
    expectError(failed, 500, 'INTERNAL_ERROR');
    expect(await keptIn(owner, key)).toEqual({ pg: 0, redis: 0 });
    const retry = await post(DEALS, owner, body, key);
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expectReplayOf(await post(DEALS, owner, body, key), retry);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['non-ASCII', 'clé'],
    ['a control character', 'a\tb'],
  ])(
    'an invalid key (%s) -> 400 VALIDATION_FAILED naming the header, nothing created',
    async (_, key) => {
      const before = await dealCount();
      const res = await t
        .http()
        .post(DEALS)
        .set(as(owner, owner.organizationId))
        .set(KEY, key)
        .send({ contactId, title: 'Invalid key' });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect((res.body as { details: { field: string }[] }).details).toEqual([
        expect.objectContaining({ field: KEY }),
      ]);
      expect(await dealCount()).toBe(before);
    },
  );

  it('a key of 255 printable ASCII characters is accepted', async () => {
    const key = `${'~ !'.repeat(84)}${randomUUID().slice(0, 3)}`;
    expect(key).toHaveLength(255);
    const first = await post(DEALS, owner, { contactId, title: 'Long key' }, key);
    expect(first.status).toBe(201);
    expectReplayOf(await post(DEALS, owner, { contactId, title: 'Long key' }, key), first);
  });

  it('without the header POSTs behave as always (two requests, two deals)', async () => {
    const before = await dealCount();
    const a = await post(DEALS, owner, { contactId, title: 'No key' });
    const b = await post(DEALS, owner, { contactId, title: 'No key' });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect((a.body as DealBody).id).not.toBe((b.body as DealBody).id);
    expect(a.headers['idempotent-replayed']).toBeUndefined();
    expect(await dealCount()).toBe(before + 2);
  });

  it('an expired key works again (a new request, a new answer)', async () => {
    const key = randomUUID();
    const body = { contactId, title: 'Expires' };
    const first = await post(DEALS, owner, body, key);
    expect(first.status).toBe(201);
    const scope = keyScope({ id: owner.userId }, owner.organizationId);
    if (store === 'redis') {
      expect(await redis('PEXPIRE', redisKeyOf(scope, key), '1')).toBe('1');
      await new Promise((resolve) => setTimeout(resolve, 20));
    } else {
      const [, updated] = await t.db.query<[unknown, number]>(
        `UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE scope = $1 AND key = $2 RETURNING key`,
        [scope, key],
      );
      expect(updated).toBe(1);
    }
    const again = await post(DEALS, owner, body, key);
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect((again.body as DealBody).id).not.toBe((first.body as DealBody).id);
  });

  it('a key held by a running request -> 409 IDEMPOTENCY_KEY_IN_USE (same body) or 422 (another)', async () => {
    const key = randomUUID();
    const body = { contactId, title: 'Held' };
    const scope = keyScope({ id: owner.userId }, owner.organizationId);
    const fingerprint = requestFingerprint('POST', DEALS, body);
    if (store === 'redis') {
      const value = JSON.stringify({ token: randomUUID(), fingerprint, state: 'in_flight' });
      await redis('SET', redisKeyOf(scope, key), value, 'PX', '60000');
    } else {
      await t.db.query(
        `INSERT INTO idempotency_keys (scope, key, fingerprint, state, token, expires_at)
         VALUES ($1, $2, $3, 'in_flight', $4, now() + interval '1 day')`,
        [scope, key, fingerprint, randomUUID()],
      );
    }
    const before = await dealCount();
    expectError(await post(DEALS, owner, body, key), 409, 'IDEMPOTENCY_KEY_IN_USE');
    expectError(
      await post(DEALS, owner, { ...body, title: 'Other' }, key),
      422,
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect(await dealCount()).toBe(before);
    // A claim older than the lock timeout (its process died) is taken over.
    if (store === 'redis') {
      await redis('PEXPIRE', redisKeyOf(scope, key), '1');
      await new Promise((resolve) => setTimeout(resolve, 20));
    } else {
      await t.db.query(
        `UPDATE idempotency_keys SET created_at = now() - interval '61 seconds' WHERE scope = $1 AND key = $2`,
        [scope, key],
      );
    }
    const taken = await post(DEALS, owner, body, key);
    expect(taken.status).toBe(201);
    expectReplayOf(await post(DEALS, owner, body, key), taken);
  });

  it('multipart imports: replayed by URL (the file is not compared), another query -> 422', async () => {
    const contacts = async (): Promise<number> => {
      const res = await t.http().get(`${CONTACTS}?pageSize=1`).set(as(owner, owner.organizationId));
      return (res.body as { total: number }).total;
    };
    const upload = (csv: string, key: string, query = '') =>
      t
        .http()
        .post(`${CONTACTS}/import${query}`)
        .set(as(owner, owner.organizationId))
        .set(KEY, key)
        .attach('file', Buffer.from(csv, 'utf8'), 'contacts.csv');
    const key = randomUUID();
    const before = await contacts();
    const csv = `name,email,phone,companyName\nImported ${store},,,\n`;
    const first = await upload(csv, key);
    expect(first.status).toBe(200);
    expect(await contacts()).toBe(before + 1);
    expectReplayOf(await upload(csv, key), first);
    // Another file under the same key is the same request for the key (documented).
    expectReplayOf(await upload(`${csv}Second ${store},,,\n`, key), first);
    expectError(await upload(csv, key, '?onDuplicate=skip'), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await contacts()).toBe(before + 1);
  });

  it('POST /auth/login (public) ignores the header: every login answers with new tokens, nothing kept', async () => {
    const key = randomUUID();
    const login = () =>
      t
        .http()
        .post('/api/v1/auth/login')
        .set(KEY, key)
        .send({ email: owner.email, password: PASSWORD });
    const [a, b] = [await login(), await login()];
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect((a.body as { refreshToken: string }).refreshToken).not.toBe(
      (b.body as { refreshToken: string }).refreshToken,
    );
    const rows = await t.db.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1',
      [key],
    );
    expect(rows[0].n).toBe(0);
    if (store === 'redis')
      expect(await redis('--scan', '--pattern', `crm:idempotency:*:${b64(key)}`)).toBe('');
    // An invalid key on a public route is ignored too.
    const invalid = await t
      .http()
      .post('/api/v1/auth/login')
      .set(KEY, '')
      .send({ email: owner.email, password: PASSWORD });
    expect(invalid.status).toBe(200);
  });

  it('answers of the guards (401) are not kept: the same key works once authenticated', async () => {
    const key = randomUUID();
    const body = { contactId, title: 'After 401' };
    const denied = await t
      .http()
      .post(DEALS)
      .set({ authorization: 'Bearer nope', 'x-organization-id': owner.organizationId })
      .set(KEY, key)
      .send(body);
    expectError(denied, 401, 'UNAUTHENTICATED');
    const res = await post(DEALS, owner, body, key);
    expect(res.status).toBe(201);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
  });
}

const b64 = (key: string): string => Buffer.from(key, 'latin1').toString('base64url');
/** The Redis key of the store (crm:idempotency:<scope>:<base64url of the key>). */
const redisKeyOf = (scope: string, key: string): string => `crm:idempotency:${scope}:${b64(key)}`;

describe('Idempotency-Key in PostgreSQL (no REDIS_URL)', () => {
  idempotencySuite('postgres', () => ({}));

  describe('in the OpenAPI document', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp();
    });
    afterAll(() => t.close());

    interface Operation {
      security?: unknown[];
      parameters?: { $ref?: string; name?: string }[];
      responses: Record<string, { description: string; headers?: Record<string, unknown> }>;
    }

    it('every authenticated POST outside /auth documents the header, Idempotent-Replayed, 409 and 422; public ones do not', async () => {
      const res = await t.http().get('/docs-json');
      expect(res.status).toBe(200);
      const doc = res.body as {
        paths: Record<string, { post?: Operation }>;
        components: { parameters: Record<string, { name: string; in: string }> };
      };
      expect(doc.components.parameters.IdempotencyKey).toMatchObject({
        name: KEY,
        in: 'header',
        required: false,
      });
      const ref = '#/components/parameters/IdempotencyKey';
      const posts = Object.entries(doc.paths).filter(([, item]) => item.post);
      const taking = posts.filter(
        ([path, item]) => item.post!.security?.length && !path.startsWith('/api/v1/auth/'),
      );
      expect(taking.map(([path]) => path)).toEqual(
        expect.arrayContaining([DEALS, CONTACTS, `${CONTACTS}/import`]),
      );
      for (const [, { post }] of taking) {
        expect(post!.parameters).toContainEqual({ $ref: ref });
        const success = Object.entries(post!.responses).filter(([s]) => s.startsWith('2'));
        expect(success.length).toBeGreaterThan(0);
        for (const [, response] of success) {
          expect(response.headers).toHaveProperty('Idempotent-Replayed');
        }
        expect(post!.responses['409'].description).toContain('IDEMPOTENCY_KEY_IN_USE');
        expect(post!.responses['422'].description).toContain('IDEMPOTENCY_KEY_REUSED');
      }
      for (const path of ['/api/v1/auth/login', '/api/v1/auth/register', '/api/v1/auth/logout']) {
        const post = doc.paths[path].post!;
        expect(post.parameters ?? []).not.toContainEqual({ $ref: ref });
        expect(post.responses['409']?.description ?? '').not.toContain('IDEMPOTENCY');
      }
    });

    it('every POST documenting the header runs it (the interceptor is on each route): an invalid key -> 400 naming it', async () => {
      const doc = (await t.http().get('/docs-json')).body as {
        paths: Record<string, { post?: Operation }>;
      };
      const ref = '#/components/parameters/IdempotencyKey';
      const taking = Object.entries(doc.paths)
        .filter(([, item]) => item.post?.parameters?.some((p) => p.$ref === ref))
        .map(([path]) => path);
      expect(taking.length).toBeGreaterThan(25);
      const owner = await register(t, 'idem-every-post');
      for (const path of taking) {
        // Path parameters get a well-formed id: the key is refused before any record is read.
        const url = path.replace(/\{[^}]+\}/g, randomUUID());
        const res = await t
          .http()
          .post(url)
          .set(as(owner, owner.organizationId))
          .set(KEY, 'k'.repeat(256))
          .send({});
        expect({ path, status: res.status }).toEqual({ path, status: 400 });
        expect((res.body as { details: { field: string }[] }).details).toEqual([
          expect.objectContaining({ field: KEY }),
        ]);
      }
    });
  });
});

describeOnRedis('Idempotency-Key in Redis (REDIS_URL)', () => {
  idempotencySuite('redis', () => ({ REDIS_URL }));
});

describeOnRedis('Idempotency-Key while Redis is unreachable', () => {
  it('falls back to PostgreSQL (logged, crm_idempotency_degraded 1): keys still replay', async () => {
    const proxy = await tcpProxy(REDIS_URL, 6379);
    const logs: Record<string, unknown>[] = [];
    const t = await createTestApp({ REDIS_URL: proxy.url, LOG_LEVEL: 'info' }, logs);
    try {
      const owner = await register(t, 'idem-outage');
      const contact = await t
        .http()
        .post(CONTACTS)
        .set(as(owner, owner.organizationId))
        .send({ name: 'Outage' });
      expect(contact.status).toBe(201);
      await proxy.cut();
      const key = randomUUID();
      const send = () =>
        t
          .http()
          .post(DEALS)
          .set(as(owner, owner.organizationId))
          .set(KEY, key)
          .send({ contactId: (contact.body as { id: string }).id, title: 'During the outage' });
      const first = await send();
      expect(first.status).toBe(201);
      const retry = await send();
      expect(retry.status).toBe(201);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.text).toBe(first.text);
      const rows = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1',
        [key],
      );
      expect(rows[0].n).toBe(1);
      expect(
        logs.some((l) => String(l.msg).startsWith('idempotency keys: Redis unreachable')),
      ).toBe(true);
      expect((await t.http().get('/metrics')).text).toMatch(/^crm_idempotency_degraded 1$/m);
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});
