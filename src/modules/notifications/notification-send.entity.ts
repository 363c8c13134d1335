import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

export enum SendStatus {
  PENDING = 'pending',
  SENT = 'sent',
  FAILED = 'failed',
}

/**
 * One email or text message to send (API.md section 14), rendered when it was written (in the
 * transaction of the notification it belongs to). Workers in every app copy claim due rows with
 * FOR UPDATE SKIP LOCKED under a lease (`leasedUntil`), send outside any transaction, then mark
 * them sent, or count the attempt and set the next one (backoff), `failed` after
 * NOTIFY_MAX_ATTEMPTS. Rows, not timers: they survive restarts and are shared by the copies.
 * Infrastructure across organizations (like consumer_messages), reached through `uow.system`;
 * nothing here reaches a client. `organizationId` is null for sends outside any organization
 * (password reset).
 */
@Entity('notification_sends')
// Exactly once per occasion, recipient and channel, however often the event is delivered.
@Index('uq_notification_sends_user_channel_dedupe', ['userId', 'channel', 'dedupeKey'], {
  unique: true,
})
// Workers: a channel's due rows (partial index on pending rows, written in the migration).
@Index('idx_notification_sends_due', { synchronize: false })
export class NotificationSend {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid', nullable: true })
  organizationId: string | null;

  @ManyToOne('Organization', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: object;

  @Column({ type: 'uuid' })
  userId: string;

  @ManyToOne('User', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: object;

  @Column({ type: 'varchar', length: 40 })
  kind: string;

  /** `email` or `sms`. */
  @Column({ type: 'varchar', length: 10 })
  channel: string;

  @Column({ type: 'varchar', length: 300 })
  dedupeKey: string;

  /** The address or phone number, as it was when the notification was written. */
  @Column({ type: 'varchar', length: 254 })
  recipient: string;

  /** The email's subject; null for SMS. */
  @Column({ type: 'text', nullable: true })
  subject: string | null;

  /** The email's HTML body, or the SMS text. */
  @Column({ type: 'text' })
  body: string;

  /** The email's plain-text alternative; null for SMS. */
  @Column({ type: 'text', nullable: true })
  textBody: string | null;

  @Column({ type: 'uuid', nullable: true })
  eventId: string | null;

  @Column({ type: 'varchar', length: 128, nullable: true })
  requestId: string | null;

  @Column({
    type: 'enum',
    enum: SendStatus,
    enumName: 'notification_send_status',
    default: SendStatus.PENDING,
  })
  status: SendStatus;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt: Date;

  /** Claimed by a worker until then (a copy that died leaves it to the others after). */
  @Column({ type: 'timestamptz', nullable: true })
  leasedUntil: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  sentAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
