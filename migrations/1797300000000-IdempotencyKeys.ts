import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotency keys (API.md section 17): one row per (scope, key), claimed with an insert while
 * the first request runs (state in_flight) and holding its answer once completed (status,
 * the headers that matter, the exact body bytes) until expires_at. `scope` is a SHA-256 of the
 * caller and the organization header (not a tenant column: the table is never served as
 * records). idx_..._expires_at serves the retention purge of expired keys.
 */
export class IdempotencyKeys1797300000000 implements MigrationInterface {
  name = 'IdempotencyKeys1797300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "idempotency_keys" ("scope" character(64) NOT NULL, "key" character varying(255) NOT NULL, "fingerprint" character(64) NOT NULL, "state" character varying(16) NOT NULL, "token" uuid NOT NULL, "status" smallint, "headers" jsonb, "body" bytea, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "pk_idempotency_keys" PRIMARY KEY ("scope", "key"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_idempotency_keys_expires_at" ON "idempotency_keys" ("expires_at")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."idx_idempotency_keys_expires_at"`);
    await queryRunner.query(`DROP TABLE "idempotency_keys"`);
  }
}
