import { Injectable } from '@nestjs/common';
import type { RequestMeta } from '../../common/http/request-context';
import { CursorCodec } from '../../common/pagination/cursor.codec';
import type { CursorPageDto } from '../../common/pagination/list-result.dto';
import { selectAs } from '../../common/pagination/select-as';
import type { Actor } from '../../tenancy/actor';
import { type SystemTx, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
// Types only: the DTOs import the actions from here.
import type { AuditLogDto, AuditLogListQueryDto } from './dto/audit-log.dto';
import { type AuditActorType, AuditLog } from './audit-log.entity';

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
  // CSV exports (GET /contacts|companies|deals/export): the resource and the filters.
  EXPORT_STARTED = 'export_started',
  // Webhook endpoints (webhooks.service.ts), in the transaction of the change.
  WEBHOOK_CREATED = 'webhook_created',
  WEBHOOK_UPDATED = 'webhook_updated',
  WEBHOOK_DELETED = 'webhook_deleted',
  WEBHOOK_SECRET_ROTATED = 'webhook_secret_rotated',
  // Password reset and account self-service (API.md section 16).
  PASSWORD_RESET_REQUESTED = 'password_reset_requested',
  PASSWORD_RESET = 'password_reset',
  PASSWORD_CHANGED = 'password_changed',
  USER_DELETED = 'user_deleted',
  // API keys and custom roles (API.md section 16).
  API_KEY_CREATED = 'api_key_created',
  API_KEY_REVOKED = 'api_key_revoked',
  ROLE_CREATED = 'role_created',
  ROLE_UPDATED = 'role_updated',
  ROLE_DELETED = 'role_deleted',
}

/** Every action, for the `action` filter of GET /audit-logs. */
export const AUDIT_ACTIONS: readonly AuditAction[] = Object.values(AuditAction);

export interface AuditEntry {
  action: AuditAction;
  /** The user who acted (for an API key: its creator, as whom the key acts). */
  actorUserId: string | null;
  /** The API key the request authenticated with (AuthUser.apiKey.id), if any. */
  actorApiKeyId?: string | null;
  /**
   * Default: `api_key` with an API key, `user` with a user (or a failed login of an unknown
   * email), else `system`.
   */
  actorType?: AuditActorType;
  organizationId?: string | null;
  target?: { type: string; id: string };
  details?: Record<string, unknown>;
}

/** An entry as GET /audit-logs answers it (AuditLogDto). */
export function toAuditLogDto(row: AuditLog): AuditLogDto {
  return {
    id: row.id,
    action: row.action,
    // An API key's actions carry the key as their actor (API.md section 16).
    actorId: row.apiKeyId ?? row.actorUserId,
    actorType: row.actorType,
    organizationId: row.organizationId,
    target: row.targetType && row.targetId ? { type: row.targetType, id: row.targetId } : null,
    details: row.details ?? {},
    ip: row.ip || null,
    userAgent: row.userAgent,
    requestId: row.requestId || null,
    createdAt: new Date(row.createdAt).toISOString(),
  };
}

function actorTypeOf(entry: AuditEntry): AuditActorType {
  if (entry.actorType) return entry.actorType;
  if (entry.actorApiKeyId) return 'api_key';
  return entry.actorUserId || entry.action === AuditAction.LOGIN_FAILED ? 'user' : 'system';
}

/**
 * Where an audit row is written: the transaction of the change it records, so that the row
 * commits (or not) with it. The audit trail is not a tenant table (it outlives organizations
 * and users, and records events without one), so it is reached through the transaction's
 * non-tenant side: a SystemTx (tenant work that is audited runs in `uow.system` and enters its
 * organization with `tx.tenant(actor)`).
 */
export type AuditTx = Pick<SystemTx, 'repo'>;

/** The columns of an entry, as GET /audit-logs reads them. */
const COLUMNS = [
  'id',
  'action',
  'actorUserId',
  'actorType',
  'apiKeyId',
  'organizationId',
  'targetType',
  'targetId',
  'details',
  'ip',
  'userAgent',
  'requestId',
  'createdAt',
] as const;
const SELECTED = selectAs('l', COLUMNS).join(', ');

