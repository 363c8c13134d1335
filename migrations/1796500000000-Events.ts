import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Domain events (API.md section 12): the transactional outbox and the event log in one
 * append-only table. `seq` (identity) orders an organization's events by commit; the partial
 * index lists what the relay has not published yet, in order, and stays small.
 */
export class Events1796500000000 implements MigrationInterface {
  name = 'Events1796500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "events" ("organization_id" uuid NOT NULL, "seq" bigint GENERATED ALWAYS AS IDENTITY NOT NULL, "id" uuid NOT NULL, "type" character varying(100) NOT NULL, "subject" character varying(200) NOT NULL, "envelope" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "published_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "pk_events" PRIMARY KEY ("seq"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_events_id" ON "events" ("id")`);
    await queryRunner.query(
      `CREATE INDEX "idx_events_org_seq" ON "events" ("organization_id", "seq", "id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_events_org_subject_seq" ON "events" ("organization_id", "subject", "seq")`,
    );
    await queryRunner.query(`CREATE INDEX "idx_events_created" ON "events" ("created_at")`);
    await queryRunner.query(
      `CREATE INDEX "idx_events_unpublished" ON "events" ("seq") WHERE "published_at" IS NULL`,
    );
    await queryRunner.query(
      `ALTER TABLE "events" ADD CONSTRAINT "fk_events_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "events"`);
  }
}
