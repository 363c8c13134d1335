import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Deal analytics read every deal of the organization: the summary groups them by status and
 * currency (sum, average, recent count), the funnel by stage and status in one pipeline. Both
 * scanned the whole deals table (24,600 pages at 1M deals; docs/query-plans/analytics-*.txt).
 * Indexes holding every column these aggregates read answer them with index-only scans, in
 * group order (7,500 pages for the summary): the funnel's index extends the pipeline/stage
 * index it replaces, the summary's is new. The price is one more index entry per deal insert
 * and per deal update that is not HOT (every update, as updated_at is indexed).
 */
export class AnalyticsIndexes1796400000000 implements MigrationInterface {
  name = 'AnalyticsIndexes1796400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "idx_deals_org_pipeline_stage_status" ON "deals" ("organization_id", "pipeline_id", "stage", "status")`,
    );
    await queryRunner.query(`DROP INDEX "public"."idx_deals_org_pipeline_stage"`);
    await queryRunner.query(
      `CREATE INDEX "idx_deals_org_currency_status" ON "deals" ("organization_id", "currency", "status", "amount", "created_at")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."idx_deals_org_currency_status"`);
    await queryRunner.query(
      `CREATE INDEX "idx_deals_org_pipeline_stage" ON "deals" ("organization_id", "pipeline_id", "stage")`,
    );
    await queryRunner.query(`DROP INDEX "public"."idx_deals_org_pipeline_stage_status"`);
  }
}
