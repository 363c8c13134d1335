/**
 * The domain event catalog of API.md section 12. The version suffix changes only on breaking
 * payload changes (both versions are then emitted for a deprecation period).
 */
export const EVENT_TYPES = [
  'crm.user.registered.v1',
  'crm.organization.created.v1',
  'crm.organization.updated.v1',
  'crm.member.added.v1',
  'crm.member.role_changed.v1',
  'crm.member.removed.v1',
  'crm.contact.created.v1',
  'crm.contact.updated.v1',
  'crm.contact.deleted.v1',
  'crm.company.created.v1',
  'crm.company.updated.v1',
  'crm.company.deleted.v1',
  'crm.lead.created.v1',
  'crm.lead.updated.v1',
  'crm.lead.qualified.v1',
  'crm.lead.disqualified.v1',
  'crm.lead.converted.v1',
  // Not in API.md's catalog, which has no event for DELETE /leads/{id}: added (decision 0029).
  'crm.lead.deleted.v1',
  'crm.deal.created.v1',
  'crm.deal.updated.v1',
  'crm.deal.stage_changed.v1',
  'crm.deal.won.v1',
  'crm.deal.lost.v1',
  'crm.deal.deleted.v1',
  'crm.task.created.v1',
  'crm.task.updated.v1',
  'crm.task.completed.v1',
  'crm.task.deleted.v1',
  'crm.activity.comment_added.v1',
  'crm.pipeline.created.v1',
  'crm.pipeline.updated.v1',
  'crm.pipeline.deleted.v1',
  'crm.import.completed.v1',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** The `subject` of an event: `<plural resource of the API path>/<id>` (`deals/<id>`). */
export const subjectOf = (resource: string, id: string): string => `${resource}/${id}`;
