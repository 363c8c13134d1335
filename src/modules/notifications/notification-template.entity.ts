import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { TenantEntity, TenantScoped } from '../../tenancy/tenant-entity';

/**
 * An organization's override of a shipped template (API.md section 14): at most one per kind
 * and channel. Without a row the default of default-templates.ts applies; DELETE removes the
 * row. Settings, not a CRM record: no domain event.
 */
@Entity('notification_templates')
@TenantScoped({ name: 'Notification template', events: false })
@Unique('uq_notification_templates_org_kind_channel', ['organizationId', 'kind', 'channel'])
export class NotificationTemplate extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 40 })
  kind: string;

  @Column({ type: 'varchar', length: 10 })
  channel: string;

  /** The email subject or in-app title; null for SMS. */
  @Column({ type: 'text', nullable: true })
  subject: string | null;

  @Column({ type: 'text' })
  body: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
