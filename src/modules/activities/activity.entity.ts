import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  type Relation,
} from 'typeorm';
import { Deal } from '../deals/deal.entity';
import { TenantEntity, TenantScoped } from '../../tenancy/tenant-entity';
import { User } from '../users/user.entity';
import { ActivityType } from './activity.enums';

@Entity('activities')
// The timeline: one deal's activities, newest first (ties by id).
@Index('idx_activities_deal_created', ['dealId', 'createdAt', 'id'])
@TenantScoped({ owner: { via: 'deal' }, resource: 'activities', name: 'Activity' })
export class Activity extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  dealId: string;

  // Deleting a deal removes its timeline (API.md section 6).
  @ManyToOne(() => Deal, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'deal_id' })
  deal?: Relation<Deal>;

  /** Null for system entries. */
  @Column({ type: 'uuid', nullable: true })
  authorId: string | null;

  @ManyToOne(() => User, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'author_id' })
  author?: Relation<User>;

  @Column({ type: 'enum', enum: ActivityType, enumName: 'activity_type' })
  type: ActivityType;

  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
