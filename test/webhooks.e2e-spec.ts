import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { webhookDeliveries } from '../src/common/metrics/metrics';
import { WebhookSender } from '../src/modules/webhooks/webhook-sender';
import { WebhooksConsumer } from '../src/modules/webhooks/webhooks.consumer';
import type { EventEnvelope } from '../src/events/envelope';
import { as, createTeam, expectError, register, type Session, type Team } from './support/api';
import { freshDatabase } from './support/database';
import { createTestApp, testConfig, type TestApp } from './support/test-app';
import { type Received, verifyBySpec, WebhookReceiver } from './support/webhook-receiver';

/*
 * Webhooks (API.md section 13) against a real receiver on 127.0.0.1 started here, which checks
 * every signature with the Standard Webhooks reference library and with its own implementation
 * of the specification's text. Short retry delays and timeout, so the schedule plays out in
 * seconds: WEBHOOK_RETRY_SCHEDULE=100ms,200ms,300ms (4 attempts), WEBHOOK_TIMEOUT_MS=1000,
 * WEBHOOK_DISABLE_AFTER=2.
 */

const API = '/api/v1';
type Method = 'get' | 'post' | 'patch' | 'delete';
const SCHEDULE_MS = [100, 200, 300];

interface WebhookBody {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  secret?: string;
  createdAt: string;
}
interface DeliveryBody {
  id: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  attemptLog?: {
    at: string;
    statusCode: number | null;
    durationMs: number;
    error: string | null;
    responseBodyExcerpt: string | null;
  }[];
}

