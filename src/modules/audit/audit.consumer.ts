import { Injectable } from '@nestjs/common';
import { EVENT_TYPES } from '../../events/catalog';
import { Consumer, type EventHandler } from '../../events/consumers/consumer';
import type { EventEnvelope } from '../../events/envelope';
import { AuditAction, AuditService } from './audit.service';

/** The events the audit trail keeps besides what AuthService writes itself: deletes, imports. */
export const AUDITED_EVENTS: Readonly<Record<string, AuditAction>> = {
  'crm.contact.deleted.v1': AuditAction.CONTACT_DELETED,
  'crm.company.deleted.v1': AuditAction.COMPANY_DELETED,
  'crm.lead.deleted.v1': AuditAction.LEAD_DELETED,
  'crm.deal.deleted.v1': AuditAction.DEAL_DELETED,
  'crm.task.deleted.v1': AuditAction.TASK_DELETED,
  'crm.pipeline.deleted.v1': AuditAction.PIPELINE_DELETED,
  'crm.import.completed.v1': AuditAction.IMPORT_COMPLETED,
};

/** What an entry says about the record: its name (a task's title), or an import's report. */
function detailsOf(resource: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!resource) return {};
  if ('kind' in resource) {
    const { kind, created, updated, skipped, failed } = resource;
    return { kind, created, updated, skipped, failed: Array.isArray(failed) ? failed.length : 0 };
  }
  const name = resource.name ?? resource.title;
  return name === undefined ? {} : { name };
}

/**
 * The audit trail's consumer of domain events (API.md sections 12 and 16): one entry per delete
 * of a contact, company, lead, deal, task or pipeline and per completed import, with the actor,
 * the request id and the time of the change. Idempotent by event id (a unique key on
 * audit_logs.event_id), so redeliveries and replays write nothing twice.
 */
@Injectable()
@Consumer({
  name: 'audit',
  types: EVENT_TYPES.filter((type) => type in AUDITED_EVENTS),
})
export class AuditConsumer implements EventHandler {
  constructor(private readonly audit: AuditService) {}

  async handle(event: EventEnvelope): Promise<void> {
    const action = AUDITED_EVENTS[event.type];
    if (!action) return;
    const id = event.subject.split('/')[1];
    const singular = event.type.split('.')[1];
    const data = event.data as Record<string, Record<string, unknown> | undefined>;
    await this.audit.recordFromEvent(
      event.id,
      new Date(event.time),
      {
        action,
        actorUserId: event.actorid,
        organizationId: event.organizationid,
        target: { type: singular, id },
        details: detailsOf(data[singular]),
      },
      event.requestid,
    );
  }
}
