import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { RetentionRunner } from '../../events/retention/retention-runner';

const DAY_MS = 86_400_000;
/** Finished webhook deliveries and notifications are kept this long (API.md section 16). */
export const DELIVERY_RETENTION_DAYS = 30;

const daysBefore = (days: number) => (now: Date) => new Date(now.getTime() - days * DAY_MS);
const asOf = (now: Date) => now;

/** The names of the retention jobs registered here (the events' job is `events`). */
export const RETENTION_JOBS = {
  audit: 'audit-logs',
  webhookDeliveries: 'webhook-deliveries',
  notificationSends: 'notification-sends',
  notifications: 'notifications',
  refreshTokens: 'refresh-tokens',
  passwordResetTokens: 'password-reset-tokens',
  idempotencyKeys: 'idempotency-keys',
} as const;

/**
 * The retention jobs of API.md section 16 besides the events' (src/events/event-retention.ts),
 * registered with the RetentionRunner, which runs each in one copy at a time, in batches. Never
 * pending work: deliveries and sends still to attempt, unread in-app notifications and tokens
 * still valid stay.
 * - audit-logs: entries older than AUDIT_RETENTION_DAYS (default 365).
 * - webhook-deliveries: finished (succeeded or failed) deliveries older than 30 days, with their
 *   attempts (ON DELETE CASCADE).
 * - notification-sends: emails and text messages sent or given up, older than 30 days.
 * - notifications: in-app notifications read, older than 30 days (unread ones wait for the user).
 * - refresh-tokens: tokens past their expiry (used and revoked ones included: reuse detection
 *   only matters while a token could still be presented).
 * - password-reset-tokens, idempotency-keys: rows past `expires_at`; tables added by other
 *   features: the jobs skip quietly while a table does not exist (`optional`).
 * The tables belong to other modules; their purge is an operations policy kept in one place.
 */
@Injectable()
export class RetentionJobs implements OnModuleInit {
  constructor(
    private readonly runner: RetentionRunner,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const finished = daysBefore(DELIVERY_RETENTION_DAYS);
    this.runner.register({
      name: RETENTION_JOBS.audit,
      table: 'audit_logs',
      condition: 'created_at < $1',
      cutoff: (now) => daysBefore(this.config.retention.auditDays)(now),
    });
    this.runner.register({
      name: RETENTION_JOBS.webhookDeliveries,
      table: 'webhook_deliveries',
      condition: "created_at < $1 AND status <> 'pending'",
      cutoff: finished,
    });
    this.runner.register({
      name: RETENTION_JOBS.notificationSends,
      table: 'notification_sends',
      condition: "created_at < $1 AND status <> 'pending'",
      cutoff: finished,
    });
    this.runner.register({
      name: RETENTION_JOBS.notifications,
      table: 'notifications',
      condition: 'created_at < $1 AND read_at IS NOT NULL',
      cutoff: finished,
    });
    this.runner.register({
      name: RETENTION_JOBS.refreshTokens,
      table: 'refresh_tokens',
      condition: 'expires_at < $1',
      cutoff: asOf,
    });
    this.runner.register({
      name: RETENTION_JOBS.passwordResetTokens,
      table: 'password_reset_tokens',
      key: 'ctid',
      condition: 'expires_at < $1',
      cutoff: asOf,
      optional: true,
    });
    this.runner.register({
      name: RETENTION_JOBS.idempotencyKeys,
      table: 'idempotency_keys',
      key: 'ctid',
      condition: 'expires_at < $1',
      cutoff: asOf,
      optional: true,
    });
  }
}
