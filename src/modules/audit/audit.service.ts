import { Injectable } from '@nestjs/common';
import type { RequestMeta } from '../../common/http/request-context';
import { type SystemTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditLog } from './audit-log.entity';

export enum AuditAction {
  USER_REGISTERED = 'user_registered',
  LOGIN_SUCCEEDED = 'login_succeeded',
  LOGIN_FAILED = 'login_failed',
  TOKEN_REFRESHED = 'token_refreshed',
  REFRESH_TOKEN_REUSED = 'refresh_token_reused',
  LOGGED_OUT = 'logged_out',
  ORGANIZATION_CREATED = 'organization_created',
  ORGANIZATION_UPDATED = 'organization_updated',
  MEMBER_ADDED = 'member_added',
  MEMBER_ROLE_CHANGED = 'member_role_changed',
  MEMBER_REMOVED = 'member_removed',
  // Written by the audit consumer from domain events (audit.consumer.ts).
  CONTACT_DELETED = 'contact_deleted',
  COMPANY_DELETED = 'company_deleted',
  LEAD_DELETED = 'lead_deleted',
  DEAL_DELETED = 'deal_deleted',
  TASK_DELETED = 'task_deleted',
  PIPELINE_DELETED = 'pipeline_deleted',
  IMPORT_COMPLETED = 'import_completed',
}

export interface AuditEntry {
  action: AuditAction;
  actorUserId: string | null;
  organizationId?: string | null;
  target?: { type: string; id: string };
  details?: Record<string, unknown>;
}

/**
 * Where an audit row is written: the transaction of the change it records, so that the row
 * commits (or not) with it. The audit trail is not a tenant table (it outlives organizations
 * and users, and records events without one), so it is reached through the transaction's
 * non-tenant side: a SystemTx (tenant work that is audited runs in `uow.system` and enters its
 * organization with `tx.tenant(actor)`).
 */
export type AuditTx = Pick<SystemTx, 'repo'>;

/** The audit trail (audit_logs): this module is its only writer. */
@Injectable()
export class AuditService {
  constructor(private readonly uow: UnitOfWork) {}

  /** Writes one row in `tx`. */
  async record(tx: AuditTx, entry: AuditEntry, meta: RequestMeta): Promise<void> {
    await tx.repo(AuditLog).insert({
      action: entry.action,
      actorUserId: entry.actorUserId,
      organizationId: entry.organizationId ?? null,
      targetType: entry.target?.type ?? null,
      targetId: entry.target?.id ?? null,
      ip: meta.ip,
      userAgent: meta.userAgent,
      requestId: meta.requestId,
      // jsonb: TypeORM's deep-partial typing cannot express arbitrary JSON.
      details: (entry.details ?? {}) as object,
    });
  }

  /**
   * Writes the entry of a domain event on its own, once: a second delivery of the same event
   * (at least once) finds its row and writes nothing. `at` is when the change happened.
   */
  async recordFromEvent(
    eventId: string,
    at: Date,
    entry: AuditEntry,
    requestId: string | null,
  ): Promise<void> {
    await this.uow.system((tx) =>
      tx
        .repo(AuditLog)
        .createQueryBuilder()
        .insert()
        .values({
          eventId,
          createdAt: at,
          action: entry.action,
          actorUserId: entry.actorUserId,
          organizationId: entry.organizationId ?? null,
          targetType: entry.target?.type ?? null,
          targetId: entry.target?.id ?? null,
          requestId,
          details: (entry.details ?? {}) as object,
        })
        .orIgnore()
        .execute(),
    );
  }

  /** Writes one row on its own, for an event that changes nothing else (a failed login). */
  recordAlone(entry: AuditEntry, meta: RequestMeta): Promise<void> {
    return this.uow.system((tx) => this.record(tx, entry, meta));
  }
}
