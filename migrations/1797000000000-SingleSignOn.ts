import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Single sign-on with OpenID Connect (API.md section 16):
 * - users.password_hash becomes nullable: a user created by single sign-on has no password
 *   (password login then answers 401 INVALID_CREDENTIALS, like a wrong password).
 * - sso_logins: the sign-ins started and not yet finished (hash of the state, nonce, PKCE code
 *   verifier, where to send the tokens, expiry), so any app copy can finish a flow another copy
 *   started; idx_sso_logins_expires serves the deletion of expired rows.
 * - user_identities: a user's account at an identity provider (issuer + subject, unique), so a
 *   later sign-in finds the user even after an email change at the provider. Removed with the
 *   user.
 */
export class SingleSignOn1797000000000 implements MigrationInterface {
  name = 'SingleSignOn1797000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "users" ALTER COLUMN "password_hash" DROP NOT NULL`);

    await queryRunner.query(
      `CREATE TABLE "sso_logins" ("state_hash" character(64) NOT NULL, "nonce" character varying(128) NOT NULL, "code_verifier" character varying(128) NOT NULL, "redirect_to" text, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_sso_logins" PRIMARY KEY ("state_hash"))`,
    );
    await queryRunner.query(`CREATE INDEX "idx_sso_logins_expires" ON "sso_logins" ("expires_at")`);

    await queryRunner.query(
      `CREATE TABLE "user_identities" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "user_id" uuid NOT NULL, "issuer" character varying(500) NOT NULL, "subject" character varying(255) NOT NULL, "email" character varying(254) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_login_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "uq_user_identities_issuer_subject" UNIQUE ("issuer", "subject"), CONSTRAINT "pk_user_identities" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_user_identities_user" ON "user_identities" ("user_id")`,
    );
    await queryRunner.query(
      `ALTER TABLE "user_identities" ADD CONSTRAINT "fk_user_identities_user_id" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "user_identities"`);
    await queryRunner.query(`DROP TABLE "sso_logins"`);
    // Refused rather than deleting accounts: users without a password must be dealt with first.
    const [{ count }] = (await queryRunner.query(
      `SELECT count(*)::int AS count FROM "users" WHERE "password_hash" IS NULL`,
    )) as { count: number }[];
    if (count > 0) {
      throw new Error(`${count} users have no password (single sign-on): cannot restore NOT NULL`);
    }
    await queryRunner.query(`ALTER TABLE "users" ALTER COLUMN "password_hash" SET NOT NULL`);
  }
}
