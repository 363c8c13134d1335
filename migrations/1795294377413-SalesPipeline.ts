import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sales pipeline: companies, leads, pipelines; contacts gain company_id, deals gain
 * pipeline_id and lost_reason, and deal stages become keys of the deal's pipeline.
 * Generated, reviewed and completed by hand (marked "by hand"). ON DELETE: a company's contacts
 * are unlinked (SET NULL); a pipeline with deals cannot be deleted (RESTRICT); a converted lead
 * keeps its record when the contact or deal it became is deleted (SET NULL).
 */

export class SalesPipeline1795294377413 implements MigrationInterface {
  name = 'SalesPipeline1795294377413';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Replaced by idx_deals_org_pipeline_stage (stages are per pipeline now).
    await queryRunner.query(`DROP INDEX "public"."idx_deals_org_stage"`);
    await queryRunner.query(
      `CREATE TABLE "companies" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "owner_id" uuid NOT NULL, "name" character varying(200) NOT NULL, "domain" character varying(253), "industry" character varying(100), "phone" character varying(32), "address" jsonb, "social_profiles" jsonb NOT NULL DEFAULT '[]', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_companies" PRIMARY KEY ("id"))`,
    );
    // industry filter.
    await queryRunner.query(
      `CREATE INDEX "idx_companies_org_industry" ON "companies"  ("organization_id", "industry") `,
    );
    // Company list ordered by name.
    await queryRunner.query(
      `CREATE INDEX "idx_companies_org_name" ON "companies"  ("organization_id", "name", "id") `,
    );
    // A member's own companies (visibility), newest first; ownerId filter.
    await queryRunner.query(
      `CREATE INDEX "idx_companies_org_owner_created" ON "companies"  ("organization_id", "owner_id", "created_at", "id") `,
    );
    // Company list, default order (createdAt desc, id).
    await queryRunner.query(
      `CREATE INDEX "idx_companies_org_created" ON "companies"  ("organization_id", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "pipelines" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "name" character varying(200) NOT NULL, "is_default" boolean NOT NULL DEFAULT false, "stages" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_pipelines" PRIMARY KEY ("id"))`,
    );
    // An organization's pipelines, in creation order.
    await queryRunner.query(
      `CREATE INDEX "idx_pipelines_org_created" ON "pipelines"  ("organization_id", "created_at", "id") `,
    );
    await queryRunner.query(
      `CREATE TYPE "public"."lead_status" AS ENUM('new', 'contacted', 'qualified', 'disqualified', 'converted')`,
    );
    await queryRunner.query(
      `CREATE TABLE "leads" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "owner_id" uuid NOT NULL, "name" character varying(200) NOT NULL, "email" character varying(254), "phone" character varying(32), "company_name" character varying(200), "source" character varying(100), "status" "public"."lead_status" NOT NULL DEFAULT 'new', "disqualify_reason" text, "converted_at" TIMESTAMP WITH TIME ZONE, "converted_contact_id" uuid, "converted_deal_id" uuid, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_leads" PRIMARY KEY ("id"))`,
    );
    // source filter.
    await queryRunner.query(
      `CREATE INDEX "idx_leads_org_source" ON "leads"  ("organization_id", "source") `,
    );
    // status filter in default order.
    await queryRunner.query(
      `CREATE INDEX "idx_leads_org_status_created" ON "leads"  ("organization_id", "status", "created_at", "id") `,
    );
    // A member's own leads (visibility), newest first; ownerId filter.
    await queryRunner.query(
      `CREATE INDEX "idx_leads_org_owner_created" ON "leads"  ("organization_id", "owner_id", "created_at", "id") `,
    );
    // Lead list, default order (createdAt desc, id).
    await queryRunner.query(
      `CREATE INDEX "idx_leads_org_created" ON "leads"  ("organization_id", "created_at", "id") `,
    );
    await queryRunner.query(`ALTER TABLE "contacts" ADD "company_id" uuid`);
    // By hand (the generated version dropped deals.stage and added a NOT NULL column to a
    // table with rows): every existing organization gets its default pipeline, every
    // existing deal joins it, and stage keeps its value as a stage key.
    await queryRunner.query(`ALTER TABLE "deals" ADD "pipeline_id" uuid`);
    await queryRunner.query(`ALTER TABLE "deals" ADD "lost_reason" text`);
    await queryRunner.query(
      `INSERT INTO "pipelines" ("organization_id", "name", "is_default", "stages") SELECT "id", 'Default pipeline', true, '[{"key": "qualification", "name": "Qualification", "position": 0, "probability": 10}, {"key": "proposal", "name": "Proposal", "position": 1, "probability": 30}, {"key": "negotiation", "name": "Negotiation", "position": 2, "probability": 60}, {"key": "closed", "name": "Closed", "position": 3, "probability": 100}]'::jsonb FROM "organizations"`,
    );
    await queryRunner.query(
      `UPDATE "deals" d SET "pipeline_id" = p."id" FROM "pipelines" p WHERE p."organization_id" = d."organization_id" AND p."is_default"`,
    );
    await queryRunner.query(`ALTER TABLE "deals" ALTER COLUMN "pipeline_id" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "deals" ALTER COLUMN "stage" DROP DEFAULT`);
    await queryRunner.query(
      `ALTER TABLE "deals" ALTER COLUMN "stage" TYPE character varying(40) USING "stage"::text`,
    );
    await queryRunner.query(`DROP TYPE "public"."deal_stage"`);
    // A company's contacts (GET /companies/{id}/contacts) and unlinking them on delete.
    await queryRunner.query(
      `CREATE INDEX "idx_contacts_company_created" ON "contacts"  ("company_id", "created_at", "id") `,
    );
    // Deals of a pipeline per stage: funnel, forecast, stage-in-use and pipeline-in-use checks.
    await queryRunner.query(
      `CREATE INDEX "idx_deals_org_pipeline_stage" ON "deals"  ("organization_id", "pipeline_id", "stage") `,
    );
    await queryRunner.query(
      `ALTER TABLE "companies" ADD CONSTRAINT "fk_companies_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "companies" ADD CONSTRAINT "fk_companies_owner_id" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "contacts" ADD CONSTRAINT "fk_contacts_company_id" FOREIGN KEY ("company_id") REFERENCES "companies"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "pipelines" ADD CONSTRAINT "fk_pipelines_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "deals" ADD CONSTRAINT "fk_deals_pipeline_id" FOREIGN KEY ("pipeline_id") REFERENCES "pipelines"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "leads" ADD CONSTRAINT "fk_leads_organization_id" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "leads" ADD CONSTRAINT "fk_leads_owner_id" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "leads" ADD CONSTRAINT "fk_leads_converted_contact_id" FOREIGN KEY ("converted_contact_id") REFERENCES "contacts"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "leads" ADD CONSTRAINT "fk_leads_converted_deal_id" FOREIGN KEY ("converted_deal_id") REFERENCES "deals"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
    );

    // By hand. Company domain unique per organization (stored lower-cased; COMPANY_DOMAIN_TAKEN).
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_companies_org_domain" ON "companies" ("organization_id", "domain") WHERE domain IS NOT NULL`,
    );
    // By hand. Company by name, case-insensitive (lead conversion and import reuse companies by name).
    await queryRunner.query(
      `CREATE INDEX "idx_companies_org_name_ci" ON "companies" ("organization_id", lower(name))`,
    );
    // By hand. Company search by word fragments (as contacts).
    await queryRunner.query(
      `CREATE INDEX "idx_companies_search_trgm" ON "companies" USING gin ("organization_id", (lower(name || ' ' || coalesce(domain, ''))) gin_trgm_ops)`,
    );
    // By hand. Lead search by word fragments (as contacts).
    await queryRunner.query(
      `CREATE INDEX "idx_leads_search_trgm" ON "leads" USING gin ("organization_id", (lower(name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(company_name, ''))) gin_trgm_ops)`,
    );
    // By hand. Leads pointing at a deleted contact or deal (the SET NULL actions).
    await queryRunner.query(
      `CREATE INDEX "idx_leads_converted_contact" ON "leads" ("converted_contact_id") WHERE converted_contact_id IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "idx_leads_converted_deal" ON "leads" ("converted_deal_id") WHERE converted_deal_id IS NOT NULL`,
    );
    // By hand. At most one default pipeline per organization.
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_pipelines_org_default" ON "pipelines" ("organization_id") WHERE is_default`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."uq_pipelines_org_default"`);
    await queryRunner.query(`DROP INDEX "public"."idx_leads_converted_deal"`);
    await queryRunner.query(`DROP INDEX "public"."idx_leads_converted_contact"`);
    await queryRunner.query(`DROP INDEX "public"."idx_leads_search_trgm"`);
    await queryRunner.query(`DROP INDEX "public"."idx_companies_search_trgm"`);
    await queryRunner.query(`DROP INDEX "public"."idx_companies_org_name_ci"`);
    await queryRunner.query(`DROP INDEX "public"."uq_companies_org_domain"`);
    await queryRunner.query(`ALTER TABLE "leads" DROP CONSTRAINT "fk_leads_converted_deal_id"`);
    await queryRunner.query(`ALTER TABLE "leads" DROP CONSTRAINT "fk_leads_converted_contact_id"`);
    await queryRunner.query(`ALTER TABLE "leads" DROP CONSTRAINT "fk_leads_owner_id"`);
    await queryRunner.query(`ALTER TABLE "leads" DROP CONSTRAINT "fk_leads_organization_id"`);
    await queryRunner.query(`ALTER TABLE "deals" DROP CONSTRAINT "fk_deals_pipeline_id"`);
    await queryRunner.query(
      `ALTER TABLE "pipelines" DROP CONSTRAINT "fk_pipelines_organization_id"`,
    );
    await queryRunner.query(`ALTER TABLE "contacts" DROP CONSTRAINT "fk_contacts_company_id"`);
    await queryRunner.query(`ALTER TABLE "companies" DROP CONSTRAINT "fk_companies_owner_id"`);
    await queryRunner.query(
      `ALTER TABLE "companies" DROP CONSTRAINT "fk_companies_organization_id"`,
    );
    await queryRunner.query(`DROP INDEX "public"."idx_deals_org_pipeline_stage"`);
    await queryRunner.query(`DROP INDEX "public"."idx_contacts_company_created"`);
    // By hand: stages of custom pipelines have no enum value; they fall back to qualification.
    await queryRunner.query(
      `CREATE TYPE "public"."deal_stage" AS ENUM('qualification', 'proposal', 'negotiation', 'closed')`,
    );
    await queryRunner.query(
      `ALTER TABLE "deals" ALTER COLUMN "stage" TYPE "public"."deal_stage" USING (CASE WHEN "stage" IN ('qualification', 'proposal', 'negotiation', 'closed') THEN "stage" ELSE 'qualification' END)::"public"."deal_stage"`,
    );
    await queryRunner.query(`ALTER TABLE "deals" ALTER COLUMN "stage" SET DEFAULT 'qualification'`);
    await queryRunner.query(`ALTER TABLE "deals" DROP COLUMN "lost_reason"`);
    await queryRunner.query(`ALTER TABLE "deals" DROP COLUMN "pipeline_id"`);
    await queryRunner.query(`ALTER TABLE "contacts" DROP COLUMN "company_id"`);
    await queryRunner.query(`DROP INDEX "public"."idx_leads_org_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_leads_org_owner_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_leads_org_status_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_leads_org_source"`);
    await queryRunner.query(`DROP TABLE "leads"`);
    await queryRunner.query(`DROP TYPE "public"."lead_status"`);
    await queryRunner.query(`DROP INDEX "public"."idx_pipelines_org_created"`);
    await queryRunner.query(`DROP TABLE "pipelines"`);
    await queryRunner.query(`DROP INDEX "public"."idx_companies_org_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_companies_org_owner_created"`);
    await queryRunner.query(`DROP INDEX "public"."idx_companies_org_name"`);
    await queryRunner.query(`DROP INDEX "public"."idx_companies_org_industry"`);
    await queryRunner.query(`DROP TABLE "companies"`);
    await queryRunner.query(
      `CREATE INDEX "idx_deals_org_stage" ON "deals" USING btree ("organization_id", "stage") `,
    );
  }
}
