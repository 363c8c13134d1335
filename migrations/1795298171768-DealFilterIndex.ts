import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The deals list filtered by status and an amount range (the benchmark's hot filter): its total
 * counted 115,000 amount-index entries and dropped the other statuses from the heap
 * (docs/query-plans/deals-filter.txt). (organization_id, status, amount) answers both the page
 * and its count from one index range.
 */

export class DealFilterIndex1795298171768 implements MigrationInterface {
  name = 'DealFilterIndex1795298171768';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "idx_deals_org_status_amount" ON "deals"  ("organization_id", "status", "amount") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."idx_deals_org_status_amount"`);
  }
}
