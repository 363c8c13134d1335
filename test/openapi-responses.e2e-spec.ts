import type { Response } from 'supertest';
import { as, register, type Session } from './support/api';
import {
  check,
  describeMismatches,
  takeResponseMismatches,
  uncheckedOperation,
} from './support/openapi-responses';
import { createTestApp, TestApp } from './support/test-app';

/**
 * The check every e2e answer goes through (test/support/openapi-responses.ts): a real answer
 * passes, the same answer altered where the client would notice is reported with the path of the
 * field and the validator's reason.
 */
describe('Answers checked against the OpenAPI document', () => {
  let t: TestApp;
  let s: Session;
  beforeAll(async () => {
    t = await createTestApp();
    s = await register(t, 'checked');
  });
  afterAll(() => t.close());

  /** A copy of `res` with its body replaced (the checker reads status, type, text and body). */
  function altered(res: Response, body: unknown, status = res.status): Response {
    return { ...res, status, body, text: JSON.stringify(body) } as Response;
  }

  it('a contact as the server answers it matches; a field of the wrong type is reported with its path', async () => {
    const test = t
      .http()
      .post('/api/v1/contacts')
      .set(as(s, s.organizationId))
      .send({ name: 'Ada Lovelace', email: 'ada@example.com' });
    const res = await test;
    expect(res.status).toBe(201);
    expect(check(test, res)).toBeUndefined();

    const body = res.body as Record<string, unknown>;
    const found = check(test, altered(res, { ...body, email: 42 }));
    expect(found).toEqual({
      method: 'POST',
      path: '/api/v1/contacts',
      status: 201,
      problems: [expect.stringMatching(/^\/email must be string/)],
      body: expect.stringContaining('"email":42'),
    });
    const withoutName = { ...body };
    delete withoutName.name;
    expect(check(test, altered(res, withoutName))?.problems).toEqual([
      expect.stringMatching(/^\(body\) must have required property 'name'/),
    ]);
  });

  it('a nullable property of a DTO type (nullable next to allOf) accepts null and still checks the object', async () => {
    const test = t
      .http()
      .post('/api/v1/companies')
      .set(as(s, s.organizationId))
      .send({ name: 'Acme' });
    const res = await test;
    expect(res.status).toBe(201);
    expect((res.body as { address: unknown }).address).toBeNull();
    expect(check(test, res)).toBeUndefined();
    const address = { line1: 5, line2: null, city: null, region: null, postalCode: null };
    expect(check(test, altered(res, { ...res.body, address }))?.problems).toEqual(
      expect.arrayContaining([
        '/address/line1 must be string',
        "/address must have required property 'country'",
      ]),
    );
  });

  it('a status the operation does not document is reported, one declared for any request is allowed', async () => {
    const test = t.http().get('/api/v1/contacts').set(as(s, s.organizationId));
    const res = await test;
    expect(res.status).toBe(200);
    expect(check(test, altered(res, res.body, 418))?.problems).toEqual([
      expect.stringMatching(/^status 418 is not documented for Contacts_list \(documented: 200, /),
    ]);
    const notReady = {
      statusCode: 503,
      code: 'NOT_READY',
      message: 'Not ready',
      requestId: res.headers['x-request-id'],
    };
    expect(check(test, altered(res, notReady, 503))).toBeUndefined();
    expect(check(test, altered(res, { ...notReady, code: 'NOT_FOUND' }, 503))?.problems).toEqual([
      'code NOT_FOUND is not one the document allows any request with 503',
    ]);
  });

  it('a body that is not JSON where JSON is documented is reported', async () => {
    const test = t.http().get('/api/v1/health');
    const res = await test;
    expect(check(test, { ...res, type: 'text/html', text: '<p>ok</p>' } as Response)).toEqual(
      expect.objectContaining({
        problems: ['Content-Type text/html, documented: application/json'],
      }),
    );
  });

  it('routes outside the document are skipped, their errors still checked against the error body', async () => {
    const docs = t.http().get('/docs-json');
    const res = await docs;
    expect(res.status).toBe(200);
    expect(check(docs, altered(res, { anything: 'goes' }))).toBeUndefined();

    const unknown = t.http().get('/api/v1/no-such-route');
    const missing = await unknown;
    expect(missing.status).toBe(404);
    expect(check(unknown, missing)).toBeUndefined();
    expect(check(unknown, altered(missing, { error: 'Not Found' }))?.problems).toEqual([
      "(body) must have required property 'statusCode' (error body)",
      "(body) must have required property 'code' (error body)",
      "(body) must have required property 'message' (error body)",
      "(body) must have required property 'requestId' (error body)",
    ]);
  });

  it('an opted-out request is only checked against the error body', async () => {
    const test = uncheckedOperation(t.http().get('/api/v1/contacts').set(as(s, s.organizationId)));
    const res = await test;
    expect(check(test, altered(res, res.body, 299))).toBeUndefined();
    expect(check(test, altered(res, { message: 'nope' }, 418))?.problems).toEqual(
      expect.arrayContaining([
        "(body) must have required property 'statusCode' (error body)",
        "(body) must have required property 'code' (error body)",
      ]),
    );
  });

  it('the agent records a mismatching answer, and the message names method, path, status, problem and body', async () => {
    const test = t.http().get('/api/v1/health');
    // Runs before the checker's own listener: the answer the checker sees is a broken one.
    test.prependListener('response', (res: Response) => {
      (res.body as { status: unknown }).status = 7;
    });
    await test;
    const found = takeResponseMismatches();
    expect(found).toHaveLength(1);
    expect(describeMismatches(found)).toBe(
      '1 response(s) did not match the OpenAPI document ' +
        '(docs/decisions/0044-responses-checked-against-the-document.md):\n\n' +
        'GET /api/v1/health -> 200\n' +
        '    - /status must be string\n' +
        '    - /status must be equal to one of the allowed values {"allowedValues":["ok"]}\n' +
        '    body: {"status":7}',
    );
  });
});
