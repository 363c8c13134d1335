import { Column, Entity, JoinColumn, OneToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/**
 * A user's notification preferences (API.md section 14), the same in every organization: per
 * channel, a map of kind to on/off. A user without a row has the defaults; kinds missing from a
 * stored map (added after the user saved theirs) take their default too.
 */
@Entity('notification_preferences')
export class NotificationPreference {
  @PrimaryColumn({ type: 'uuid' })
  userId: string;

  @OneToOne('User', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: object;

  @Column({ type: 'jsonb' })
  email: Record<string, boolean>;

  @Column({ type: 'jsonb' })
  inApp: Record<string, boolean>;

  @Column({ type: 'jsonb' })
  sms: Record<string, boolean>;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
