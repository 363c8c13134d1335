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

/** Who an entry's actor is (API.md section 16). */
export type AuditActorType = 'user' | 'api_key' | 'system';
export const AUDIT_ACTOR_TYPES: readonly AuditActorType[] = ['user', 'api_key', 'system'];

@Entity('audit_logs')
// An organization's audit trail, newest first (GET /audit-logs: keyset on created_at, id).
@Index('idx_audit_logs_org_created', ['organizationId', 'createdAt', 'id'])
// The retention job: entries older than AUDIT_RETENTION_DAYS.
@Index('idx_audit_logs_created', ['createdAt'])
// GET /audit-logs: each member's auth events (no organization), newest first (partial, in the migration).
@Index('idx_audit_logs_actor_auth', { synchronize: false })
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

  /** Who acted: a user, an API key (acting as its creator, `actorUserId`) or the system. */
  @Column({ type: 'varchar', length: 10, default: 'user' })
  actorType: AuditActorType;

  /** The API key the request authenticated with (API.md section 16), else null. */
  @Column({ type: 'uuid', nullable: true })
  apiKeyId: string | null;

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
