import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ConsumeMessage } from 'amqplib';
import { Client } from 'pg';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { createApp } from '../src/app.factory';
import { createLogger } from '../src/common/logging/logger';
import { as, register, type Session } from './support/api';
import {
  freshDatabase,
  startAppProcess,
  tcpProxy,
  type AppProcess,
  type TcpProxy,
} from './support/app-process';
import {
  AMQP_URL,
  brokerProxy,
  capture,
  describeOnRabbitMq,
  type Capture,
} from './support/rabbitmq';
import { testConfig, type TestApp } from './support/test-app';

/**
 * API.md section 12 with real app copies: "a committed change always has its event, even if the
 * process dies right after the commit" (the app as a child process, SIGKILLed) and "any number of
 * app copies may run: no event is lost or reordered per organization" (three copies relaying at
 * once, the relaying one stopped). Black box: HTTP, SQL on `events`, and the messages of
 * `crm.events` captured from a queue. Skipped without a broker (global setup).
 */

const API = '/api/v1';
/** API.md section 12: the durable topic exchange of the events, routing key = type. */
const EXCHANGE = 'crm.events';
const RELAY_APP_NAME = 'crm-api event relay';

interface Envelope {
  id: string;
  type: string;
  subject: string;
  organizationid: string;
}

interface Stored {
  id: string;
  type: string;
  subject: string;
  organizationid: string;
  envelope: Envelope;
  published: boolean;
}

/** A write answered 2xx, and the event it must have recorded. */
interface Answered {
  type: string;
  subject: string;
}

/** Something to send a request to: an app copy in this process or a child process. */
type Target = () => TestAgent;

interface Sql {
  query: <T>(text: string, values?: unknown[]) => Promise<T[]>;
  close: () => Promise<void>;
}

async function sqlClient(url: string, name = 'crm-test'): Promise<Sql> {
  const client = new Client({ connectionString: url, application_name: name });
  await client.connect();
  return {
    query: async <T>(text: string, values?: unknown[]) =>
      (await client.query(text, values)).rows as T[],
    close: () => client.end(),
  };
}

const storedEvents = (sql: Sql): Promise<Stored[]> =>
  sql.query<Stored>(
    `SELECT id, type, subject, organization_id AS organizationid, envelope,
            published_at IS NOT NULL AS published
       FROM events ORDER BY seq`,
  );

