import type { DomainEvent } from '../tenancy/unit-of-work';

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

/**
 * The envelope of a recorded event. `traceparent` (the span that recorded it, when tracing is on:
 * CloudEvents' distributed tracing extension) is left out when absent, not written as null.
 */
export function envelopeOf(
  event: DomainEvent,
  id: string,
  time: Date,
  traceparent?: string,
): EventEnvelope {
  const envelope: EventEnvelope = {
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
  if (traceparent) envelope.traceparent = traceparent;
  return envelope;
}
