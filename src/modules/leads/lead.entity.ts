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
import { Contact } from '../contacts/contact.entity';
import { Deal } from '../deals/deal.entity';
import { LeadStatus } from './lead.enums';

/** The text lead search matches words against (trigram-indexed by idx_leads_search_trgm). */
export const leadSearchText = (alias: string): string =>
  `lower(${alias}.name || ' ' || coalesce(${alias}.email, '') || ' ' || coalesce(${alias}.phone, '') || ' ' || coalesce(${alias}.company_name, ''))`;

@Entity('leads')
@Index('idx_leads_search_trgm', { synchronize: false })
@Index('idx_leads_converted_contact', { synchronize: false })
@Index('idx_leads_converted_deal', { synchronize: false })
@Index('idx_leads_org_created', ['organizationId', 'createdAt', 'id'])
@Index('idx_leads_org_owner_created', ['organizationId', 'ownerId', 'createdAt', 'id'])
@Index('idx_leads_org_status_created', ['organizationId', 'status', 'createdAt', 'id'])
@Index('idx_leads_org_source', ['organizationId', 'source'])
@TenantScoped({ owner: 'self', resource: 'leads', name: 'Lead' })
export class Lead extends OwnedTenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Column({ type: 'varchar', length: 254, nullable: true })
  email: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  phone: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  companyName: string | null;

  @Column({ type: 'varchar', length: 100, nullable: true })
  source: string | null;

  @Column({ type: 'enum', enum: LeadStatus, enumName: 'lead_status', default: LeadStatus.NEW })
  status: LeadStatus;

  @Column({ type: 'text', nullable: true })
  disqualifyReason: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  convertedAt: Date | null;

  @Column({ type: 'uuid', nullable: true })
  convertedContactId: string | null;

  // The lead keeps its history when what it became is deleted later.
  @ManyToOne(() => Contact, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'converted_contact_id' })
  convertedContact?: Relation<Contact>;

  @Column({ type: 'uuid', nullable: true })
  convertedDealId: string | null;

  @ManyToOne(() => Deal, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'converted_deal_id' })
  convertedDeal?: Relation<Deal>;

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
