import { randomBytes } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import { AmqpNames, EVENT_CONTENT_TYPE } from '../src/events/broker';
import { EVENT_TYPES } from '../src/events/catalog';
import { as, register, type Session } from './support/api';
import type { Envelope } from './support/events';
import {
  AMQP_URL,
  capture,
  describeOnRabbitMq,
  dropNamespace,
  queuesOf,
  type Capture,
} from './support/rabbitmq';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * The whole event catalog through the relay (API.md section 12, issue 12): a queue bound to the
 * events exchange sees, for a scenario that writes every entity in two organizations at once,
 * each stored event with its type as routing key, its id as message id, persistent, with the
 * CloudEvents content type and the stored envelope (= GET /events/{id}) as body, in commit order
 * per organization, and never anything of another organization. Delivery is at least once:
 * repeats are counted and allowed. Skipped without a broker (global setup).
 */

const API = '/api/v1';

interface Stored {
  id: string;
  type: string;
  organization_id: string;
  envelope: Envelope;
}

interface Resource {
  id: string;
}

const body = (m: ConsumeMessage): Envelope => JSON.parse(m.content.toString()) as Envelope;

/** Arrival order without repeats (at least once: a consumer deduplicates by id). */
const firstArrivals = (messages: ConsumeMessage[]): string[] => [
  ...new Set(messages.map((m) => m.properties.messageId as string)),
];

/** A date `days` days from today (UTC), YYYY-MM-DD. */
const inDays = (days: number): string =>
  new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

