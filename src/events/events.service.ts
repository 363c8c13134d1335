import { Injectable } from '@nestjs/common';
import { Brackets } from 'typeorm';
import { escapeLike } from '../common/pagination/select-as';
import type { ListResult } from '../common/pagination/list-result.dto';
import { type Actor, scopeOf } from '../tenancy/actor';
import { AppException } from '../common/errors/app.exception';
import { UnitOfWork } from '../tenancy/unit-of-work';
import type { EventEnvelopeDto, EventListQueryDto } from './dto/event.dto';
import { EventRecord } from './event.entity';

/** The event log API (API.md section 12): an organization's events, in commit order. */
@Injectable()
export class EventsService {
  constructor(private readonly uow: UnitOfWork) {}

  list(actor: Actor, query: EventListQueryDto): Promise<ListResult<EventEnvelopeDto>> {
    const reader = this.uow.read(actor);
    const events = reader.query(EventRecord, 'e').select('e.envelope', 'envelope');
    const types = query.type ?? [];
    const exact = types.filter((t) => !t.endsWith('*'));
    const prefixes = types.filter((t) => t.endsWith('*')).map((t) => t.slice(0, -1));
    if (types.length) {
      events.andWhere(
        new Brackets((any) => {
          if (exact.length) any.orWhere('e.type IN (:...exactTypes)', { exactTypes: exact });
          prefixes.forEach((prefix, i) =>
            any.orWhere(`e.type LIKE :typePrefix${i}`, {
              [`typePrefix${i}`]: `${escapeLike(prefix)}%`,
            }),
          );
        }),
      );
    }
    // Scope `own` (a custom role, API.md section 16): the events of the caller's own changes.
    if (scopeOf(actor, 'events') !== 'all') {
      events.andWhere("e.envelope->>'actorid' = :eventActor", { eventActor: actor.userId });
    }
    if (query.subject) events.andWhere('e.subject = :subject', { subject: query.subject });
    if (query.since) events.andWhere('e.created_at >= :since', { since: query.since });
    if (query.until) events.andWhere('e.created_at < :until', { until: query.until });
    return reader.list(
      events,
      query,
      { column: 'e.seq', type: 'bigint', id: 'e.id' },
      {
        endpoint: 'events',
        orderBy: 'seq',
        filters: {
          own: scopeOf(actor, 'events') !== 'all' ? actor.userId : undefined,
          types: [...types].sort(),
          subject: query.subject,
          since: query.since,
          until: query.until,
        },
      },
      (row: { envelope: EventEnvelopeDto }) => row.envelope,
    );
  }

  async get(actor: Actor, id: string): Promise<EventEnvelopeDto> {
    const event = await this.uow.read(actor).findVisible(EventRecord, id);
    const envelope = event.envelope as EventEnvelopeDto;
    if (scopeOf(actor, 'events') !== 'all' && envelope.actorid !== actor.userId) {
      throw AppException.notFound('Event');
    }
    return envelope;
  }
}
