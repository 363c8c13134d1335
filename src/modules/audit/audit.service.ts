import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { RequestMeta } from '../../common/http/request-context';
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
}

export interface AuditEntry {
  action: AuditAction;
  actorUserId: string | null;
  organizationId?: string | null;
  target?: { type: string; id: string };
  details?: Record<string, unknown>;
}

@Injectable()
export class AuditService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Writes one row; pass the transaction's manager so the row commits (or not) with the change. */
  async record(
    entry: AuditEntry,
    meta: RequestMeta,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<void> {
    await manager.insert(AuditLog, {
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
}
