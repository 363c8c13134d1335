import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notifications (API.md section 14, docs/decisions/0037):
 * - notifications: in-app notifications, a user's in an organization. idx_..._org_user_created
 *   serves GET /notifications newest first; the partial idx_..._org_user_unread serves
 *   `unread=true` and read-all; uq_..._user_dedupe keeps one per occasion (event) and user, so a
 *   redelivered event inserts nothing. Removed with their organization or user.
 * - notification_templates: an organization's overrides of the shipped templates, one per kind
 *   and channel (the unique constraint also serves the lookups).
 * - notification_preferences: a user's choices per channel and kind (jsonb maps), one row per
 *   user, removed with the user.
 * - notification_sends: the emails and text messages to send, with their state machine
 *   (pending -> sent | failed), attempts, last error, next attempt and lease. Unique per
 *   occasion, user and channel; the partial idx_..._due serves the workers' claim (pending rows
 *   of a channel by next attempt). Removed with their organization (nothing is left to send for
 *   it) or user.
 * - users.phone: for SMS (the phone rules of contacts), nullable.
 */
export class Notifications1796900000000 implements MigrationInterface {
  name = 'Notifications1796900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "users" ADD "phone" character varying(32)`);

    await queryRunner.query(
      `CREATE TABLE "notifications" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "user_id" uuid NOT NULL, "kind" character varying(40) NOT NULL, "title" text NOT NULL, "body" text NOT NULL, "event_id" uuid, "dedupe_key" character varying(300) NOT NULL, "read_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_notifications" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_notifications_org_user_created" ON "notifications" ("organization_id", "user_id", "created_at", "id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_notifications_org_user_unread" ON "notifications" ("organization_id", "user_id", "created_at", "id") WHERE "read_at" IS NULL`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_notifications_user_dedupe" ON "notifications" ("user_id", "dedupe_key")`,
    );
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "fk_notifications_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "fk_notifications_user_id" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );

    await queryRunner.query(
      `CREATE TABLE "notification_templates" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "kind" character varying(40) NOT NULL, "channel" character varying(10) NOT NULL, "subject" text, "body" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "uq_notification_templates_org_kind_channel" UNIQUE ("organization_id", "kind", "channel"), CONSTRAINT "pk_notification_templates" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `ALTER TABLE "notification_templates" ADD CONSTRAINT "fk_notification_templates_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );

    await queryRunner.query(
      `CREATE TABLE "notification_preferences" ("user_id" uuid NOT NULL, "email" jsonb NOT NULL, "in_app" jsonb NOT NULL, "sms" jsonb NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_notification_preferences" PRIMARY KEY ("user_id"))`,
    );
    await queryRunner.query(
      `ALTER TABLE "notification_preferences" ADD CONSTRAINT "fk_notification_preferences_user_id" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );

    await queryRunner.query(
      `CREATE TYPE "public"."notification_send_status" AS ENUM('pending', 'sent', 'failed')`,
    );
    await queryRunner.query(
      `CREATE TABLE "notification_sends" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid, "user_id" uuid NOT NULL, "kind" character varying(40) NOT NULL, "channel" character varying(10) NOT NULL, "dedupe_key" character varying(300) NOT NULL, "recipient" character varying(254) NOT NULL, "subject" text, "body" text NOT NULL, "text_body" text, "event_id" uuid, "request_id" character varying(128), "status" "public"."notification_send_status" NOT NULL DEFAULT 'pending', "attempts" integer NOT NULL DEFAULT 0, "last_error" text, "next_attempt_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "leased_until" TIMESTAMP WITH TIME ZONE, "sent_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_notification_sends" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_notification_sends_user_channel_dedupe" ON "notification_sends" ("user_id", "channel", "dedupe_key")`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_notification_sends_due" ON "notification_sends" ("channel", "next_attempt_at") WHERE "status" = 'pending'`,
    );
    await queryRunner.query(
      `ALTER TABLE "notification_sends" ADD CONSTRAINT "fk_notification_sends_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "notification_sends" ADD CONSTRAINT "fk_notification_sends_user_id" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "notification_sends"`);
    await queryRunner.query(`DROP TYPE "public"."notification_send_status"`);
    await queryRunner.query(`DROP TABLE "notification_preferences"`);
    await queryRunner.query(`DROP TABLE "notification_templates"`);
    await queryRunner.query(`DROP TABLE "notifications"`);
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "phone"`);
  }
}