describe('Webhooks (API.md section 13)', () => {
  let t: TestApp;
  let team: Team;
  const receiver = new WebhookReceiver();
  const logLines: Record<string, unknown>[] = [];
  let endpoints = 0;

  beforeAll(async () => {
    await receiver.start();
    t = await createTestApp(
      {
        WEBHOOK_ALLOW_HTTP: 'true',
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_RETRY_SCHEDULE: SCHEDULE_MS.map((ms) => `${ms}ms`).join(','),
        WEBHOOK_TIMEOUT_MS: '1000',
        WEBHOOK_DISABLE_AFTER: '2',
        RELAY_POLL_MS: '100',
        LOG_LEVEL: 'info',
      },
      logLines,
    );
    team = await createTeam(t);
  });
  afterAll(async () => {
    await t.close();
    await receiver.stop();
  });

  const owner = (): Record<string, string> => as(team.owner, team.organizationId);
  const call = (method: Method, path: string, headers: Record<string, string>, body?: object) => {
    const req = t.http()[method](`${API}${path}`).set(headers);
    return body ? req.send(body) : req;
  };

  /** A new endpoint on the receiver, subscribed to `events`; its secret registered there. */
  async function endpoint(
    events: string[],
    session: Session = team.owner,
    organizationId = team.organizationId,
  ): Promise<{ name: string; webhook: WebhookBody }> {
    endpoints += 1;
    const name = `e${endpoints}`;
    const res = await t
      .http()
      .post(`${API}/webhooks`)
      .set(as(session, organizationId))
      .send({ url: receiver.url(name), events, description: `endpoint ${name}` });
    expect(res.status).toBe(201);
    const webhook = res.body as WebhookBody;
    receiver.secret(name, webhook.secret!);
    return { name, webhook };
  }

  async function createContact(name: string, headers = owner()): Promise<string> {
    const res = await t.http().post(`${API}/contacts`).set(headers).send({ name });
    expect(res.status).toBe(201);
    return (res.body as { id: string }).id;
  }

  async function deliveriesOf(webhookId: string, query = ''): Promise<DeliveryBody[]> {
    const res = await t.http().get(`${API}/webhooks/${webhookId}/deliveries${query}`).set(owner());
    expect(res.status).toBe(200);
    return (res.body as { items: DeliveryBody[] }).items;
  }

  async function deliveryOf(webhookId: string, deliveryId: string): Promise<DeliveryBody> {
    const res = await t
      .http()
      .get(`${API}/webhooks/${webhookId}/deliveries/${deliveryId}`)
      .set(owner());
    expect(res.status).toBe(200);
    return res.body as DeliveryBody;
  }

  /** Waits until the endpoint's only delivery is no longer pending; returns it with its log. */
  async function settled(webhookId: string, timeoutMs = 8000): Promise<DeliveryBody> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [delivery] = await deliveriesOf(webhookId);
      if (delivery && delivery.status !== 'pending') return deliveryOf(webhookId, delivery.id);
      if (Date.now() > deadline)
        throw new Error(`delivery still pending: ${JSON.stringify(delivery)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const envelopeOf = (
    r: Received,
  ): { id: string; type: string; data: Record<string, { id?: string }> } =>
    JSON.parse(r.body) as { id: string; type: string; data: Record<string, { id?: string }> };

  // ------------------------------------------------------------------ endpoints

  it('creates an endpoint: 201 with a whsec_ secret shown only in that answer', async () => {
    const res = await t
      .http()
      .post(`${API}/webhooks`)
      .set(owner())
      .send({ url: receiver.url('crud'), events: ['deal.won', 'contact.*', 'deal.won'] });
    expect(res.status).toBe(201);
    const created = res.body as WebhookBody;
    expect(created).toEqual({
      id: expect.any(String),
      url: receiver.url('crud'),
      events: ['deal.won', 'contact.*'],
      description: null,
      enabled: true,
      disabledReason: null,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(Buffer.from(created.secret!.slice(6), 'base64')).toHaveLength(32);
    const got = await t.http().get(`${API}/webhooks/${created.id}`).set(owner());
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty('secret');
    const listed = await t.http().get(`${API}/webhooks?pageSize=100`).set(owner());
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ page: 1, pageSize: 100, total: expect.any(Number) });
    const item = (listed.body as { items: WebhookBody[] }).items.find((w) => w.id === created.id);
    expect(item).toEqual(got.body);

    const patched = await t
      .http()
      .patch(`${API}/webhooks/${created.id}`)
      .set(owner())
      .send({ events: ['*'], description: 'all of it', enabled: false });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ events: ['*'], description: 'all of it', enabled: false });

    const deleted = await t.http().delete(`${API}/webhooks/${created.id}`).set(owner());
    expect(deleted.status).toBe(204);
    expectError(await t.http().get(`${API}/webhooks/${created.id}`).set(owner()), 404, 'NOT_FOUND');
  });

  it.each([
    [{ events: ['deal.won'] }, 'url'],
    [{ url: 'http://127.0.0.1:1/x' }, 'events'],
    [{ url: 'http://127.0.0.1:1/x', events: [] }, 'events'],
    [{ url: 'http://127.0.0.1:1/x', events: ['deal.unknown'] }, 'events'],
    [{ url: 'http://127.0.0.1:1/x', events: ['crm.deal.won.v1'] }, 'events'],
    [{ url: 'http://127.0.0.1:1/x', events: ['nothing.*'] }, 'events'],
    [{ url: 'http://127.0.0.1:1/x', events: Array(51).fill('deal.won') }, 'events'],
    [{ url: 'http://127.0.0.1:1/x', events: ['*'], enabled: 'yes' }, 'enabled'],
    [{ url: 'http://127.0.0.1:1/x', events: ['*'], description: 'x'.repeat(501) }, 'description'],
  ])('refuses %j with 400 on %s, and creates nothing', async (body, field) => {
    const before = await t.http().get(`${API}/webhooks`).set(owner());
    const res = await t.http().post(`${API}/webhooks`).set(owner()).send(body);
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(res.body)).toContain(field);
    const after = await t.http().get(`${API}/webhooks`).set(owner());
    expect((after.body as { total: number }).total).toBe((before.body as { total: number }).total);
  });

  it('is for owners and admins: managers and members get 403 on every route', async () => {
    const { webhook } = await endpoint(['deal.won']);
    const admin = await t
      .http()
      .get(`${API}/webhooks/${webhook.id}`)
      .set(as(team.admin, team.organizationId));
    expect(admin.status).toBe(200);
    const routes: [Method, string, object?][] = [
      ['get', '/webhooks'],
      ['post', '/webhooks', { url: receiver.url('x'), events: ['*'] }],
      ['get', `/webhooks/${webhook.id}`],
      ['patch', `/webhooks/${webhook.id}`, { enabled: false }],
      ['delete', `/webhooks/${webhook.id}`],
      ['post', `/webhooks/${webhook.id}/rotate-secret`],
      ['get', `/webhooks/${webhook.id}/deliveries`],
      ['post', `/webhooks/${webhook.id}/ping`],
    ];
    for (const session of [team.manager, team.member]) {
      for (const [method, path, body] of routes) {
        const res = await call(method, path, as(session, team.organizationId), body);
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
      }
    }
  });

  it("another organization's endpoint is 404 on every route, and never receives this one's events", async () => {
    const theirs = await endpoint(['*'], team.outsider, team.outsider.organizationId);
    const ours = await endpoint(['contact.created']);
    const outsider = as(team.outsider, team.outsider.organizationId);
    const contactId = await createContact('Isolated Contact');
    await receiver.until(() => receiver.of(ours.name).length === 1);
    const [delivery] = await deliveriesOf(ours.webhook.id);
    const routes: [Method, string, object?][] = [
      ['get', `/webhooks/${ours.webhook.id}`],
      ['patch', `/webhooks/${ours.webhook.id}`, { enabled: false }],
      ['delete', `/webhooks/${ours.webhook.id}`],
      ['post', `/webhooks/${ours.webhook.id}/rotate-secret`],
      ['get', `/webhooks/${ours.webhook.id}/deliveries`],
      ['get', `/webhooks/${ours.webhook.id}/deliveries/${delivery.id}`],
      ['post', `/webhooks/${ours.webhook.id}/deliveries/${delivery.id}/redeliver`],
      ['post', `/webhooks/${ours.webhook.id}/ping`],
      // Their own endpoint, with our delivery: 404 too.
      ['get', `/webhooks/${theirs.webhook.id}/deliveries/${delivery.id}`],
      ['post', `/webhooks/${theirs.webhook.id}/deliveries/${delivery.id}/redeliver`],
    ];
    for (const [method, path, body] of routes) {
      const res = await call(method, path, outsider, body);
      expect({
        method,
        path,
        status: res.status,
        code: (res.body as { code?: string }).code,
      }).toEqual({ method, path, status: 404, code: 'NOT_FOUND' });
    }
    // Still ours, unchanged; and their catch-all endpoint got none of our events.
    expect(
      (await t.http().get(`${API}/webhooks/${ours.webhook.id}`).set(owner())).body,
    ).toMatchObject({
      enabled: true,
    });
    await createContact('Isolated Contact 2');
    await receiver.until(() => receiver.of(ours.name).length === 2);
    expect(receiver.of(theirs.name).map((r) => envelopeOf(r).data.contact?.id)).not.toContain(
      contactId,
    );
    expect(receiver.of(theirs.name)).toEqual([]);
  });

  it('allows at most 20 endpoints per organization, also when created at once (409 WEBHOOK_LIMIT_REACHED)', async () => {
    const other = await createTeam(t);
    const results = await Promise.all(
      Array.from({ length: 23 }, (_, i) =>
        t
          .http()
          .post(`${API}/webhooks`)
          .set(as(other.owner, other.organizationId))
          .send({ url: receiver.url(`limit${i}`), events: ['deal.won'], enabled: false }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(20);
    for (const res of results.filter((r) => r.status !== 201)) {
      expectError(res, 409, 'WEBHOOK_LIMIT_REACHED');
    }
  });

  // ------------------------------------------------------------------ deliveries

  it('delivers a subscribed event, signed per Standard Webhooks, and logs the attempt', async () => {
    const { name, webhook } = await endpoint(['contact.*']);
    const contactId = await createContact('Signed Contact');
    await receiver.until(() => receiver.of(name).length === 1);
    const [request] = receiver.of(name);
    const envelope = envelopeOf(request);
    expect(envelope).toMatchObject({
      specversion: '1.0',
      type: 'crm.contact.created.v1',
      subject: `contacts/${contactId}`,
      organizationid: team.organizationId,
      data: { contact: { id: contactId, name: 'Signed Contact' } },
    });
    expect(request.headers).toMatchObject({
      'webhook-id': envelope.id,
      'webhook-timestamp': expect.stringMatching(/^\d{10}$/),
      'webhook-signature': expect.stringMatching(/^v1,[A-Za-z0-9+/]+=*$/),
      'content-type': 'application/json',
      'user-agent': 'crm-webhooks/1',
    });
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(
      30,
    );
    expect(request.verifiedByLibrary).toBe(true);
    expect(request.verifiedBySpec).toEqual([true]);
    // A signature of another body, or with another secret, does not verify.
    expect(verifyBySpec(webhook.secret!, request.headers, `${request.body} `)).toBe(false);
    expect(
      verifyBySpec(
        `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
        request.headers,
        request.body,
      ),
    ).toBe(false);

    const delivery = await settled(webhook.id);
    // One structured log line per attempt, with the event id and the request id of the write
    // (written just after the attempt's record commits).
    const logged = (): Record<string, unknown>[] =>
      logLines.filter(
        (l) =>
          l.msg === 'webhook delivered' && l.eventId === envelope.id && l.webhookId === webhook.id,
      );
    await receiver.until(() => logged().length > 0, 2000, 'the log line');
    expect(logged()).toEqual([
      expect.objectContaining({
        webhookId: webhook.id,
        deliveryId: delivery.id,
        eventType: 'crm.contact.created.v1',
        requestId: (envelope as unknown as { requestid: string }).requestid,
        attempt: 1,
        statusCode: 200,
      }),
    ]);
    expect((envelope as unknown as { requestid: string }).requestid).toEqual(expect.any(String));
    expect(delivery).toEqual({
      id: expect.any(String),
      eventId: envelope.id,
      eventType: 'crm.contact.created.v1',
      status: 'succeeded',
      attempts: 1,
      lastStatusCode: 200,
      lastError: null,
      nextAttemptAt: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      attemptLog: [
        {
          at: expect.any(String),
          statusCode: 200,
          durationMs: expect.any(Number),
          error: null,
          responseBodyExcerpt: 'ok',
        },
      ],
    });
  });

  it('delivers only the types an endpoint subscribed to', async () => {
    const won = await endpoint(['deal.won']);
    const contacts = await endpoint(['contact.created']);
    await createContact('Typed Contact');
    await receiver.until(() => receiver.of(contacts.name).length === 1);
    expect(await deliveriesOf(won.webhook.id)).toEqual([]);
    expect(receiver.of(won.name)).toEqual([]);
  });

  it('retries on the schedule after 500s, with the same webhook-id, and logs every attempt', async () => {
    const { name, webhook } = await endpoint(['contact.created']);
    receiver.answer(name, { status: 500, body: 'boom' }, 503);
    const counted = async (status: string): Promise<number> =>
      (await webhookDeliveries.get()).values.find((v) => v.labels.status === status)?.value ?? 0;
    const [retries, failures] = [await counted('retry'), await counted('failed')];
    await createContact('Retried Contact');
    const delivery = await settled(webhook.id);
    // The crm_webhook_deliveries_total series (API.md section 15) counted both retries.
    expect(await counted('retry')).toBe(retries + 2);
    expect(await counted('failed')).toBe(failures);
    const requests = receiver.of(name);
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(requests.every((r) => r.verifiedBySpec[0])).toBe(true);
    // Each retry waited at least its delay of the schedule.
    expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(SCHEDULE_MS[0] - 5);
    expect(requests[2].at - requests[1].at).toBeGreaterThanOrEqual(SCHEDULE_MS[1] - 5);
    expect(delivery).toMatchObject({
      status: 'succeeded',
      attempts: 3,
      lastStatusCode: 200,
      lastError: null,
    });
    expect(
      delivery.attemptLog!.map(({ statusCode, error, responseBodyExcerpt }) => ({
        statusCode,
        error,
        responseBodyExcerpt,
      })),
    ).toEqual([
      { statusCode: 500, error: 'HTTP 500', responseBodyExcerpt: 'boom' },
      { statusCode: 503, error: 'HTTP 503', responseBodyExcerpt: 'status 503' },
      { statusCode: 200, error: null, responseBodyExcerpt: 'ok' },
    ]);
  });

  it('fails a delivery after the last retry, keeps the excerpt at 2 KB, and filters the log by status and type', async () => {
    const { name, webhook } = await endpoint(['contact.created']);
    receiver.answer(name, ...Array(4).fill({ status: 500, body: 'x'.repeat(5000) }));
    await createContact('Failing Contact');
    const delivery = await settled(webhook.id);
    expect(receiver.of(name)).toHaveLength(SCHEDULE_MS.length + 1);
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: 4,
      lastStatusCode: 500,
      lastError: 'HTTP 500',
      nextAttemptAt: null,
    });
    expect(delivery.attemptLog!.every((a) => a.responseBodyExcerpt!.length === 2048)).toBe(true);
    expect((await deliveriesOf(webhook.id, '?status=failed')).map((d) => d.id)).toEqual([
      delivery.id,
    ]);
    expect(await deliveriesOf(webhook.id, '?status=succeeded')).toEqual([]);
    expect(await deliveriesOf(webhook.id, '?eventType=crm.contact.created.v1')).toHaveLength(1);
    expect(await deliveriesOf(webhook.id, '?eventType=crm.deal.won.v1')).toEqual([]);
    expectError(
      await t.http().get(`${API}/webhooks/${webhook.id}/deliveries?status=lost`).set(owner()),
      400,
      'VALIDATION_FAILED',
    );

    // Redeliver: one more attempt now, same event id.
    const again = await t
      .http()
      .post(`${API}/webhooks/${webhook.id}/deliveries/${delivery.id}/redeliver`)
      .set(owner());
    expect(again.status).toBe(202);
    await receiver.until(() => receiver.of(name).length === 5);
    const redelivered = await settled(webhook.id);
    expect(redelivered).toMatchObject({ status: 'succeeded', attempts: 5, lastStatusCode: 200 });
    // The log's totals are counted afresh: the dispatcher's writes change them (no stale count).
    for (const [status, total] of [
      ['failed', 0],
      ['succeeded', 1],
    ] as const) {
      const page = await t
        .http()
        .get(`${API}/webhooks/${webhook.id}/deliveries?status=${status}`)
        .set(owner());
      expect({ status, total: (page.body as { total: number }).total }).toEqual({ status, total });
    }
    expect(receiver.of(name)[4].headers['webhook-id']).toBe(delivery.eventId);
  });

  it('does not follow a redirect: the attempt fails and the target receives nothing', async () => {
    const { name, webhook } = await endpoint(['contact.created']);
    receiver.always(name, { status: 302, location: receiver.url('redirect-target') });
    await createContact('Redirected Contact');
    await receiver.until(() => receiver.of(name).length >= 1);
    const [delivery] = await deliveriesOf(webhook.id);
    let logged = await deliveryOf(webhook.id, delivery.id);
    // The attempt's record commits just after the answer.
    while (!logged.attemptLog!.length) logged = await deliveryOf(webhook.id, delivery.id);
    expect(logged.attemptLog![0]).toMatchObject({
      statusCode: 302,
      error: `redirect to ${receiver.url('redirect-target')} not followed`,
    });
    expect(receiver.of('redirect-target')).toEqual([]);
    await t.http().delete(`${API}/webhooks/${webhook.id}`).set(owner());
  });

  it('a hanging endpoint times out and delays neither the other endpoints nor the API', async () => {
    const slow = await endpoint(['contact.created']);
    const fast = await endpoint(['contact.created']);
    receiver.always(slow.name, 'hang');
    const created: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const started = Date.now();
      await createContact(`Hang ${i}`);
      expect(Date.now() - started).toBeLessThan(1000);
      created.push(Date.now());
      await receiver.until(
        () => receiver.of(fast.name).length === i + 1,
        3000,
        'the fast endpoint',
      );
      // Received well before the slow endpoint's 1 s timeout could have let a queue move.
      expect(receiver.of(fast.name)[i].at - created[i]).toBeLessThan(900);
    }
    await receiver.until(() => receiver.of(slow.name).length >= 2, 5000, 'two slow attempts');
    const [first] = await deliveriesOf(slow.webhook.id, '?order=asc');
    const logged = await deliveryOf(slow.webhook.id, first.id);
    expect(logged.attemptLog![0]).toMatchObject({
      statusCode: null,
      error: 'no answer within 1000 ms',
    });
    expect(logged.attemptLog![0].durationMs).toBeGreaterThanOrEqual(990);
    await t.http().delete(`${API}/webhooks/${slow.webhook.id}`).set(owner());
  });

  it('disables an endpoint whose deliveries keep failing (WEBHOOK_DISABLE_AFTER) and stops sending to it', async () => {
    const { name, webhook } = await endpoint(['contact.created']);
    receiver.always(name, 500);
    await createContact('Dead 1');
    await createContact('Dead 2');
    const deadline = Date.now() + 10_000;
    let current = webhook;
    while (current.enabled && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      current = (await t.http().get(`${API}/webhooks/${webhook.id}`).set(owner()))
        .body as WebhookBody;
    }
    expect(current).toMatchObject({
      enabled: false,
      disabledReason: expect.stringMatching(
        /^2 deliveries in a row failed \(the last: HTTP 500\)$/,
      ),
    });
    // The owners are told, in the app (and by email per their preferences): once.
    const owners = async (session: Session): Promise<{ kind: string; body: string }[]> => {
      const res = await t
        .http()
        .get(`${API}/notifications?pageSize=100`)
        .set(as(session, team.organizationId));
      expect(res.status).toBe(200);
      return (res.body as { items: { kind: string; body: string }[] }).items.filter(
        (n) => n.kind === 'webhook.disabled' && n.body.includes(receiver.url(name)),
      );
    };
    expect(await owners(team.owner)).toHaveLength(1);
    expect(await owners(team.admin)).toEqual([]); // owners only
    const attempts = receiver.of(name).length;
    await createContact('Dead 3');
    await new Promise((r) => setTimeout(r, 800));
    expect(receiver.of(name)).toHaveLength(attempts);
    // Enabled again by hand: the reason is cleared and deliveries resume.
    receiver.always(name, 200);
    const enabled = await t
      .http()
      .patch(`${API}/webhooks/${webhook.id}`)
      .set(owner())
      .send({ enabled: true });
    expect(enabled.body).toMatchObject({ enabled: true, disabledReason: null });
    await createContact('Alive again');
    await receiver.until(
      () =>
        receiver
          .of(name)
          .some(
            (r) =>
              envelopeOf(r).data.contact && JSON.parse(r.body).data.contact.name === 'Alive again',
          ),
      5000,
      'the delivery after re-enabling',
    );
  });

  it('an endpoint that went away (connection refused) fails its attempts with the reason logged', async () => {
    // A port nothing listens on any more.
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const res = await t
      .http()
      .post(`${API}/webhooks`)
      .set(owner())
      .send({ url: `http://127.0.0.1:${port}/gone`, events: ['contact.created'] });
    expect(res.status).toBe(201);
    const webhookId = (res.body as { id: string }).id;
    await createContact('Nobody listens');
    const delivery = await settled(webhookId);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 4, lastStatusCode: null });
    expect(delivery.attemptLog!.map((a) => a.error)).toEqual(
      Array(4).fill(expect.stringContaining('ECONNREFUSED')),
    );
    await t.http().delete(`${API}/webhooks/${webhookId}`).set(owner());
  });

  it('disables an endpoint whose every attempt failed for 5 days, at its next failure', async () => {
    const { name, webhook } = await endpoint(['contact.created']);
    receiver.always(name, 503);
    // It has been failing for 6 days (set behind the API's back: the test cannot wait 5 days).
    await t.db.query(
      `UPDATE webhooks SET failing_since = now() - interval '6 days' WHERE id = $1`,
      [webhook.id],
    );
    await createContact('Five days');
    await receiver.until(() => receiver.of(name).length >= 1);
    let current = webhook;
    for (let i = 0; i < 50 && current.enabled; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      current = (await t.http().get(`${API}/webhooks/${webhook.id}`).set(owner()))
        .body as WebhookBody;
    }
    expect(current).toMatchObject({
      enabled: false,
      disabledReason: expect.stringMatching(
        /^every delivery failed since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(the last: HTTP 503\)$/,
      ),
    });
    // One failed attempt, not a full schedule: the endpoint was disabled at once.
    expect(receiver.of(name)).toHaveLength(1);
  });

  it('an event whose deliveries cannot be written does not hold back the others (batches fall back to one by one)', async () => {
    const { name } = await endpoint(['contact.created']);
    await t.db.query(`
      CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$
      BEGIN
        IF NEW.payload LIKE '%Poison contact%' THEN RAISE EXCEPTION 'poisoned delivery refused'; END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql`);
    await t.db.query(
      'CREATE TRIGGER poison BEFORE INSERT ON webhook_deliveries FOR EACH ROW EXECUTE FUNCTION refuse_poison()',
    );
    try {
      // Written at once, so that the consumer is likely to claim them as one batch.
      await Promise.all(
        ['Batch good 1', 'Poison contact', 'Batch good 2'].map((n) => createContact(n)),
      );
      const names = (): string[] =>
        receiver
          .of(name)
          .map(
            (r) =>
              (JSON.parse(r.body) as { data: { contact: { name: string } } }).data.contact.name,
          );
      await receiver.until(
        () => names().includes('Batch good 1') && names().includes('Batch good 2'),
        5000,
        'the good events of the batch',
      );
      expect(names()).not.toContain('Poison contact');
    } finally {
      await t.db.query('DROP TRIGGER IF EXISTS poison ON webhook_deliveries');
    }
  });

  it('signs with both secrets for 24 h after a rotation', async () => {
    const { name, webhook } = await endpoint(['contact.created']);
    const rotated = await t.http().post(`${API}/webhooks/${webhook.id}/rotate-secret`).set(owner());
    expect(rotated.status).toBe(200);
    const { secret } = rotated.body as { secret: string };
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(webhook.secret);
    receiver.secret(name, secret, webhook.secret!);
    await createContact('Rotated Contact');
    await receiver.until(() => receiver.of(name).length === 1);
    const [request] = receiver.of(name);
    expect(request.headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(request.verifiedBySpec).toEqual([true, true]);
    expect(request.verifiedByLibrary).toBe(true);
  });

  it('ping sends crm.webhook.ping.v1 to that endpoint only (202)', async () => {
    const pinged = await endpoint(['deal.won']);
    const other = await endpoint(['*']);
    const res = await t.http().post(`${API}/webhooks/${pinged.webhook.id}/ping`).set(owner());
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      eventType: 'crm.webhook.ping.v1',
      status: 'pending',
      attempts: 0,
    });
    await receiver.until(() => receiver.of(pinged.name).length === 1);
    const envelope = envelopeOf(receiver.of(pinged.name)[0]);
    expect(envelope).toMatchObject({
      type: 'crm.webhook.ping.v1',
      subject: `webhooks/${pinged.webhook.id}`,
      data: { webhook: { id: pinged.webhook.id } },
    });
    expect(receiver.of(pinged.name)[0].verifiedBySpec).toEqual([true]);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.of(other.name).map((r) => envelopeOf(r).type)).not.toContain(
      'crm.webhook.ping.v1',
    );
  });

  it('an endpoint receives the events recorded after its creation, not an older backlog the consumer reads later', async () => {
    const { webhook } = await endpoint(['contact.created']);
    const consumer = t.app.get(WebhooksConsumer);
    const event = (id: string, time: Date): EventEnvelope => ({
      specversion: '1.0',
      id,
      type: 'crm.contact.created.v1',
      source: `/organizations/${team.organizationId}`,
      subject: 'contacts/x',
      time: time.toISOString(),
      datacontenttype: 'application/json',
      organizationid: team.organizationId,
      actorid: null,
      requestid: null,
      data: { contact: { id: 'x' } },
    });
    const older = crypto.randomUUID();
    const newer = crypto.randomUUID();
    await consumer.handleBatch([
      event(older, new Date(new Date(webhook.createdAt).getTime() - 1000)),
      event(newer, new Date()),
    ]);
    const rows = await t.db.query<{ event_id: string }[]>(
      'SELECT event_id FROM webhook_deliveries WHERE webhook_id = $1 AND event_id = ANY($2)',
      [webhook.id, [older, newer]],
    );
    expect(rows.map((r) => r.event_id)).toEqual([newer]);
  });

  it("delivers one endpoint's events in the order they were recorded", async () => {
    const { name } = await endpoint(['contact.created']);
    const ids: string[] = [];
    for (let i = 0; i < 8; i += 1) ids.push(await createContact(`Ordered ${i}`));
    await receiver.until(() => receiver.of(name).length === 8);
    expect(receiver.of(name).map((r) => envelopeOf(r).data.contact.id)).toEqual(ids);
  });
});

