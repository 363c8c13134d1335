import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { TenantEntity, TenantScoped } from '../../tenancy/tenant-entity';

/**
 * An in-app notification (API.md section 14): one user's, in one organization. Written by the
 * notifications consumer (or `Notifier.webhookDisabled`) in the transaction that also writes the
 * notification's sends; its writes are no CRM change and record no domain event.
 */
@Entity('notifications')
@TenantScoped({ name: 'Notification', events: false })
// GET /notifications: a user's notifications in an organization, newest first (ties by id).
@Index('idx_notifications_org_user_created', ['organizationId', 'userId', 'createdAt', 'id'])
// GET /notifications?unread=true (partial index, written in the migration).
@Index('idx_notifications_org_user_unread', { synchronize: false })
// At most one notification per occasion (an event, a webhook key) and user: a second delivery
// of the same event inserts nothing (ON CONFLICT DO NOTHING).
@Index('uq_notifications_user_dedupe', ['userId', 'dedupeKey'], { unique: true })
export class Notification extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  userId: string;

  // A user's notifications go with the user.
  @ManyToOne('User', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: object;

  @Column({ type: 'varchar', length: 40 })
  kind: string;

  @Column({ type: 'text' })
  title: string;

  @Column({ type: 'text' })
  body: string;

  /** The domain event it was written for; null for notifications without one (webhook.disabled). */
  @Column({ type: 'uuid', nullable: true })
  eventId: string | null;

  /** What makes it unique per user: `event:<id>`, or `<kind>:<organization>:<key>`. */
  @Column({ type: 'varchar', length: 300 })
  dedupeKey: string;

  @Column({ type: 'timestamptz', nullable: true })
  readAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
