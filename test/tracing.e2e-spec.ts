import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { startAppProcess } from './support/app-process';
import { freshDatabase } from './support/database';
import { startProbe, type ProbeProcess, type ProbeSpan } from './support/tracing-process';
import { CaptureSmtp } from './support/smtp';
import { WebhookReceiver } from './support/webhook-receiver';

/**
 * API.md section 15, tracing: with OpenTelemetry on, one request's spans form one trace (the
 * incoming `traceparent` honoured) from the server span (Fastify's request span) through the
 * handler span down to its SQL; its log lines carry the traceId; the event it records carries its
 * traceparent (section 12), and so does the webhook request delivering that event. Off by
 * default: nothing of OpenTelemetry is loaded then.
 *
 * The app runs as a plain-Node child process (test/support/tracing-probe.ts), not in Jest: under
 * Jest's ESM loader the module-patching instrumentations (http, pg) see nothing. With tracing on,
 * the probe starts the app's own tracing module with an in-memory exporter instead of OTLP.
 */

const API = '/api/v1';
const SERVER = 1;
const CLIENT = 2;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

interface Call {
  status: number;
  body: Record<string, unknown>;
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: object,
  headers: Record<string, string> = {},
): Promise<Call> {
  const res = await fetch(`${base}${API}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A user with an organization, and a webhook of that organization on `receiver`'s `endpoint`. */
async function ownerWithWebhook(
  base: string,
  receiver: WebhookReceiver,
  endpoint: string,
): Promise<Record<string, string>> {
  const registered = await call(base, 'POST', '/auth/register', {
    email: `tracing-${hex(4)}@example.com`,
    password: 'correct-horse-42',
    name: 'Tracer',
    organizationName: 'Traced Org',
  });
  expect(registered.status).toBe(201);
  const headers = {
    authorization: `Bearer ${registered.body.accessToken as string}`,
    'x-organization-id': (registered.body.organization as { id: string }).id,
  };
  const webhook = await call(
    base,
    'POST',
    '/webhooks',
    { url: receiver.url(endpoint), events: ['contact.*'] },
    headers,
  );
  expect(webhook.status).toBe(201);
  return headers;
}

async function storedEnvelope(
  databaseUrl: string,
  contactId: string,
): Promise<Record<string, unknown>> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ envelope: Record<string, unknown> }>(
      `SELECT envelope FROM events WHERE type = 'crm.contact.created.v1' AND subject = $1`,
      [`contacts/${contactId}`],
    );
    expect(rows).toHaveLength(1);
    return rows[0].envelope;
  } finally {
    await client.end();
  }
}

async function until<T>(
  what: string,
  get: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const appEnv = (databaseUrl: string): Record<string, string> => ({
  DATABASE_URL: databaseUrl,
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOW_PRIVATE: 'true',
  RELAY_POLL_MS: '100',
});

/** A fresh database, a webhook receiver and the probe with tracing `on` or `off`, per describe. */
function probeOn(tracing: 'on' | 'off'): {
  readonly probe: ProbeProcess;
  readonly databaseUrl: string;
  receiver: WebhookReceiver;
  readonly smtp: CaptureSmtp;
} {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let probe: ProbeProcess | undefined;
  let smtp: CaptureSmtp | undefined;
  const receiver = new WebhookReceiver();
  beforeAll(async () => {
    database = await freshDatabase();
    await receiver.start();
    smtp = await CaptureSmtp.start();
    probe = await startProbe(tracing, { ...appEnv(database.url), SMTP_URL: smtp.url });
  });
  afterAll(async () => {
    await probe?.close();
    await receiver.stop();
    await smtp?.stop();
    await database?.drop();
  });
  return {
    get probe(): ProbeProcess {
      if (!probe) throw new Error('the probe did not start');
      return probe;
    },
    get databaseUrl(): string {
      return database!.url;
    },
    get smtp(): CaptureSmtp {
      return smtp!;
    },
    receiver,
  };
}

describe('Tracing on (OpenTelemetry, the real app in a plain-Node process)', () => {
  const app = probeOn('on');

  it('one request: one trace from the incoming traceparent down to its SQL, its logs, its event and its webhook request', async () => {
    const headers = await ownerWithWebhook(app.probe.url, app.receiver, 'traced');
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const created = await call(
      app.probe.url,
      'POST',
      '/contacts',
      { name: 'Traced Contact' },
      { ...headers, traceparent: `00-${traceId}-${callerSpanId}-01` },
    );
    expect(created.status).toBe(201);
    const contactId = created.body.id as string;

    // The server span ends once the answer is sent: wait for it.
    const spans = await until('the request span', async () => {
      const all = (await app.probe.spans()).filter((s) => s.traceId === traceId);
      return all.some((s) => s.kind === SERVER) ? all : undefined;
    });
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const parentOf = (s: ProbeSpan): ProbeSpan | undefined =>
      s.parentSpanId ? byId.get(s.parentSpanId) : undefined;

    // The server span (Fastify's request span, named after the route's template) continues the
    // caller's trace: its parent is the caller's span. The route handler's span is under it.
    const servers = spans.filter((s) => s.kind === SERVER);
    expect(servers).toHaveLength(1);
    const server = servers[0];
    expect(server.scope).toBe('@fastify/otel');
    expect(server.name).toBe(`POST ${API}/contacts`);
    expect(server.attributes['http.route']).toBe(`${API}/contacts`);
    expect(server.attributes['http.response.status_code']).toBe(201);
    expect(server.parentSpanId).toBe(callerSpanId);
    const handler = spans.find((s) => s.scope === '@fastify/otel' && s.name.startsWith('handler'));
    expect(handler).toBeDefined();
    expect(handler!.parentSpanId).toBe(server.spanId);

    // The SQL of the request: pg spans whose parent chain leads up to the handler and the server.
    const chainOf = (s: ProbeSpan): string[] => {
      const chain: string[] = [];
      for (let p = parentOf(s); p; p = parentOf(p)) chain.push(p.spanId);
      return chain;
    };
    const queries = spans.filter(
      (s) => s.scope === '@opentelemetry/instrumentation-pg' && s.name.startsWith('pg.query'),
    );
    expect(queries.length).toBeGreaterThan(0);
    // Taking a pooled connection makes no span (ignoreConnectSpans: a third fewer spans).
    expect(spans.filter((s) => /^pg(-pool)?\.connect/.test(s.name))).toEqual([]);
    for (const query of queries) {
      expect(chainOf(query)).toEqual(expect.arrayContaining([handler!.spanId, server.spanId]));
    }
    const insert = queries.find((q) =>
      /INSERT INTO "?contacts"?/i.test(
        String(q.attributes['db.query.text'] ?? q.attributes['db.statement']),
      ),
    );
    expect(insert).toBeDefined();
    // Every span of this trace hangs under the server span (nothing detached).
    for (const span of spans.filter((s) => s !== server)) {
      expect(chainOf(span)).toContain(server.spanId);
    }

    // The request's log lines carry its traceId (and a spanId of that trace). The access line is
    // written once the answer has gone, so it can reach the pipe after the answer: wait for it.
    const logged = await until('the request log line', () => {
      const lines = app.probe
        .lines()
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.traceId === traceId);
      return lines.some((line) => line.msg === 'request completed') ? lines : undefined;
    });
    for (const line of logged) expect(byId.has(line.spanId as string)).toBe(true);

    // The event it recorded carries the traceparent of the span that recorded it.
    const envelope = await storedEnvelope(app.databaseUrl, contactId);
    const recorded = TRACEPARENT.exec(envelope.traceparent as string);
    expect(recorded).not.toBeNull();
    expect(recorded![1]).toBe(traceId);
    expect(chainOf(byId.get(recorded![2])!)).toContain(server.spanId);

    // The webhook request delivering that event: traceparent of the span that sends it (the HTTP
    // client span), in the same trace, under a delivery span whose parent is the event's span.
    await app.receiver.until(() =>
      app.receiver.of('traced').some((r) => r.body.includes(contactId) && r.headers.traceparent),
    );
    const delivered = app.receiver.of('traced').find((r) => r.body.includes(contactId))!;
    const sent = TRACEPARENT.exec(delivered.headers.traceparent);
    expect(sent).not.toBeNull();
    expect(sent![1]).toBe(traceId);
    const client = await until('the webhook client span', async () =>
      (await app.probe.spans()).find((s) => s.spanId === sent![2]),
    );
    expect(client.kind).toBe(CLIENT);
    expect(client.scope).toBe('@opentelemetry/instrumentation-http');
    const delivery = (await app.probe.spans()).find((s) => s.spanId === client.parentSpanId);
    expect(delivery?.name).toBe('webhook delivery');
    expect(delivery?.parentSpanId).toBe(recorded![2]);
  });

  it('a request without traceparent starts its own trace, its SQL in it', async () => {
    const before = new Set((await app.probe.spans()).map((s) => s.spanId));
    const res = await call(app.probe.url, 'POST', '/auth/login', {
      email: 'nobody@example.com',
      password: 'wrong-password-1',
    });
    expect(res.status).toBe(401);
    const server = await until('the login span', async () =>
      (await app.probe.spans()).find(
        (s) => !before.has(s.spanId) && s.kind === SERVER && s.name === `POST ${API}/auth/login`,
      ),
    );
    expect(server.parentSpanId).toBeNull();
    const spans = (await app.probe.spans()).filter((s) => s.traceId === server.traceId);
    expect(spans.some((s) => s.scope === '@opentelemetry/instrumentation-pg')).toBe(true);
  });

  it('each SMTP call (the welcome email of a sign-up) is a client span', async () => {
    await until('the welcome emails', () =>
      Promise.resolve(app.smtp.messages.length ? true : undefined),
    );
    const smtp = await until('an SMTP span', async () =>
      (await app.probe.spans()).find((s) => s.name === 'smtp send'),
    );
    expect(smtp.kind).toBe(CLIENT);
    expect(smtp.attributes['server.address']).toBe(new URL(app.smtp.url).host);
  });
});

describe('Tracing off (the default: no OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  const app = probeOn('off');

  it('loads nothing of OpenTelemetry and adds no trace fields to logs, events or webhook requests', async () => {
    const headers = await ownerWithWebhook(app.probe.url, app.receiver, 'untraced');
    const traceId = hex(16);
    const created = await call(
      app.probe.url,
      'POST',
      '/contacts',
      { name: 'Untraced Contact' },
      { ...headers, traceparent: `00-${traceId}-${hex(8)}-01` },
    );
    expect(created.status).toBe(201);
    const contactId = created.body.id as string;
    await app.receiver.until(() =>
      app.receiver.of('untraced').some((r) => r.body.includes(contactId)),
    );

    // No SDK, exporter or instrumentation: only the API package, which prom-client (the metrics)
    // loads for its exemplars whatever tracing does; and nothing registered with it (the global
    // tracer provider is the no-op one).
    const modules = await app.probe.modules();
    const api = /[\\/]node_modules[\\/]@opentelemetry[\\/]api[\\/]/;
    expect(modules.otelModules.filter((path) => !api.test(path))).toEqual([]);
    expect(modules.apiRegistered).toBe(false);
    expect(await app.probe.spans()).toEqual([]);

    const lines = await until('the request log line', () => {
      const all = app.probe.lines().map((line) => JSON.parse(line) as Record<string, unknown>);
      return all.some((line) => line.msg === 'request completed') ? all : undefined;
    });
    expect(lines.filter((line) => 'traceId' in line || 'spanId' in line)).toEqual([]);
    expect(app.probe.lines().join('\n')).not.toContain(traceId);

    const envelope = await storedEnvelope(app.databaseUrl, contactId);
    expect(envelope).not.toHaveProperty('traceparent');
    const delivered = app.receiver.of('untraced').find((r) => r.body.includes(contactId))!;
    expect(delivered.headers).not.toHaveProperty('traceparent');
  });
});

/*
 * The exporter the deployed app uses (not the probe's in-memory one): the SDK builds it from the
 * standard variables, OTLP over HTTP with protobuf by default. A collector on 127.0.0.1 started
 * here receives the spans of a request.
 */
describe('Tracing on with the standard OTLP exporter (the app as a process, a collector here)', () => {
  interface Export {
    path: string;
    contentType: string;
    body: Buffer;
  }
  const received: Export[] = [];
  let collector: Server;
  let collectorUrl: string;
  let databaseUrl: string;

  beforeAll(async () => {
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({
          path: req.url ?? '',
          contentType: String(req.headers['content-type']),
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((done) => collector.listen(0, '127.0.0.1', done));
    collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    databaseUrl = (await freshDatabase()).url;
  });
  afterAll(() => new Promise<void>((done) => collector.close(() => done())));

  it.each([
    ['http/protobuf (the default)', undefined, 'application/x-protobuf'],
    ['http/json', 'http/json', 'application/json'],
  ])('%s: a request reaches the collector as spans of the service', async (_, protocol, type) => {
    received.length = 0;
    const app = await startAppProcess({
      DATABASE_URL: databaseUrl,
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_SERVICE_NAME: 'crm-api-otlp-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      ...(protocol ? { OTEL_EXPORTER_OTLP_PROTOCOL: protocol } : {}),
    });
    try {
      const res = await fetch(`${app.url}${API}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'nobody@example.com', password: 'wrong-password-1' }),
      });
      expect(res.status).toBe(401);
      await until('an OTLP export', () =>
        received.some((e) => e.body.includes('/api/v1/auth/login')) ? true : undefined,
      );
    } finally {
      await app.close();
    }
    const exported = received.find((e) => e.body.includes('/api/v1/auth/login'))!;
    expect(exported.path).toBe('/v1/traces');
    expect(exported.contentType).toBe(type);
    expect(exported.body.includes('crm-api-otlp-test')).toBe(true);
  });
});
