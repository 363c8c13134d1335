import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fragment search (`LIKE '%word%'` on the trigram-indexed search text) is planned from the
 * statistics of the search expression: with PostgreSQL's default of 100 histogram entries a
 * word in 1% of the rows is often estimated at 0.01%, and the planner then fetches and sorts
 * every match instead of walking the list's order until the page is full
 * (docs/query-plans/contacts-search.txt). Ten times as many entries make the estimate follow
 * the word's real frequency. ANALYZE so that it holds at once, not after the next autovacuum.
 */
const SEARCH_INDEXES = {
  contacts: 'idx_contacts_search_trgm',
  companies: 'idx_companies_search_trgm',
  leads: 'idx_leads_search_trgm',
} as const;

export class SearchStatistics1796233021709 implements MigrationInterface {
  name = 'SearchStatistics1796233021709';

  public async up(queryRunner: QueryRunner): Promise<void> {
    for (const [table, index] of Object.entries(SEARCH_INDEXES)) {
      // Column 2 of each index is the search expression (column 1 is organization_id).
      await queryRunner.query(`ALTER INDEX "${index}" ALTER COLUMN 2 SET STATISTICS 1000`);
      await queryRunner.query(`ANALYZE "${table}"`);
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const index of Object.values(SEARCH_INDEXES)) {
      await queryRunner.query(`ALTER INDEX "${index}" ALTER COLUMN 2 SET STATISTICS -1`);
    }
  }
}
