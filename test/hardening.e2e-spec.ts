import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import jwt from 'jsonwebtoken';
import type { AddressInfo } from 'node:net';
import { as, expectError, register, type Session } from './support/api';
import { createTestApp, TEST_ACCESS_SECRET, type TestApp } from './support/test-app';
import { UUID } from './support/resource';

/**
 * Regressions of the outside security probe (issue 10): each answer has the exact status, code
 * and error body, and the process keeps serving afterwards. The JWT claim cases live with the
 * other token attacks in auth.e2e-spec.ts.
 */

const nestedObject = (levels: number): string => `{"a":`.repeat(levels) + '1' + '}'.repeat(levels);
const nestedArray = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Sends bytes no HTTP client library would send, and reads the whole answer. */
function rawRequest(port: number, bytes: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      const [statusLine, ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(
        headerLines.map((line) => {
          const at = line.indexOf(':');
          return [line.slice(0, at).toLowerCase(), line.slice(at + 1).trim()];
        }),
      );
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: JSON.parse(rest.join('\r\n\r\n')) as unknown,
      });
    });
    socket.end(bytes);
  });
}

function expectRawError(answer: RawAnswer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.body).toEqual({
    statusCode: status,
    code,
    message: expect.any(String),
    requestId: expect.stringMatching(UUID),
  });
  expect(answer.headers['x-request-id']).toBe((answer.body as { requestId: string }).requestId);
}

