import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * In-app event consumers (API.md section 12, docs/decisions/0031): `consumer_messages` holds the
 * events on their way to each consumer when RabbitMQ is not configured, and the dead letters;
 * `audit_logs.event_id` makes the audit consumer's entries idempotent (one per event). The
 * retention's index on `events.created_at` becomes a BRIN index (one B-tree less to maintain on
 * every write that records an event).
 */
export class EventConsumers1796600000000 implements MigrationInterface {
  name = 'EventConsumers1796600000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "consumer_messages" ("id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "consumer" character varying(100) NOT NULL, "event_id" uuid NOT NULL, "event_seq" bigint NOT NULL, "organization_id" uuid NOT NULL, "type" character varying(100) NOT NULL, "envelope" jsonb NOT NULL, "attempts" integer NOT NULL DEFAULT 0, "available_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_error" text, "dead_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_consumer_messages" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_consumer_messages_consumer_event" ON "consumer_messages" ("consumer", "event_id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_consumer_messages_due" ON "consumer_messages" ("consumer", "available_at") WHERE "dead_at" IS NULL`,
    );
    await queryRunner.query(
      `ALTER TABLE "consumer_messages" ADD CONSTRAINT "fk_consumer_messages_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(`DROP INDEX "idx_events_created"`);
    await queryRunner.query(
      `CREATE INDEX "idx_events_created_brin" ON "events" USING brin ("created_at")`,
    );
    await queryRunner.query(`ALTER TABLE "audit_logs" ADD "event_id" uuid`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_audit_logs_event_id" ON "audit_logs" ("event_id")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "uq_audit_logs_event_id"`);
    await queryRunner.query(`ALTER TABLE "audit_logs" DROP COLUMN "event_id"`);
    await queryRunner.query(`DROP TABLE "consumer_messages"`);
    await queryRunner.query(`DROP INDEX "idx_events_created_brin"`);
    await queryRunner.query(`CREATE INDEX "idx_events_created" ON "events" ("created_at")`);
  }
}
