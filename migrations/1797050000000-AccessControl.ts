import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Custom roles and API keys (API.md section 16, docs/decisions/0041):
 * - organization_members.role becomes text (a built-in role or an organization's custom role
 *   key) instead of the member_role enum; the check keeps keys well-formed, the roles endpoints
 *   keep them existing.
 * - roles: an organization's custom roles with their permissions (jsonb), unique per key.
 * - api_keys: SHA-256 of each key (unique: the lookup of every key-authenticated request), the
 *   creator it acts as (removed with the user), its role, expiry, last use and revocation;
 *   idx_api_keys_org_created serves the list.
 */
export class AccessControl1797050000000 implements MigrationInterface {
  name = 'AccessControl1797050000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "organization_members" ALTER COLUMN "role" TYPE character varying(40) USING "role"::text`,
    );
    await queryRunner.query(`DROP TYPE "public"."member_role"`);
    await queryRunner.query(
      `ALTER TABLE "organization_members" ADD CONSTRAINT "chk_organization_members_role" CHECK ("role" ~ '^[a-z][a-z0-9_]{1,39}$')`,
    );

    await queryRunner.query(
      `CREATE TABLE "roles" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "key" character varying(40) NOT NULL, "name" character varying(100) NOT NULL, "permissions" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "uq_roles_org_key" UNIQUE ("organization_id", "key"), CONSTRAINT "pk_roles" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `ALTER TABLE "roles" ADD CONSTRAINT "fk_roles_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );

    await queryRunner.query(
      `CREATE TABLE "api_keys" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "user_id" uuid NOT NULL, "name" character varying(100) NOT NULL, "role" character varying(40) NOT NULL, "prefix" character varying(16) NOT NULL, "key_hash" character(64) NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE, "last_used_at" TIMESTAMP WITH TIME ZONE, "revoked_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_api_keys" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_api_keys_hash" ON "api_keys" ("key_hash")`);
    await queryRunner.query(
      `CREATE INDEX "idx_api_keys_org_created" ON "api_keys" ("organization_id", "created_at")`,
    );
    await queryRunner.query(
      `ALTER TABLE "api_keys" ADD CONSTRAINT "fk_api_keys_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "api_keys" ADD CONSTRAINT "fk_api_keys_user_id" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "api_keys"`);
    await queryRunner.query(`DROP TABLE "roles"`);
    await queryRunner.query(
      `ALTER TABLE "organization_members" DROP CONSTRAINT "chk_organization_members_role"`,
    );
    await queryRunner.query(
      `CREATE TYPE "public"."member_role" AS ENUM('owner', 'admin', 'manager', 'member')`,
    );
    await queryRunner.query(
      `ALTER TABLE "organization_members" ALTER COLUMN "role" TYPE "public"."member_role" USING "role"::"public"."member_role"`,
    );
  }
}
