import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Contact search at scale (docs/decisions/0032): the searched text becomes a stored generated
 * column, `search_text`, so that a match tests a stored value instead of re-computing
 * `lower(name || ' ' || email || ' ' || phone)` for every candidate row, and the trigram index
 * moves onto it (still led by organization_id, decision 0009). The column keeps the
 * SearchStatistics migration's 1,000 histogram entries (the planner estimates fragments from
 * them).
 */
const SEARCH_TEXT = `lower(name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, ''))`;

export class ContactSearch1796700000000 implements MigrationInterface {
  name = 'ContactSearch1796700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "contacts" ADD "search_text" text GENERATED ALWAYS AS (${SEARCH_TEXT}) STORED NOT NULL`,
    );
    await queryRunner.query(`DROP INDEX "idx_contacts_search_trgm"`);
    await queryRunner.query(
      `CREATE INDEX "idx_contacts_search_text_trgm" ON "contacts" USING gin ("organization_id", "search_text" gin_trgm_ops)`,
    );
    await queryRunner.query(
      `ALTER TABLE "contacts" ALTER COLUMN "search_text" SET STATISTICS 1000`,
    );
    await queryRunner.query(`ANALYZE "contacts"`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "idx_contacts_search_text_trgm"`);
    await queryRunner.query(`ALTER TABLE "contacts" DROP COLUMN "search_text"`);
    await queryRunner.query(
      `CREATE INDEX "idx_contacts_search_trgm" ON "contacts" USING gin ("organization_id", (${SEARCH_TEXT}) gin_trgm_ops)`,
    );
    await queryRunner.query(
      `ALTER INDEX "idx_contacts_search_trgm" ALTER COLUMN 2 SET STATISTICS 1000`,
    );
    await queryRunner.query(`ANALYZE "contacts"`);
  }
}
