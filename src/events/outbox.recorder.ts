import { eventsPublished } from '../common/metrics/metrics';
import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { escapeLiteral as literal } from 'pg';
import type { DomainEvent, EventRecorder } from '../tenancy/unit-of-work';
import { activeTracing } from '../common/tracing/trace-hooks';
import { envelopeOf } from './envelope';
import { typeMatches } from './consumers/consumer';
import { ConsumerRegistry } from './consumers/consumer-registry';
import { TableConsumers } from './consumers/table-consumers';

/** The LISTEN/NOTIFY channel that wakes the relay up (src/events/relay.ts). */
export const RELAY_CHANNEL = 'crm_events';

/**
 * The transactional outbox (docs/decisions/0029): the unit of work hands it a transaction's
 * events as the transaction's last step, and it inserts them into `events` and commits, in one
 * round trip (a multi-statement query; the unit of work sends no COMMIT of its own after it),
 * after the rows the transaction inserts at commit (TenantTx.insertAtCommit).
 *
 * Events of one organization are numbered in commit order: a transaction-scoped advisory lock
 * per organization, taken by the insert statement itself before it draws any `seq` and held
 * until the commit, keeps two transactions of one organization from interleaving their `seq`
 * values and committing in the other order. Because the COMMIT travels with the insert, the lock
 * is held for the time the database needs to insert and commit, never for a round trip through
 * this (possibly busy) process; other organizations are not affected.
 *
 * Without RabbitMQ, the events are handed to the in-app consumers in the same statement: a row in
 * `consumer_messages` per event and consumer of its type, and the events are recorded already
 * published (docs/decisions/0031); with RabbitMQ the relay publishes them after the commit.
 */
@Injectable()
export class OutboxRecorder implements EventRecorder {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly registry: ConsumerRegistry,
    private readonly table: TableConsumers,
  ) {}

  async recordAndCommit(
    manager: EntityManager,
    events: DomainEvent[],
    first: string[] = [],
  ): Promise<void> {
    const organizations = [...new Set(events.map((e) => e.organizationId))].sort();
    const time = new Date();
    const ids = events.map(() => randomUUID());
    const inApp = !this.config.amqpUrl;
    // The span recording the events (the request's, when tracing is on) travels with them.
    const traceparent = activeTracing()?.traceparent();
    const rows = events.map(
      (e, i) =>
        `(${i}, ${literal(ids[i])}::uuid, ${literal(e.organizationId)}::uuid, ${literal(e.type)}, ` +
        `${literal(e.subject)}, ${literal(JSON.stringify(envelopeOf(e, ids[i], time, traceparent)))}::jsonb)`,
    );
    const deliveries = inApp
      ? events.flatMap((e, i) =>
          this.registry.consumers
            .filter((c) => c.types.some((filter) => typeMatches(filter, e.type)))
            .map((c) => `(${literal(c.name)}, ${literal(ids[i])}::uuid)`),
        )
      : [];
    // Locks in a fixed order (no deadlock between transactions of several organizations); the
    // CTE is materialized and joined, and the rows sorted, so the locks are taken before the
    // first row reaches the insert (and draws its seq).
    const locks = organizations.map(
      (o) => `pg_advisory_xact_lock(hashtextextended(${literal(`events:${o}`)}, 1))`,
    );
    const insert = `INSERT INTO events (id, organization_id, type, subject, envelope, created_at, published_at)
      SELECT e.id, e.organization_id, e.type, e.subject, e.envelope, ${literal(time.toISOString())}::timestamptz,
             ${inApp ? `${literal(time.toISOString())}::timestamptz` : 'NULL'}
        FROM ordering, (VALUES ${rows.join(', ')}) AS e(n, id, organization_id, type, subject, envelope)
       ORDER BY e.n`;
    const statement = deliveries.length
      ? `WITH ordering AS MATERIALIZED (SELECT ${locks.join(', ')}),
              recorded AS (${insert} RETURNING id, seq, organization_id, type, envelope)
         INSERT INTO consumer_messages (consumer, event_id, event_seq, organization_id, type, envelope)
         SELECT d.consumer, r.id, r.seq, r.organization_id, r.type, r.envelope
           FROM recorded r JOIN (VALUES ${deliveries.join(', ')}) AS d(consumer, event_id) ON d.event_id = r.id
          ORDER BY r.seq`
      : `WITH ordering AS MATERIALIZED (SELECT ${locks.join(', ')}) ${insert}`;
    // Wakes the relay up right after the commit (only with RabbitMQ: a NOTIFY serializes
    // commits; the relay also polls, so a lost notification only delays, docs/decisions/0030).
    const notify = inApp ? '' : `SELECT pg_notify('${RELAY_CHANNEL}', '');`;
    await manager.query(
      `${first.map((sql) => `${sql};\n`).join('')}${statement};\n${notify}COMMIT`,
    );
    // Without RabbitMQ an event is published (to the in-app consumers) as it is recorded.
    if (inApp) eventsPublished.inc(events.length);
    if (deliveries.length) this.table.wakeUp();
  }
}
