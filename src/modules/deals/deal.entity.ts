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
import { Pipeline } from '../pipelines/pipeline.entity';
import { DealStatus } from './deal.enums';

@Entity('deals')
@Index('idx_deals_org_created', ['organizationId', 'createdAt', 'id'])
@Index('idx_deals_org_owner_created', ['organizationId', 'ownerId', 'createdAt', 'id'])
@Index('idx_deals_org_status_created', ['organizationId', 'status', 'createdAt', 'id'])
@Index('idx_deals_org_pipeline_stage_status', ['organizationId', 'pipelineId', 'stage', 'status'])
@Index('idx_deals_org_currency_status', [
  'organizationId',
  'currency',
  'status',
  'amount',
  'createdAt',
])
@Index('idx_deals_org_amount', ['organizationId', 'amount', 'id'])
@Index('idx_deals_org_status_amount', ['organizationId', 'status', 'amount'])
@Index('idx_deals_org_updated', ['organizationId', 'updatedAt', 'id'])
@Index('idx_deals_contact', ['contactId'])
@TenantScoped({ owner: 'self', resource: 'deals', name: 'Deal' })
export class Deal extends OwnedTenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  contactId: string;

  // A contact with deals cannot be deleted (API.md: 409 CONTACT_HAS_DEALS; the FK enforces it too).
  @ManyToOne(() => Contact, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'contact_id' })
  contact?: Relation<Contact>;

  @Column({ type: 'varchar', length: 200 })
  title: string;

  /** numeric(14,2), read as a string ("1500.00"): money never passes through a float. */
  @Column({ type: 'numeric', precision: 14, scale: 2, default: 0 })
  amount: string;

  @Column({ type: 'char', length: 3 })
  currency: string;

  @Column({ type: 'enum', enum: DealStatus, enumName: 'deal_status', default: DealStatus.NEW })
  status: DealStatus;

  @Column({ type: 'uuid' })
  pipelineId: string;

  // A pipeline with deals cannot be deleted (API.md: 409 PIPELINE_IN_USE; the FK enforces it too).
  @ManyToOne(() => Pipeline, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'pipeline_id' })
  pipeline?: Relation<Pipeline>;

  /** A stage key of the deal's pipeline. */
  @Column({ type: 'varchar', length: 40 })
  stage: string;

  /** Why a lost deal was lost (POST /deals/{id}/lose). */
  @Column({ type: 'text', nullable: true })
  lostReason: string | null;

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
