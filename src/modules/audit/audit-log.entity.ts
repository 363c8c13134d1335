import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { Organization } from '../../tenancy/organization.entity';
import { User } from '../users/user.entity';

@Entity('audit_logs')
// An organization's audit trail, newest first.
@Index('idx_audit_logs_org_created', ['organizationId', 'createdAt'])
// A user's security history (logins, refresh reuse), newest first.
@Index('idx_audit_logs_actor_created', ['actorUserId', 'createdAt'])
// Entries written by the audit consumer: one per domain event, however often it arrives.
@Index('uq_audit_logs_event_id', ['eventId'], { unique: true })
export class AuditLog {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Null for events without a known user (a failed login for an unknown email). */
  @Column({ type: 'uuid', nullable: true })
  actorUserId: string | null;

  // The trail outlives the user or organization it mentions: the reference is cleared, the row kept.
  @ManyToOne(() => User, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'actor_user_id' })
  actor?: User;

  @Column({ type: 'uuid', nullable: true })
  organizationId: string | null;

  @ManyToOne(() => Organization, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @Column({ type: 'varchar', length: 64 })
  action: string;

  @Column({ type: 'varchar', length: 64, nullable: true })
  targetType: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  targetId: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  ip: string | null;

  @Column({ type: 'varchar', length: 512, nullable: true })
  userAgent: string | null;

  @Column({ type: 'varchar', length: 128, nullable: true })
  requestId: string | null;

  @Column({ type: 'jsonb', default: () => `'{}'` })
  details: Record<string, unknown>;

  /** The domain event an entry was written from (the audit consumer), else null. */
  @Column({ type: 'uuid', nullable: true })
  eventId: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