describeOnRabbitMq('Every event type of the catalog through the relay (API.md section 12)', () => {
  const names = new AmqpNames(`cat-${randomBytes(4).toString('hex')}`);
  let t: TestApp;
  let events: Capture;
  /** The queues the app declares in the namespace (consumers, their retries, dead letters). */
  let queues: string[] = [];
  let a: Session;
  let b: Session;
  let stored: Stored[];

  /** Sends a write as `owner` in their organization and expects `status`; the body. */
  async function write<T = Resource>(
    owner: Session,
    method: 'post' | 'put' | 'patch' | 'delete',
    path: string,
    payload: object | undefined,
    status: number,
  ): Promise<T> {
    const req = t.http()[method](`${API}${path}`).set(as(owner, owner.organizationId));
    const res = payload === undefined ? await req : await req.send(payload);
    expect({ method, path, status: res.status }).toEqual({ method, path, status });
    return res.body as T;
  }

  /** organization.updated; member.added, role_changed, removed (`guest` joins and leaves). */
  async function organizationAndMembers(owner: Session, guest: Session): Promise<void> {
    await write(owner, 'patch', '/organizations/current', { defaultCurrency: 'gbp' }, 200);
    const members = '/organizations/current/members';
    await write(owner, 'post', members, { email: guest.email, role: 'member' }, 201);
    await write(owner, 'patch', `${members}/${guest.userId}`, { role: 'manager' }, 200);
    await write(owner, 'delete', `${members}/${guest.userId}`, undefined, 204);
  }

  /** contact.*, company.*, import.completed (one per CSV import). */
  async function contactsAndCompanies(owner: Session, label: string): Promise<void> {
    const company = await write(owner, 'post', '/companies', { name: `Acme ${label}` }, 201);
    await write(owner, 'patch', `/companies/${company.id}`, { industry: 'Anvils' }, 200);
    await write(owner, 'delete', `/companies/${company.id}`, undefined, 204);
    const contact = await write(owner, 'post', '/contacts', { name: `Ada ${label}` }, 201);
    await write(owner, 'put', `/contacts/${contact.id}`, { name: `Ada Lovelace ${label}` }, 200);
    await write(owner, 'delete', `/contacts/${contact.id}`, undefined, 204);
    const csv = `name,email,phone,companyName\nRow,row-${label}@catalog.example,,\n`;
    const res = await t
      .http()
      .post(`${API}/contacts/import`)
      .attach('file', Buffer.from(csv, 'utf8'), 'contacts.csv')
      .set(as(owner, owner.organizationId));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(expect.objectContaining({ created: 1 }));
  }

  /** lead.created, updated, qualified, disqualified, deleted, converted (+ created events). */
  async function leads(owner: Session, label: string): Promise<void> {
    const lead = await write(owner, 'post', '/leads', { name: `Lead ${label}` }, 201);
    await write(owner, 'patch', `/leads/${lead.id}`, { status: 'contacted' }, 200);
    await write(owner, 'post', `/leads/${lead.id}/qualify`, undefined, 200);
    await write(owner, 'post', `/leads/${lead.id}/convert`, { dealTitle: `From ${label}` }, 201);
    const other = await write(owner, 'post', '/leads', { name: `No ${label}` }, 201);
    await write(owner, 'post', `/leads/${other.id}/disqualify`, { reason: 'No budget' }, 200);
    await write(owner, 'delete', `/leads/${other.id}`, undefined, 204);
  }

  /** deal.*, task.*, activity.comment_added, pipeline.*. */
  async function dealsTasksPipelines(owner: Session, label: string): Promise<void> {
    const contact = await write(owner, 'post', '/contacts', { name: `Deal ${label}` }, 201);
    const deal = (extra: object): Promise<Resource> =>
      write(
        owner,
        'post',
        '/deals',
        { title: `Deal ${label}`, contactId: contact.id, amount: '100', ...extra },
        201,
      );
    const won = await deal({ status: 'in_progress' });
    await write(owner, 'patch', `/deals/${won.id}`, { title: `Engine ${label}` }, 200);
    await write(owner, 'post', `/deals/${won.id}/move-stage`, { stage: 'proposal' }, 200);
    const comment = { type: 'comment', payload: { text: `Called ${label}` } };
    await write(owner, 'post', `/deals/${won.id}/activities`, comment, 201);
    const due = { dealId: won.id, title: 'Call back', dueDate: inDays(3) };
    const task = await write(owner, 'post', '/tasks', due, 201);
    await write(owner, 'patch', `/tasks/${task.id}`, { title: 'Call back soon' }, 200);
    await write(owner, 'patch', `/tasks/${task.id}`, { isDone: true }, 200);
    await write(owner, 'delete', `/tasks/${task.id}`, undefined, 204);
    await write(owner, 'post', `/deals/${won.id}/win`, {}, 200);
    const lost = await deal({});
    await write(owner, 'post', `/deals/${lost.id}/lose`, { reason: 'Budget cut' }, 200);
    const doomed = await deal({});
    await write(owner, 'delete', `/deals/${doomed.id}`, undefined, 204);

    const stages = [
      { key: 'intro', name: 'Intro', probability: 10 },
      { key: 'done', name: 'Done', probability: 100 },
    ];
    const pipeline = await write(owner, 'post', '/pipelines', { name: 'Partners', stages }, 201);
    await write(owner, 'patch', `/pipelines/${pipeline.id}`, { name: 'Partnerships' }, 200);
    await write(owner, 'delete', `/pipelines/${pipeline.id}`, undefined, 204);
  }

  async function scenario(owner: Session, guest: Session, label: string): Promise<void> {
    await organizationAndMembers(owner, guest);
    await contactsAndCompanies(owner, label);
    await leads(owner, label);
    await dealsTasksPipelines(owner, label);
  }

  beforeAll(async () => {
    t = await createTestApp({
      AMQP_URL,
      RELAY_POLL_MS: '200',
      AMQP_NAMESPACE: names.namespace,
    });
    queues = queuesOf(t, names);
    // Bound before any write: every event of this app goes to this namespace's exchange only.
    events = await capture(names.exchange);
    // user.registered, organization.created, member.added in each organization.
    [a, b] = [await register(t, 'a', 'Catalog A'), await register(t, 'b', 'Catalog B')];
    // Both organizations write at the same time: their events interleave in the outbox.
    await Promise.all([scenario(a, b, 'a'), scenario(b, a, 'b')]);

    stored = await t.db.query<Stored[]>(
      'SELECT id, type, organization_id, envelope FROM events ORDER BY seq',
    );
    const ids = new Set(stored.map((e) => e.id));
    await events.until(
      (messages) => firstArrivals(messages).filter((id) => ids.has(id)).length === ids.size,
      20_000,
    );
  });

  afterAll(async () => {
    await t?.close();
    await events?.close();
    // The namespace's exchanges and queues are this test's own: leave the broker as it was.
    await dropNamespace(names, queues);
  });

  it('the scenario records every type of the catalog, in both organizations', () => {
    const organizations = [a.organizationId, b.organizationId];
    expect(new Set(stored.map((e) => e.organization_id))).toEqual(new Set(organizations));
    for (const organization of organizations) {
      const types = new Set(
        stored.filter((e) => e.organization_id === organization).map((e) => e.type),
      );
      expect([...EVENT_TYPES].filter((type) => !types.has(type))).toEqual([]);
    }
    // Nothing outside the catalog either.
    const catalog = new Set<string>(EVENT_TYPES);
    expect(stored.map((e) => e.type).filter((type) => !catalog.has(type))).toEqual([]);
  });

  it('publishes each stored event: routing key = type, message id = id, persistent, CloudEvents JSON, the envelope as body', async () => {
    const byId = new Map(stored.map((e) => [e.id, e]));
    // Only this app publishes to the namespace's exchange: nothing but stored events arrives.
    expect(events.messages.filter((m) => !byId.has(m.properties.messageId as string))).toEqual([]);
    const owners = new Map([a, b].map((s) => [s.organizationId, s]));
    for (const event of stored) {
      const message = events.messages.find((m) => m.properties.messageId === event.id)!;
      expect(message.fields).toMatchObject({ exchange: names.exchange, routingKey: event.type });
      expect(message.properties).toMatchObject({
        messageId: event.id,
        contentType: EVENT_CONTENT_TYPE,
        deliveryMode: 2,
      });
      expect(EVENT_CONTENT_TYPE).toBe('application/cloudevents+json');
      expect(body(message)).toEqual(event.envelope);
      expect(body(message)).toMatchObject({ id: event.id, type: event.type });
      const owner = owners.get(event.organization_id)!;
      const res = await t
        .http()
        .get(`${API}/events/${event.id}`)
        .set(as(owner, owner.organizationId));
      expect(res.status).toBe(200);
      expect(body(message)).toEqual(res.body);
    }
    // A repeat (at least once) is the same message again.
    for (const message of events.messages) {
      expect(body(message)).toEqual(byId.get(message.properties.messageId as string)!.envelope);
      expect(message.fields.routingKey).toBe(body(message).type);
    }
    const repeats = events.messages.length - byId.size;
    expect(repeats).toBeGreaterThanOrEqual(0);
    console.info(
      `${byId.size} events of ${new Set(stored.map((e) => e.type)).size} types, ${repeats} repeats`,
    );
  });

  it('per organization, events arrive in commit order', () => {
    for (const organization of [a.organizationId, b.organizationId]) {
      const ids = new Set(
        stored.filter((e) => e.organization_id === organization).map((e) => e.id),
      );
      const received = events.messages.filter((m) => ids.has(m.properties.messageId as string));
      expect(firstArrivals(received)).toEqual(
        stored.filter((e) => e.organization_id === organization).map((e) => e.id),
      );
    }
  });

  it('every message carries its own organization, never the other one', () => {
    const stores = new Map(stored.map((e) => [e.id, e]));
    const other = (organization: string): string =>
      organization === a.organizationId ? b.organizationId : a.organizationId;
    for (const message of events.messages) {
      const event = stores.get(message.properties.messageId as string)!;
      const envelope = body(message);
      expect(envelope.organizationid).toBe(event.organization_id);
      expect(envelope.source).toBe(`/organizations/${event.organization_id}`);
      expect(envelope.source).not.toContain(other(event.organization_id));
      // Not even inside `data`: the other owner appears as a member, never their organization.
      expect(message.content.toString()).not.toContain(other(event.organization_id));
    }
  });
});
