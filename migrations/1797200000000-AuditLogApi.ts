import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit log API and the retention jobs (API.md section 16):
 * - audit_logs.actor_type (`user`, `api_key`, `system`) and api_key_id (the API key a request
 *   authenticated with; no foreign key: the trail outlives its keys). Existing entries without
 *   a user are the system's, except failed logins (an anonymous caller, counted as a user).
 * - idx_audit_logs_org_created gains `id`: GET /audit-logs seeks (organization, created_at, id)
 *   newest first; idx_audit_logs_created serves the retention job (entries older than
 *   AUDIT_RETENTION_DAYS, whatever their organization); the partial idx_audit_logs_actor_auth
 *   serves the auth events (no organization) of each member, newest first.
 * - The other purges' indexes, partial on what they may delete: finished webhook deliveries and
 *   notification sends, read in-app notifications, refresh tokens by expiry.
 */
export class AuditLogApi1797200000000 implements MigrationInterface {
  name = 'AuditLogApi1797200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "audit_logs" ADD "actor_type" character varying(10) NOT NULL DEFAULT 'user'`,
    );
    await queryRunner.query(`ALTER TABLE "audit_logs" ADD "api_key_id" uuid`);
    await queryRunner.query(
      `UPDATE "audit_logs" SET "actor_type" = 'system' WHERE "actor_user_id" IS NULL AND "action" <> 'login_failed'`,
    );
    await queryRunner.query(`DROP INDEX "public"."idx_audit_logs_org_created"`);
    await queryRunner.query(
      `CREATE INDEX "idx_audit_logs_org_created" ON "audit_logs" ("organization_id", "created_at", "id")`,
    );
    await queryRunner.query(`CREATE INDEX "idx_audit_logs_created" ON "audit_logs" ("created_at")`);
    await queryRunner.query(
      `CREATE INDEX "idx_webhook_deliveries_finished" ON "webhook_deliveries" ("created_at") WHERE "status" <> 'pending'`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_notification_sends_finished" ON "notification_sends" ("created_at") WHERE "status" <> 'pending'`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_notifications_read" ON "notifications" ("created_at") WHERE "read_at" IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_refresh_tokens_expires" ON "refresh_tokens" ("expires_at")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."idx_refresh_tokens_expires"`);
    await queryRunner.query(`DROP INDEX "public"."idx_notifications_read"`);
    await queryRunner.query(`DROP INDEX "public"."idx_notification_sends_finished"`);
    await queryRunner.query(`DROP INDEX "public"."idx_webhook_deliveries_finished"`);
    await queryRunner.query(`DROP INDEX "public"."idx_audit_logs_actor_auth"`);
    await queryRunner.query(`DROP INDEX "public"."idx_audit_logs_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_audit_logs_org_created"`);
    await queryRunner.query(
      `CREATE INDEX "idx_audit_logs_org_created" ON "audit_logs" ("organization_id", "created_at")`,
    );
    await queryRunner.query(`ALTER TABLE "audit_logs" DROP COLUMN "api_key_id"`);
    await queryRunner.query(`ALTER TABLE "audit_logs" DROP COLUMN "actor_type"`);
  }
}