/** The audit trail (audit_logs): this module is its only writer. */
@Injectable()
export class AuditService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly cursors: CursorCodec,
  ) {}

  /**
   * Tenant work in the actor's organization with audit entries about `targetType` records written
   * in the same transaction (the entry commits with the change, or neither does). The actor of
   * each entry is the request's: its user and, for an API key, the key.
   */
  audited<T>(
    actor: Actor,
    targetType: string,
    work: (
      tx: TenantTx,
      audit: (action: AuditAction, targetId: string, details?: object) => Promise<void>,
    ) => Promise<T>,
  ): Promise<T> {
    return this.uow.system((sys) =>
      work(sys.tenant(actor), (action, targetId, details = {}) =>
        this.record(
          sys,
          {
            action,
            actorUserId: actor.userId || null,
            actorApiKeyId: actor.apiKeyId ?? null,
            organizationId: actor.organizationId,
            target: { type: targetType, id: targetId },
            details: details as Record<string, unknown>,
          },
          actor,
        ),
      ),
    );
  }

  /** Writes one row in `tx`. */
  async record(tx: AuditTx, entry: AuditEntry, meta: RequestMeta): Promise<void> {
    await tx.repo(AuditLog).insert({
      action: entry.action,
      actorUserId: entry.actorUserId,
      actorType: actorTypeOf(entry),
      apiKeyId: entry.actorApiKeyId ?? null,
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
   * Writes the entry of a domain event on its own (a single statement), once: a second delivery
   * of the same event (at least once) finds its row and writes nothing. `at` is when the change
   * happened; `entry.actorUserId` is the event's `actorid` (a user's or an API key's id).
   */
  async recordFromEvent(
    eventId: string,
    at: Date,
    entry: AuditEntry,
    requestId: string | null,
  ): Promise<void> {
    // An event's actor is a user, or an API key (API.md section 16: `actorid` is then the key's
    // id): the entry then names the key and, as its actor user, the key's creator.
    await this.uow
      .systemRead()
      .repo(AuditLog)
      .query(
        `INSERT INTO audit_logs
              (event_id, created_at, action, actor_user_id, actor_type, api_key_id,
               organization_id, target_type, target_id, request_id, details)
       SELECT $1::uuid, $2::timestamptz, $3, coalesce(u.id, k.user_id),
              CASE WHEN k.id IS NOT NULL THEN 'api_key' WHEN a.actor IS NULL THEN 'system' ELSE 'user' END,
              k.id, $5::uuid, $6, $7, $8, $9::jsonb
         FROM (SELECT $4::uuid AS actor) a
         LEFT JOIN users u ON u.id = a.actor
         LEFT JOIN api_keys k ON k.id = a.actor AND u.id IS NULL
       ON CONFLICT (event_id) DO NOTHING`,
        [
          eventId,
          at,
          entry.action,
          entry.actorUserId,
          entry.organizationId ?? null,
          entry.target?.type ?? null,
          entry.target?.id ?? null,
          requestId,
          JSON.stringify(entry.details ?? {}),
        ],
      );
  }

  /**
   * GET /audit-logs (API.md section 16): the entries of the actor's organization, newest first,
   * in keyset pages. An organization's entries are the rows that name it (membership, deletes,
   * imports, exports, webhooks, API keys...) and the auth events (rows of no organization:
   * logins, refreshes, logouts, password changes...) of the users who are its members now.
   *
   * A page costs the same however deep the client has read: the organization's rows are one
   * seek on (organization_id, created_at, id), each member's auth events one seek on the
   * partial (actor_user_id, created_at, id) index, each taking at most a page, merged here in
   * SQL. The trail is not a tenant table (see AuditTx): the organization is put in the query
   * from the actor the guards checked.
   */
  async list(actor: Actor, query: AuditLogListQueryDto): Promise<CursorPageDto<AuditLogDto>> {
    const limit = query.limit ?? 20;
    const filters = {
      action: query.action ?? null,
      actorId: query.actorId ?? null,
      since: query.since ?? null,
      until: query.until ?? null,
    };
    // A cursor serves only the organization and filters it was issued for.
    const scope = JSON.stringify(['audit-logs', actor.organizationId, filters]);
    const after = query.cursor ? this.cursors.decode(scope, query.cursor) : null;
    const params: unknown[] = [
      actor.organizationId,
      limit + 1,
      filters.action,
      filters.actorId,
      filters.since,
      filters.until,
      after?.key ?? null,
      after?.id ?? null,
    ];
    // $3..$8: each condition holds when its parameter is null.
    const conditions = `
      ($3::text IS NULL OR l.action = $3)
      AND ($4::uuid IS NULL OR coalesce(l.api_key_id, l.actor_user_id) = $4)
      AND ($5::timestamptz IS NULL OR l.created_at >= $5)
      AND ($6::timestamptz IS NULL OR l.created_at < $6)
      AND ($7::timestamptz IS NULL OR (l.created_at, l.id) < ($7::timestamptz, $8::uuid))`;
    const rows = await this.uow
      .systemRead()
      .repo(AuditLog)
      .query<(AuditLog & { cursorKey: string })[]>(
        `SELECT a.*, a."createdAt"::text AS "cursorKey" FROM (
           (SELECT ${SELECTED} FROM audit_logs l
             WHERE l.organization_id = $1 AND ${conditions}
             ORDER BY l.created_at DESC, l.id DESC LIMIT $2)
           UNION ALL
           (SELECT x.* FROM organization_members m CROSS JOIN LATERAL (
              SELECT ${SELECTED} FROM audit_logs l
               WHERE l.actor_user_id = m.user_id AND l.organization_id IS NULL AND ${conditions}
               ORDER BY l.created_at DESC, l.id DESC LIMIT $2) x
             WHERE m.organization_id = $1)
         ) a
         ORDER BY a."createdAt" DESC, a.id DESC LIMIT $2`,
        params,
      );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor =
      rows.length > limit && last
        ? this.cursors.encode(scope, { key: last.cursorKey, id: last.id })
        : null;
    return { items: page.map((row) => toAuditLogDto(row)), nextCursor };
  }

  /** Writes one row on its own, for an event that changes nothing else (a failed login). */
  recordAlone(entry: AuditEntry, meta: RequestMeta): Promise<void> {
    return this.uow.system((tx) => this.record(tx, entry, meta));
  }
}