describe('Hardening (issue 10 regressions)', () => {
  let t: TestApp;
  let port: number;
  let s: Session;
  const logLines: Record<string, unknown>[] = [];

  const expectServing = async (): Promise<void> => {
    expect((await t.http().get('/api/v1/health')).status).toBe(200);
  };

  beforeAll(async () => {
    t = await createTestApp({ LOG_LEVEL: 'info' }, logLines);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as AddressInfo).port;
    s = await register(t, 'hardening');
  });
  afterAll(() => t.close());

  describe('deeply nested JSON is a 400 at the parser, for every route, anonymous or not', () => {
    const errorLines = () => logLines.filter((l) => (l.level as number) >= 50);

    it.each([
      [
        '5,000 object levels on anonymous login',
        '/api/v1/auth/login',
        `{"email":${nestedObject(5000)}}`,
      ],
      [
        '5,000 array levels on anonymous login',
        '/api/v1/auth/login',
        `{"email":${nestedArray(5000)}}`,
      ],
      ['a top-level array of 100,000 levels', '/api/v1/auth/register', nestedArray(100_000)],
    ])('%s -> 400 VALIDATION_FAILED, one short log line, no error', async (_case, path, body) => {
      const before = errorLines().length;
      const res = await t.http().post(path).set('content-type', 'application/json').send(body);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect((res.body as { message: string }).message).toBe(
        'JSON body nests deeper than 32 levels',
      );
      expect(errorLines().length).toBe(before);
      expect(logLines.some((l) => l.msg === 'JSON body nested too deeply')).toBe(true);
      await expectServing();
    });

    it('on an authenticated route the guards answer first, then the nesting is a 400', async () => {
      const body = `{"firstName":${nestedObject(3000)}}`;
      const anonymous = await t
        .http()
        .post('/api/v1/contacts')
        .set('content-type', 'application/json')
        .send(body);
      expectError(anonymous, 401, 'UNAUTHENTICATED');
      const res = await t
        .http()
        .post('/api/v1/contacts')
        .set(as(s, s.organizationId))
        .set('content-type', 'application/json')
        .send(body);
      expectError(res, 400, 'VALIDATION_FAILED');
      await expectServing();
    });

    it('brackets inside strings do not count, and 32 levels still parse (then fail validation)', async () => {
      const inString = await t
        .http()
        .post('/api/v1/auth/login')
        .send({ email: '['.repeat(5000), password: '{'.repeat(100) });
      expectError(inString, 400, 'VALIDATION_FAILED');
      expect(
        (inString.body as { details: { field: string }[] }).details.map((d) => d.field),
      ).toContain('email');
      const atLimit = await t
        .http()
        .post('/api/v1/auth/login')
        .set('content-type', 'application/json')
        .send(`{"email":${nestedArray(31)},"password":"x"}`);
      expectError(atLimit, 400, 'VALIDATION_FAILED');
      expect((atLimit.body as { details?: unknown[] }).details).toBeDefined();
    });
  });

  describe("what Node's HTTP parser refuses carries the error body too", () => {
    it('headers over 16 KB -> 431 HEADERS_TOO_LARGE', async () => {
      const answer = await rawRequest(
        port,
        `GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      );
      expectRawError(answer, 431, 'HEADERS_TOO_LARGE');
      await expectServing();
    });

    it('a URL over 16 KB (search repeated 2,000 times) -> 431 HEADERS_TOO_LARGE', async () => {
      const query = Array.from({ length: 2000 }, () => 'search=acme').join('&');
      const res = await t.http().get(`/api/v1/contacts?${query}`).set(as(s, s.organizationId));
      expectError(res, 431, 'HEADERS_TOO_LARGE');
      await expectServing();
    });

    it('a long repeated query under the limit -> 400 VALIDATION_FAILED', async () => {
      const query = Array.from({ length: 1000 }, () => 'search=acme').join('&');
      const res = await t.http().get(`/api/v1/contacts?${query}`).set(as(s, s.organizationId));
      expectError(res, 400, 'VALIDATION_FAILED');
    });

    it('control bytes in Authorization -> 400 BAD_REQUEST', async () => {
      const answer = await rawRequest(
        port,
        `GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\u0001\u0002b\r\n\r\n`,
      );
      expectRawError(answer, 400, 'BAD_REQUEST');
      await expectServing();
    });

    it('a malformed request line -> 400 BAD_REQUEST', async () => {
      expectRawError(await rawRequest(port, 'NOT HTTP AT ALL\r\n\r\n'), 400, 'BAD_REQUEST');
      await expectServing();
    });

    it('documents both codes in the OpenAPI error code enum', async () => {
      const doc = (await t.http().get('/docs-json')).body as {
        components: { schemas: Record<string, { enum?: string[] }> };
      };
      expect(doc.components.schemas.ErrorCode.enum).toEqual(
        expect.arrayContaining(['HEADERS_TOO_LARGE', 'BAD_REQUEST']),
      );
    });
  });

  describe('what the fuzz test found (test/fuzz.e2e-spec.ts)', () => {
    it.each(['%zz', '%E0%A4%A', '%ff%fe', '%'])(
      'a path parameter with the malformed percent-encoding %s -> 400 VALIDATION_FAILED, the URL not echoed',
      async (escape) => {
        const res = await t.http().get(`/api/v1/contacts/${escape}`).set(as(s, s.organizationId));
        expectError(res, 400, 'VALIDATION_FAILED');
        expect(Object.keys(res.body as object).sort()).toEqual([
          'code',
          'message',
          'requestId',
          'statusCode',
        ]);
        expect(res.text).not.toContain(escape);
        await expectServing();
      },
    );

    it('a path parameter over 100 characters -> 400 VALIDATION_FAILED', async () => {
      const res = await t
        .http()
        .get(`/api/v1/contacts/${'9'.repeat(1000)}`)
        .set(as(s, s.organizationId));
      expectError(res, 400, 'VALIDATION_FAILED');
    });

    it.each([
      [
        'login (anonymous, an email)',
        '/api/v1/auth/login',
        { email: 'a\ud800@example.com', password: 'x' },
        'email',
      ],
      ['a contact name', '/api/v1/contacts', { name: 'Ada \udfff' }, 'name'],
      [
        'a nested array value',
        '/api/v1/contacts',
        { name: 'Ada', tags: ['ok', '\ud800'] },
        'tags[1]',
      ],
    ])(
      'an unpaired surrogate in %s -> 400 VALIDATION_FAILED naming the field',
      async (_case, path, body, field) => {
        const res = await t
          .http()
          .post(path)
          .set(as(s, s.organizationId))
          .set('content-type', 'application/json')
          .send(JSON.stringify(body));
        expectError(res, 400, 'VALIDATION_FAILED');
        expect((res.body as { details: { field: string }[] }).details).toEqual([
          { field, message: `${field} must not contain NUL characters or unpaired surrogates` },
        ]);
        await expectServing();
      },
    );

    it('a well-formed surrogate pair (an emoji) is text and is stored', async () => {
      const res = await t
        .http()
        .post('/api/v1/contacts')
        .set(as(s, s.organizationId))
        .send({ name: 'Ada \ud83d\ude80' });
      expect(res.status).toBe(201);
      expect((res.body as { name: string }).name).toBe('Ada 🚀');
    });

    it('an unsupported Content-Type: 401 first without a token, then 415 with the error body', async () => {
      const send = (headers: Record<string, string>) =>
        t
          .http()
          .post('/api/v1/contacts')
          .set({ 'content-type': 'text/plain', ...headers })
          .send('name=Ada');
      expectError(await send({}), 401, 'UNAUTHENTICATED');
      expectError(await send(as(s, s.organizationId)), 415, 'UNSUPPORTED_MEDIA_TYPE');
      await expectServing();
    });

    it('POST /organizations with a well-signed token of an account that does not exist -> 401', async () => {
      const token = jwt.sign({ sub: randomUUID(), typ: 'access' }, TEST_ACCESS_SECRET, {
        algorithm: 'HS256',
        issuer: 'crm-api',
        expiresIn: 900,
      });
      const res = await t
        .http()
        .post('/api/v1/organizations')
        .set('authorization', `Bearer ${token}`)
        .send({ name: 'Ghost Org' });
      expectError(res, 401, 'UNAUTHENTICATED');
      await expectServing();
    });
  });

  describe('a deal created in a later status goes through the status machine', () => {
    let contactId: string;
    beforeAll(async () => {
      const res = await t
        .http()
        .post('/api/v1/contacts')
        .set(as(s, s.organizationId))
        .send({ name: 'Ada Lovelace' });
      expect(res.status).toBe(201);
      contactId = (res.body as { id: string }).id;
    });

    const createAndTimeline = async (body: Record<string, unknown>) => {
      const created = await t
        .http()
        .post('/api/v1/deals')
        .set(as(s, s.organizationId))
        .send({ contactId, title: 'Direct', ...body });
      expect(created.status).toBe(201);
      const deal = created.body as { id: string; status: string; stage: string };
      const timeline = await t
        .http()
        .get(`/api/v1/deals/${deal.id}/activities`)
        .set(as(s, s.organizationId));
      expect(timeline.status).toBe(200);
      const items = (timeline.body as { items: { type: string; payload: unknown }[] }).items;
      const activities = items.map(({ type, payload }) => ({ type, payload }));
      return { deal, activities };
    };

    it('won with amount 5: deal_created, new -> in_progress -> won, qualification -> closed', async () => {
      const { deal, activities } = await createAndTimeline({ status: 'won', amount: 5 });
      expect(deal).toEqual(expect.objectContaining({ status: 'won', stage: 'closed' }));
      expect(activities).toHaveLength(4);
      expect(activities).toEqual(
        expect.arrayContaining([
          { type: 'system', payload: { event: 'deal_created' } },
          { type: 'status_changed', payload: { from: 'new', to: 'in_progress' } },
          { type: 'status_changed', payload: { from: 'in_progress', to: 'won' } },
          { type: 'stage_changed', payload: { from: 'qualification', to: 'closed' } },
        ]),
      );
    });

    it('lost: deal_created, new -> lost, qualification -> closed', async () => {
      const { deal, activities } = await createAndTimeline({ status: 'lost' });
      expect(deal).toEqual(expect.objectContaining({ status: 'lost', stage: 'closed' }));
      expect(activities).toHaveLength(3);
      expect(activities).toEqual(
        expect.arrayContaining([
          { type: 'system', payload: { event: 'deal_created' } },
          { type: 'status_changed', payload: { from: 'new', to: 'lost' } },
          { type: 'stage_changed', payload: { from: 'qualification', to: 'closed' } },
        ]),
      );
    });

    it('in_progress: deal_created, new -> in_progress; new: deal_created only', async () => {
      const progressing = await createAndTimeline({ status: 'in_progress', stage: 'proposal' });
      expect(progressing.activities).toHaveLength(2);
      expect(progressing.activities).toEqual(
        expect.arrayContaining([
          { type: 'system', payload: { event: 'deal_created' } },
          { type: 'status_changed', payload: { from: 'new', to: 'in_progress' } },
        ]),
      );
      const fresh = await createAndTimeline({});
      expect(fresh.activities).toEqual([{ type: 'system', payload: { event: 'deal_created' } }]);
    });

    it('the rules of each step apply: won with amount 0 is 422 and creates nothing', async () => {
      const before = await t.http().get('/api/v1/deals').set(as(s, s.organizationId));
      const res = await t
        .http()
        .post('/api/v1/deals')
        .set(as(s, s.organizationId))
        .send({ contactId, title: 'Free win', status: 'won' });
      expectError(res, 422, 'AMOUNT_REQUIRED_TO_WIN');
      const after = await t.http().get('/api/v1/deals').set(as(s, s.organizationId));
      expect((after.body as { total: number }).total).toBe(
        (before.body as { total: number }).total,
      );
    });
  });
});
