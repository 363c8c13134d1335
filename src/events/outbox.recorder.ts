import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { DomainEvent, EventRecorder } from '../tenancy/unit-of-work';

/** The LISTEN/NOTIFY channel that wakes the relay up (src/events/relay.ts). */
export const RELAY_CHANNEL = 'crm_events';

/** The CloudEvents 1.0 envelope (JSON structured mode) of API.md section 12. */
export interface EventEnvelope {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  organizationid: string;
  actorid: string | null;
  requestid: string | null;
  traceparent?: string;
  data: object;
}

export function envelopeOf(event: DomainEvent, id: string, time: Date): EventEnvelope {
  return {
    specversion: '1.0',
    id,
    type: event.type,
    source: `/organizations/${event.organizationId}`,
    subject: event.subject,
    time: time.toISOString(),
    datacontenttype: 'application/json',
    organizationid: event.organizationId,
    actorid: event.actorId,
    requestid: event.requestId,
    data: event.data,
  };
}

/**
 * The transactional outbox: the unit of work hands it a transaction's events just before the
 * commit, and it inserts them into `events` in that transaction. Events of one organization are
 * numbered in commit order: a transaction-scoped advisory lock per organization, taken by the
 * insert statement itself before it draws any `seq` and held until the commit, keeps two
 * transactions of one organization from interleaving their `seq` values and committing in the
 * other order (docs/decisions/0029). The lock is held for that one statement and the commit
 * only, with no round trip to this process in between; other organizations are not affected.
 */
@Injectable()
export class OutboxRecorder implements EventRecorder {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async record(manager: EntityManager, events: DomainEvent[]): Promise<void> {
    const organizations = [...new Set(events.map((e) => e.organizationId))].sort();
    // Several organizations (rare): their locks one by one in a fixed order (no deadlock), then
    // the insert; one organization: the lock inside the insert statement.
    const lockInInsert = organizations.length === 1;
    if (!lockInInsert) {
      for (const organizationId of organizations) {
        await manager.query(`SELECT ${LOCK}`, [`events:${organizationId}`]);
      }
    }
    const time = new Date();
    const ids = events.map(() => randomUUID());
    const params: unknown[] = [
      ids,
      events.map((e) => e.organizationId),
      events.map((e) => e.type),
      events.map((e) => e.subject),
      events.map((e, i) => JSON.stringify(envelopeOf(e, ids[i], time))),
      time,
    ];
    if (lockInInsert) params.push(`events:${organizations[0]}`);
    // The lock's CTE is materialized and joined, and the rows sorted, so the lock is taken
    // before the first row reaches the insert (and draws its seq).
    await manager.query(
      `${lockInInsert ? `WITH ordering AS MATERIALIZED (SELECT ${LOCK.replace('$1', '$7')})` : ''}
       INSERT INTO events (id, organization_id, type, subject, envelope, created_at)
       SELECT e.id, e.organization_id, e.type, e.subject, e.envelope, $6
         FROM ${lockInInsert ? 'ordering, ' : ''}
              unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[])
                WITH ORDINALITY AS e(id, organization_id, type, subject, envelope, n)
        ORDER BY e.n`,
      params,
    );
    // Wakes the relay up right after the commit (only with RabbitMQ: a NOTIFY serializes
    // commits; the relay also polls, so a lost notification only delays, docs/decisions/0030).
    if (this.config.amqpUrl) await manager.query(`SELECT pg_notify('${RELAY_CHANNEL}', '')`);
  }
}

/** The per-organization ordering lock; `$1` is `events:<organization id>`. */
const LOCK = 'pg_advisory_xact_lock(hashtextextended($1, 1))';
