import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
  VersionColumn,
} from 'typeorm';
import { TenantEntity, TenantScoped } from '../../tenancy/tenant-entity';

export interface PipelineStage {
  key: string;
  name: string;
  position: number;
  /** 0..100: the forecast weight of open deals at this stage. */
  probability: number;
}

/** The stages every organization's default pipeline starts with (API.md section 11). */
export const DEFAULT_PIPELINE_STAGES: readonly PipelineStage[] = [
  { key: 'qualification', name: 'Qualification', position: 0, probability: 10 },
  { key: 'proposal', name: 'Proposal', position: 1, probability: 30 },
  { key: 'negotiation', name: 'Negotiation', position: 2, probability: 60 },
  { key: 'closed', name: 'Closed', position: 3, probability: 100 },
];

@Entity('pipelines')
// Written by hand in the migration: one default pipeline per organization (partial unique).
@Index('uq_pipelines_org_default', { synchronize: false })
@Index('idx_pipelines_org_created', ['organizationId', 'createdAt', 'id'])
@TenantScoped({ resource: 'pipelines', name: 'Pipeline' })
export class Pipeline extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Column({ type: 'boolean', default: false })
  isDefault: boolean;

  /**
   * Ordered by position (0, 1, 2...); the last stage is the closing one. Deals refer to a stage
   * by key, so stages live with their pipeline as one document.
   */
  @Column({ type: 'jsonb' })
  stages: PipelineStage[];

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