async function waitAllPublished(sql: Sql, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [{ waiting }] = await sql.query<{ waiting: number }>(
      'SELECT count(*)::int AS waiting FROM events WHERE published_at IS NULL',
    );
    if (waiting === 0) return;
    if (Date.now() > deadline) throw new Error(`${waiting} events not published in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const body = (m: ConsumeMessage): Envelope => JSON.parse(m.content.toString()) as Envelope;
const idOf = (m: ConsumeMessage): string => m.properties.messageId as string;

/** The messages of these event ids, in arrival order (other test files share the exchange). */
const messagesOf = (c: Capture, ids: Set<string>): ConsumeMessage[] =>
  c.messages.filter((m) => ids.has(idOf(m)));

/** Arrival order without repeats (at least once: a consumer deduplicates by id). */
const firstArrivals = (messages: ConsumeMessage[]): string[] => [...new Set(messages.map(idOf))];

/**
 * Waits until every stored event arrived, then checks: per organization, the first arrivals are
 * the events in seq order (nothing lost, nothing reordered); a repeat is the same message again.
 * Returns how many repeats there were.
 */
async function expectAllArrivedInOrder(events: Capture, stored: Stored[]): Promise<number> {
  const ids = new Set(stored.map((e) => e.id));
  await events.until(() => firstArrivals(messagesOf(events, ids)).length === ids.size, 15_000);
  const received = messagesOf(events, ids);
  for (const organization of new Set(stored.map((e) => e.organizationid))) {
    expect(firstArrivals(received.filter((m) => body(m).organizationid === organization))).toEqual(
      stored.filter((e) => e.organizationid === organization).map((e) => e.id),
    );
  }
  const byId = new Map(stored.map((e) => [e.id, e]));
  for (const message of received) {
    expect(message.fields.routingKey).toBe(byId.get(idOf(message))!.type);
    expect(body(message)).toEqual(byId.get(idOf(message))!.envelope);
  }
  return received.length - ids.size;
}

/** Every answered write has its event in the table (commit => event). */
function expectRecorded(stored: Stored[], answered: Answered[]): void {
  const recorded = new Set(stored.map((e) => `${e.type} ${e.subject}`));
  const missing = answered.filter((a) => !recorded.has(`${a.type} ${a.subject}`));
  expect(missing).toEqual([]);
}

/** register() of test/support/api.ts only sends requests: `target` takes them. */
const on = (target: Target): TestApp => ({ http: target }) as unknown as TestApp;

/**
 * Writes as `owner`, each request to `next()`: a contact created and updated, a deal created
 * and won. Every 2xx answer is added to `answered` with the event it must have recorded.
 */
async function writes(
  next: () => Target,
  owner: Session,
  label: string,
  answered: Answered[],
): Promise<void> {
  const tenant = as(owner, owner.organizationId);
  const contact = await next()()
    .post(`${API}/contacts`)
    .set(tenant)
    .send({ name: `Ada ${label}` });
  expect(contact.status).toBe(201);
  const contactId = (contact.body as { id: string }).id;
  answered.push({ type: 'crm.contact.created.v1', subject: `contacts/${contactId}` });
  const updated = await next()()
    .put(`${API}/contacts/${contactId}`)
    .set(tenant)
    .send({ name: `Ada Lovelace ${label}` });
  expect(updated.status).toBe(200);
  answered.push({ type: 'crm.contact.updated.v1', subject: `contacts/${contactId}` });
  const deal = await next()()
    .post(`${API}/deals`)
    .set(tenant)
    .send({ title: `Engine ${label}`, contactId, amount: '10', status: 'in_progress' });
  expect(deal.status).toBe(201);
  const dealId = (deal.body as { id: string }).id;
  answered.push({ type: 'crm.deal.created.v1', subject: `deals/${dealId}` });
  const won = await next()().post(`${API}/deals/${dealId}/win`).set(tenant).send({});
  expect(won.status).toBe(200);
  answered.push({ type: 'crm.deal.won.v1', subject: `deals/${dealId}` });
}

/**
 * An app copy in this process (the factory of main.ts), on `databaseUrl`, with the test
 * configuration of createTestApp plus `env`.
 */
async function startCopy(
  databaseUrl: string,
  env: Record<string, string>,
): Promise<NestFastifyApplication> {
  const config = testConfig(databaseUrl, env);
  const app = await createApp(config, databaseUrl, createLogger(config));
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/** An app copy in this process, connected to PostgreSQL through its own TCP proxy. */
interface Copy {
  name: string;
  app: NestFastifyApplication;
  proxy: TcpProxy;
  http: Target;
  running: boolean;
}

/** The relay sessions (application_name) of the current database holding an advisory lock. */
const RELAY_SESSIONS = `
  SELECT a.pid, a.client_port AS port, a.query,
         EXISTS (SELECT 1 FROM pg_locks l
                  WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted) AS holds
    FROM pg_stat_activity a
   WHERE a.datname = current_database() AND a.application_name = '${RELAY_APP_NAME}'`;

interface RelaySession {
  pid: number;
  port: number;
  query: string;
  holds: boolean;
}

/** A statement on the events table (the relay's reads and updates, not its lock calls). */
const TOUCHES_EVENTS = /\b(from|update|into)\s+"?events"?\b/i;

/** The copy whose relay session holds the lock, when exactly one does. */
async function leaderOf(sql: Sql, copies: Copy[]): Promise<Copy | undefined> {
  const holders = (await sql.query<RelaySession>(RELAY_SESSIONS)).filter((s) => s.holds);
  if (holders.length !== 1) return undefined;
  const owners = copies.filter((c) => c.proxy.upstreamPorts().has(holders[0].port));
  expect(owners).toHaveLength(1);
  return owners[0];
}

interface RelaySessionsSeen {
  samples: number;
  /** The most relay sessions seen holding the lock at once. */
  maxHolders: number;
  /** The relay sessions (pids) seen holding the lock. */
  held: Set<number>;
  /** The relay sessions seen running a statement on `events`. */
  touched: Set<number>;
}

/** Samples the relay sessions every 20 ms until stopped. */
function watchRelaySessions(sql: Sql): {
  seen: RelaySessionsSeen;
  stop: () => Promise<RelaySessionsSeen>;
} {
  const seen: RelaySessionsSeen = {
    samples: 0,
    maxHolders: 0,
    held: new Set(),
    touched: new Set(),
  };
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const sessions = await sql.query<RelaySession>(RELAY_SESSIONS);
      const holders = sessions.filter((s) => s.holds);
      seen.samples += 1;
      seen.maxHolders = Math.max(seen.maxHolders, holders.length);
      for (const s of holders) seen.held.add(s.pid);
      for (const s of sessions.filter((x) => TOUCHES_EVENTS.test(x.query))) seen.touched.add(s.pid);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  loop.catch(() => undefined); // reported by stop()
  return {
    seen,
    stop: async () => {
      stopping = true;
      await loop;
      return seen;
    },
  };
}

/** One relay at a time: never two lock holders, and only a holder reads or updates the outbox. */
function expectOneRelayAtATime(seen: RelaySessionsSeen): void {
  expect(seen.samples).toBeGreaterThan(0);
  expect(seen.maxHolders).toBe(1);
  expect([...seen.touched].filter((pid) => !seen.held.has(pid))).toEqual([]);
}

const elapsed = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

describeOnRabbitMq('App copies and the event relay (API.md section 12)', () => {
  let events: Capture;

  beforeAll(async () => {
    events = await capture(EXCHANGE);
  });
  afterAll(() => events.close());

  it('a change answered 2xx has its event even when the process is SIGKILLed right after the commit, and the next copy publishes every event in order', async () => {
    const started = Date.now();
    const timings: string[] = [];
    const database = await freshDatabase();
    const sql = await sqlClient(database.url);
    // The broker is unreachable for the first copy: it records events but publishes none.
    const cutBroker = await brokerProxy();
    await cutBroker.cut();
    const children: AppProcess[] = [];
    let restartedCopy: NestFastifyApplication | undefined;
    try {
      const first = await startAppProcess({
        DATABASE_URL: database.url,
        AMQP_URL: cutBroker.url,
        RELAY_POLL_MS: '200',
      });
      children.push(first);
      timings.push(`first copy ready ${elapsed(started)}`);
      const target: Target = () => request(first.url);
      const owners = await Promise.all(
        ['Kill Org A', 'Kill Org B', 'Kill Org C'].map((name) => register(on(target), 'k', name)),
      );
      const answered: Answered[] = [];
      for (const round of [1, 2]) {
        await Promise.all(
          owners.map((owner, i) => writes(() => target, owner, `${i}-${round}`, answered)),
        );
      }
      // Recorded in the requests' transactions, and not published (the broker is cut).
      const before = await storedEvents(sql);
      expectRecorded(before, answered);
      expect(before.filter((e) => e.published)).toEqual([]);

      // A burst of creations; SIGKILL as soon as the first one is answered, the others in flight.
      const burstAnswered: Answered[] = [];
      const burst = Array.from({ length: 12 }, (_, i) => {
        const owner = owners[i % owners.length];
        return target()
          .post(`${API}/contacts`)
          .set(as(owner, owner.organizationId))
          .send({ name: `Burst ${i}` })
          .then(
            (res) => {
              if (res.status !== 201) return;
              first.kill();
              const id = (res.body as { id: string }).id;
              burstAnswered.push({ type: 'crm.contact.created.v1', subject: `contacts/${id}` });
            },
            () => undefined, // the connection died with the process
          );
      });
      await Promise.all(burst);
      expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
      timings.push(`killed ${elapsed(started)} (${burstAnswered.length}/12 of the burst answered)`);
      expect(burstAnswered.length).toBeGreaterThanOrEqual(1);

      // Once PostgreSQL has ended the dead copy's sessions (a commit sent before the kill is
      // done by then), the table is what survived the crash.
      const deadline = Date.now() + 10_000;
      while (
        (
          await sql.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'crm-api%'",
          )
        )[0].n > 0
      ) {
        if (Date.now() > deadline) throw new Error('the killed copy still has sessions');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const survived = await storedEvents(sql);
      // commit => event, for every answered request, the last one before the kill included.
      expectRecorded(survived, [...answered, ...burstAnswered]);
      // And event <=> commit for the burst, whatever was in flight: a contact exists exactly
      // when its creation event does (one transaction), answered or not.
      const contacts = await sql.query<{ id: string }>(
        "SELECT id FROM contacts WHERE name LIKE 'Burst %'",
      );
      const known = new Set(answered.map((a) => a.subject));
      expect(
        survived
          .filter((e) => e.type === 'crm.contact.created.v1' && !known.has(e.subject))
          .map((e) => e.subject)
          .sort(),
      ).toEqual(contacts.map((c) => `contacts/${c.id}`).sort());
      expect(survived.filter((e) => e.published)).toEqual([]);

      // The next copy (in this process), with the real broker, publishes everything the dead
      // one recorded.
      const restarted = Date.now();
      restartedCopy = await startCopy(database.url, {
        AMQP_URL,
        RELAY_POLL_MS: '200',
        RELAY_BATCH: '7', // several batches
      });
      timings.push(`next copy ready ${elapsed(restarted)}`);
      await waitAllPublished(sql, 20_000);
      timings.push(`all ${survived.length} published ${elapsed(restarted)} after the restart`);
      const stored = await storedEvents(sql);
      expect(stored.map((e) => e.id)).toEqual(survived.map((e) => e.id));
      const repeats = await expectAllArrivedInOrder(events, stored);
      console.info(
        `SIGKILL test: ${stored.length} events in ${new Set(stored.map((e) => e.organizationid)).size} organizations, ${repeats} repeated deliveries; ${timings.join(', ')}; total ${elapsed(started)}`,
      );
    } catch (error) {
      for (const child of children) console.error(`app process ${child.pid}:\n${child.output()}`);
      throw error;
    } finally {
      for (const child of children) await child.close();
      await restartedCopy?.close();
      await cutBroker.close();
      await sql.close();
      await database.drop();
    }
  }, 90_000); // a child process compiles the sources with ts-node at start-up: slow on a busy CI

  it('three copies on one database: one relays at a time, every event arrives in order per organization, also after the relaying copy stops', async () => {
    const started = Date.now();
    const timings: string[] = [];
    const database = await freshDatabase();
    const url = database.url;
    const sql = await sqlClient(url);
    const monitorSql = await sqlClient(url, 'crm-test monitor');
    const monitor = watchRelaySessions(monitorSql);
    const copies: Copy[] = [];
    try {
      for (const name of ['copy 1', 'copy 2', 'copy 3']) {
        const proxy = await tcpProxy(url);
        const app = await startCopy(proxy.url, { AMQP_URL, RELAY_POLL_MS: '200' });
        copies.push({ name, app, proxy, http: () => request(app.getHttpServer()), running: true });
      }
      timings.push(`3 copies ready ${elapsed(started)}`);
      // Every request to the next running copy, in turn.
      let turn = 0;
      const next = (): Target => {
        const running = copies.filter((c) => c.running);
        return running[turn++ % running.length].http;
      };
      const owners: Session[] = [];
      for (const name of ['Copies Org A', 'Copies Org B', 'Copies Org C']) {
        owners.push(await register(on(next()), 'c', name));
      }
      const answered: Answered[] = [];
      // Two concurrent chains of writes per organization, all organizations at once.
      await Promise.all(
        owners.flatMap((owner, i) => [
          writes(next, owner, `${i}-a`, answered),
          writes(next, owner, `${i}-b`, answered),
        ]),
      );
      await waitAllPublished(sql, 15_000);
      timings.push(`first writes published ${elapsed(started)}`);
      expectOneRelayAtATime(monitor.seen);
      const leader = await leaderOf(sql, copies);
      if (!leader) throw new Error('no copy holds the relay lock');

      // The relaying copy stops while the others keep taking writes: one of them takes over.
      leader.running = false;
      const writing = Promise.all(
        owners.map((owner, i) => writes(next, owner, `${i}-c`, answered)),
      );
      const stopped = Date.now();
      await leader.app.close();
      await writing;
      // The stopped copy released the lock when it closed; a running one takes it.
      const deadline = Date.now() + 10_000;
      let successor = await leaderOf(sql, copies);
      while (!successor?.running) {
        if (Date.now() > deadline) throw new Error('no running copy took over the relay');
        await new Promise((resolve) => setTimeout(resolve, 50));
        successor = await leaderOf(sql, copies);
      }
      timings.push(
        `${successor.name} took over from ${leader.name} ${elapsed(stopped)} after it stopped`,
      );
      await Promise.all(owners.map((owner, i) => writes(next, owner, `${i}-d`, answered)));
      await waitAllPublished(sql, 15_000);
      timings.push(`all published ${elapsed(started)}`);

      const stored = await storedEvents(sql);
      expectRecorded(stored, answered);
      const repeats = await expectAllArrivedInOrder(events, stored);
      const seen = await monitor.stop();
      // Still one relay at a time, and the lock moved to another session.
      expectOneRelayAtATime(seen);
      expect(seen.held.size).toBeGreaterThanOrEqual(2);
      console.info(
        `3 copies test: ${stored.length} events in ${owners.length} organizations, ${repeats} repeated deliveries, ${seen.samples} lock samples (at most ${seen.maxHolders} holder); ${timings.join(', ')}; total ${elapsed(started)}`,
      );
    } finally {
      await monitor.stop();
      for (const copy of copies) {
        if (copy.running) await copy.app.close();
        await copy.proxy.close();
      }
      await monitorSql.close();
      await sql.close();
      await database.drop();
    }
  });
});
