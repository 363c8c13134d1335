import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  type Relation,
  UpdateDateColumn,
  VersionColumn,
} from 'typeorm';
import { OwnedTenantEntity, TenantScoped } from '../../tenancy/tenant-entity';
import { Company } from '../companies/company.entity';

/**
 * The text contact search matches words against, for a query alias: the stored generated column
 * `search_text` = lower(name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '')),
 * trigram-indexed with organization_id by idx_contacts_search_text_trgm (migration
 * ContactSearch, docs/decisions/0032). Not mapped on the entity: PostgreSQL computes it.
 */
export const contactSearchText = (alias: string): string => `${alias}.search_text`;

@Entity('contacts')
// Written by hand in the migration (expression, partial and operator-class indexes):
@Index('uq_contacts_org_email_ci', { synchronize: false })
@Index('idx_contacts_search_text_trgm', { synchronize: false })
@Index('idx_contacts_org_created', ['organizationId', 'createdAt', 'id'])
@Index('idx_contacts_org_owner_created', ['organizationId', 'ownerId', 'createdAt', 'id'])
@Index('idx_contacts_org_name', ['organizationId', 'name', 'id'])
@Index('idx_contacts_company_created', ['companyId', 'createdAt', 'id'])
@TenantScoped({ owner: 'self', resource: 'contacts', name: 'Contact' })
export class Contact extends OwnedTenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid', nullable: true })
  companyId: string | null;

  // Deleting a company unlinks its contacts (API.md section 11).
  @ManyToOne(() => Company, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'company_id' })
  company?: Relation<Company>;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Column({ type: 'varchar', length: 254, nullable: true })
  email: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  phone: string | null;

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