describe('Webhook URL rules without WEBHOOK_ALLOW_HTTP and WEBHOOK_ALLOW_PRIVATE (server-side request forgery)', () => {
  let t: TestApp;
  let team: Team;
  const receiver = new WebhookReceiver();
  beforeAll(async () => {
    await receiver.start();
    t = await createTestApp();
    team = await createTeam(t);
  });
  afterAll(async () => {
    await t.close();
    await receiver.stop();
  });

  it.each([
    ['http://hooks.example.com/x', 'only https'],
    ['ftp://hooks.example.com/x', 'only https'],
    ['not a url', 'not an absolute URL'],
    ['https://user:secret@hooks.example.com/x', 'user name or password'],
    ['https://127.0.0.1/x', '127.0.0.1'],
    ['https://127.5.6.7:8443/x', '127.5.6.7'],
    ['https://10.1.2.3/x', '10.1.2.3'],
    ['https://172.16.0.1/x', '172.16.0.1'],
    ['https://192.168.1.1/x', '192.168.1.1'],
    ['https://169.254.169.254/latest/meta-data', '169.254.169.254'],
    ['https://100.64.0.1/x', '100.64.0.1'],
    ['https://0.0.0.0/x', '0.0.0.0'],
    ['https://[::1]/x', '::1'],
    ['https://[fd00:ec2::254]/x', 'fd00:ec2::254'],
    ['https://[::ffff:127.0.0.1]/x', '::ffff:7f00:1'],
    ['https://localhost/x', 'localhost resolves to'],
  ])('refuses %s with 422 WEBHOOK_URL_NOT_ALLOWED', async (url, reason) => {
    const res = await t
      .http()
      .post(`${API}/webhooks`)
      .set(as(team.owner, team.organizationId))
      .send({ url, events: ['*'] });
    expectError(res, 422, 'WEBHOOK_URL_NOT_ALLOWED');
    expect((res.body as { message: string }).message).toContain(reason);
  });

  it('refuses a private URL on PATCH too, and keeps the endpoint as it was', async () => {
    const res = await t
      .http()
      .post(`${API}/webhooks`)
      .set(as(team.owner, team.organizationId))
      .send({ url: 'https://93.184.215.14/hook', events: ['*'], enabled: false });
    expect(res.status).toBe(201);
    const id = (res.body as { id: string }).id;
    const patched = await t
      .http()
      .patch(`${API}/webhooks/${id}`)
      .set(as(team.owner, team.organizationId))
      .send({ url: 'https://169.254.169.254/', events: ['deal.won'] });
    expectError(patched, 422, 'WEBHOOK_URL_NOT_ALLOWED');
    const got = await t
      .http()
      .get(`${API}/webhooks/${id}`)
      .set(as(team.owner, team.organizationId));
    expect(got.body).toMatchObject({ url: 'https://93.184.215.14/hook', events: ['*'] });
  });

  it('checks the address again when delivering: a host resolving to 127.0.0.1 is refused then, and nothing is sent', async () => {
    const sender = new WebhookSender({ allowHttp: true, allowPrivate: false }, 1000);
    try {
      for (const url of [receiver.url('direct'), `http://localhost:${receiver.port}/by-name`]) {
        const result = await sender.post(url, { 'content-type': 'application/json' }, '{}');
        expect(result).toMatchObject({ ok: false, statusCode: null });
        expect(result.error).toMatch(/loopback, private, link-local or reserved address/);
      }
      expect(receiver.received).toEqual([]);
      // The same sender with private addresses allowed reaches the receiver.
      const allowed = new WebhookSender({ allowHttp: true, allowPrivate: true }, 1000);
      expect(
        await allowed.post(`http://localhost:${receiver.port}/by-name`, {}, '{}'),
      ).toMatchObject({
        ok: true,
        statusCode: 200,
      });
      allowed.close();
      expect(receiver.received.map((r) => r.endpoint)).toEqual(['by-name']);
    } finally {
      sender.close();
    }
  });
});

