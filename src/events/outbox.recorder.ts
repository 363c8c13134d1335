import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { DomainEvent, EventRecorder } from '../tenancy/unit-of-work';
import { EventRecord } from './event.entity';

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
 * numbered in commit order: a transaction-scoped advisory lock per organization is taken just
 * before the insert and held until the commit, so two transactions of one organization cannot
 * interleave their `seq` values and commit in the other order (docs/decisions/0029). The lock
 * is held for the last statement and the commit only; other organizations are not affected.
 */
@Injectable()
export class OutboxRecorder implements EventRecorder {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async record(manager: EntityManager, events: DomainEvent[]): Promise<void> {
    const organizations = [...new Set(events.map((e) => e.organizationId))].sort();
    for (const organizationId of organizations) {
      await manager.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [
        `events:${organizationId}`,
      ]);
    }
    const time = new Date();
    const rows = events.map((event) => {
      const id = randomUUID();
      return {
        id,
        organizationId: event.organizationId,
        type: event.type,
        subject: event.subject,
        envelope: envelopeOf(event, id, time),
        createdAt: time,
      };
    });
    await manager.createQueryBuilder().insert().into(EventRecord).values(rows).execute();
    // Wakes the relay up right after the commit (only with RabbitMQ: a NOTIFY serializes
    // commits; the relay also polls, so a lost notification only delays, docs/decisions/0030).
    if (this.config.amqpUrl) await manager.query(`SELECT pg_notify('${RELAY_CHANNEL}', '')`);
  }
}
