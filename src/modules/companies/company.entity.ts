import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
  VersionColumn,
} from 'typeorm';
import { OwnedTenantEntity, TenantScoped } from '../../tenancy/tenant-entity';

export interface Address {
  line1?: string;
  line2?: string;
  city?: string;
  region?: string;
  postalCode?: string;
  /** ISO-3166 alpha-2. */
  country?: string;
}

export const SOCIAL_NETWORKS = ['linkedin', 'twitter', 'facebook', 'github', 'website'] as const;
export type SocialNetwork = (typeof SOCIAL_NETWORKS)[number];

export interface SocialProfile {
  network: SocialNetwork;
  url: string;
}

/** The text company search matches words against (trigram-indexed by idx_companies_search_trgm). */
export const companySearchText = (alias: string): string =>
  `lower(${alias}.name || ' ' || coalesce(${alias}.domain, ''))`;

@Entity('companies')
// Written by hand in the migration (partial / expression / operator-class indexes):
@Index('uq_companies_org_domain', { synchronize: false })
@Index('idx_companies_org_name_ci', { synchronize: false })
@Index('idx_companies_search_trgm', { synchronize: false })
@Index('idx_companies_org_created', ['organizationId', 'createdAt', 'id'])
@Index('idx_companies_org_owner_created', ['organizationId', 'ownerId', 'createdAt', 'id'])
@Index('idx_companies_org_name', ['organizationId', 'name', 'id'])
@Index('idx_companies_org_industry', ['organizationId', 'industry'])
@TenantScoped({ owner: 'self', resource: 'companies', name: 'Company' })
export class Company extends OwnedTenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  /** Lower-cased; unique per organization. */
  @Column({ type: 'varchar', length: 253, nullable: true })
  domain: string | null;

  @Column({ type: 'varchar', length: 100, nullable: true })
  industry: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  phone: string | null;

  @Column({ type: 'jsonb', nullable: true })
  address: Address | null;

  @Column({ type: 'jsonb', default: () => `'[]'` })
  socialProfiles: SocialProfile[];

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;

  /**
   * Incremented by every change of the row (TypeORM's saves and query-builder updates; a
   * database trigger for any other UPDATE): the record's ETag (API.md section 17).
   */
  @VersionColumn({ type: 'integer', default: 1 })
  version: number;
}