describe('Webhook deliveries across app copies and restarts (rows, not timers)', () => {
  const env = {
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_RETRY_SCHEDULE: '100ms,200ms',
    WEBHOOK_TIMEOUT_MS: '800',
    RELAY_POLL_MS: '100',
  };
  const receiver = new WebhookReceiver();
  let database: { url: string; drop: () => Promise<void> };
  const running = new Set<NestFastifyApplication>();

  async function copy(): Promise<NestFastifyApplication> {
    const config = testConfig(database.url, env);
    const app = await createApp(config, database.url, createLogger(config));
    await app.getHttpAdapter().getInstance().ready();
    running.add(app);
    return app;
  }
  async function stop(app: NestFastifyApplication): Promise<void> {
    running.delete(app);
    await app.close();
  }
  const http = (app: NestFastifyApplication) => request(app.getHttpServer());
  /** A user with an organization of their own, registered through `app`. */
  const registerOn = (app: NestFastifyApplication, name: string): Promise<Session> =>
    register({ http: () => http(app) } as unknown as TestApp, name, `${name} org`);

  beforeAll(async () => {
    await receiver.start();
    database = await freshDatabase();
  });
  afterAll(async () => {
    for (const app of running) await app.close();
    await database.drop();
    await receiver.stop();
  });

  it('two copies consuming and dispatching: every event reaches every endpoint exactly once', async () => {
    const [a, b] = [await copy(), await copy()];
    const owner = await registerOn(a, 'copies-owner');
    const headers = as(owner, owner.organizationId);
    const names = ['c1', 'c2', 'c3'];
    for (const name of names) {
      const res = await http(b)
        .post(`${API}/webhooks`)
        .set(headers)
        .send({ url: receiver.url(name), events: ['contact.created'] });
      expect(res.status).toBe(201);
    }
    const ids: string[] = [];
    for (let i = 0; i < 24; i += 1) {
      const res = await http(i % 2 ? a : b)
        .post(`${API}/contacts`)
        .set(headers)
        .send({ name: `Copy ${i}` });
      expect(res.status).toBe(201);
      ids.push((res.body as { id: string }).id);
    }
    await receiver.until(() => names.every((n) => receiver.of(n).length >= 24), 15_000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive by now
    for (const name of names) {
      const received = receiver.of(name);
      expect(received).toHaveLength(24);
      // Order is not asserted here: two copies write the deliveries of events committed a few
      // milliseconds apart (decision 0036); one copy's order is tested above.
      expect(
        received.map((r) => (JSON.parse(r.body) as { subject: string }).subject).sort(),
      ).toEqual(ids.map((id) => `contacts/${id}`).sort());
    }
    await stop(a);
    await stop(b);
  });

  it('an attempt cut short by a shutdown is retried by the copy started next', async () => {
    for (const app of [...running]) await stop(app); // no other copy may take the retry
    const first = await copy();
    const owner = await registerOn(first, 'restart-owner');
    const headers = as(owner, owner.organizationId);
    const res = await http(first)
      .post(`${API}/webhooks`)
      .set(headers)
      .send({ url: receiver.url('restart'), events: ['contact.created'] });
    expect(res.status).toBe(201);
    const webhookId = (res.body as { id: string }).id;
    receiver.answer('restart', 'hang');
    await http(first).post(`${API}/contacts`).set(headers).send({ name: 'Across a restart' });
    await receiver.until(() => receiver.of('restart').length === 1);
    await stop(first); // the hanging attempt ends at its timeout and is recorded as failed
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.of('restart')).toHaveLength(1);

    const next = await copy();
    await receiver.until(() => receiver.of('restart').length === 2, 5000, 'the retry');
    const [first1, second1] = receiver.of('restart');
    expect(second1.headers['webhook-id']).toBe(first1.headers['webhook-id']);
    const list = await http(next).get(`${API}/webhooks/${webhookId}/deliveries`).set(headers);
    const [delivery] = (list.body as { items: { id: string }[] }).items;
    const detailOf = () =>
      http(next).get(`${API}/webhooks/${webhookId}/deliveries/${delivery.id}`).set(headers);
    let detail = await detailOf();
    // The attempt's record commits just after the receiver answered.
    for (let i = 0; i < 40 && (detail.body as { status: string }).status === 'pending'; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      detail = await detailOf();
    }
    expect(detail.body).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect((detail.body as { attemptLog: { error: string | null }[] }).attemptLog).toEqual([
      expect.objectContaining({ error: 'no answer within 800 ms' }),
      expect.objectContaining({ error: null, statusCode: 200 }),
    ]);
  });
});
