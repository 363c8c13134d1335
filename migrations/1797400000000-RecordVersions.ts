import { MigrationInterface, QueryRunner } from 'typeorm';

/** The tables whose records carry an ETag (API.md section 17). */
const TABLES = ['contacts', 'companies', 'leads', 'deals', 'tasks', 'pipelines'];

/**
 * Record versions, behind the ETag / If-Match of API.md section 17:
 * - `version integer NOT NULL DEFAULT 1` on contacts, companies, leads, deals, tasks and
 *   pipelines. A constant default is stored in the catalog (PostgreSQL 11+): no table rewrite,
 *   instant on the million-row tables; existing rows read as version 1.
 * - TypeORM increments it (`@VersionColumn`) in its saves and query-builder updates. The
 *   trigger `bump_record_version` covers every other UPDATE of a row (a foreign key's ON DELETE
 *   SET NULL, such as contacts.company_id when their company is deleted; raw SQL): when the
 *   statement left the version as it was, it is incremented. A statement that increments it
 *   itself is left alone, so a change never counts twice.
 */
export class RecordVersions1797400000000 implements MigrationInterface {
  name = 'RecordVersions1797400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE FUNCTION "bump_record_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."version" = OLD."version" THEN
    NEW."version" := OLD."version" + 1;
  END IF;
  RETURN NEW;
END
$$`,
    );
    for (const table of TABLES) {
      await queryRunner.query(`ALTER TABLE "${table}" ADD "version" integer NOT NULL DEFAULT 1`);
      await queryRunner.query(
        `CREATE TRIGGER "trg_${table}_version" BEFORE UPDATE ON "${table}" FOR EACH ROW EXECUTE FUNCTION "bump_record_version"()`,
      );
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of [...TABLES].reverse()) {
      await queryRunner.query(`DROP TRIGGER "trg_${table}_version" ON "${table}"`);
      await queryRunner.query(`ALTER TABLE "${table}" DROP COLUMN "version"`);
    }
    await queryRunner.query(`DROP FUNCTION "bump_record_version"()`);
  }
}
