import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { TenantEntity, TenantScoped } from '../../tenancy/tenant-entity';

/**
 * A webhook endpoint of an organization (API.md section 13). Its writes record no domain event:
 * endpoints are integration settings, not CRM records, and the catalog of section 12 has no type
 * for them.
 */
@Entity('webhooks')
@Index('idx_webhooks_org_created', ['organizationId', 'createdAt', 'id'])
// The dispatcher's due lanes (partial, written in the migration).
@Index('idx_webhooks_next_dispatch', { synchronize: false })
@TenantScoped({ resource: 'webhooks', name: 'Webhook', events: false })
export class Webhook extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  url: string;

  /** Event type patterns without `crm.` and the version: `deal.won`, `deal.*`, `*`. */
  @Column({ type: 'text', array: true })
  events: string[];

  @Column({ type: 'varchar', length: 500, nullable: true })
  description: string | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  @Column({ type: 'text', nullable: true })
  disabledReason: string | null;

  /**
   * The signing secret (`whsec_` + base64 of 32 bytes). Kept as is: signing needs it (an HMAC key
   * cannot be stored as a hash); shown to clients only when created or rotated.
   */
  @Column({ type: 'varchar', length: 100 })
  secret: string;

  /** The secret before the last rotation, which keeps signing until `previousSecretExpiresAt`. */
  @Column({ type: 'varchar', length: 100, nullable: true })
  previousSecret: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  previousSecretExpiresAt: Date | null;

  /** Deliveries that ended `failed` since the last success (auto-disable, WEBHOOK_DISABLE_AFTER). */
  @Column({ type: 'int', default: 0 })
  consecutiveFailures: number;

  /** The first failed attempt since the last success (auto-disable after 5 days of failures). */
  @Column({ type: 'timestamptz', nullable: true })
  failingSince: Date | null;

  /**
   * The lane lease: until when a dispatcher sends this endpoint's deliveries (null when none
   * does; a lapsed lease, of a copy that died, is taken over).
   */
  @Column({ type: 'timestamptz', nullable: true })
  dispatchUntil: Date | null;

  /**
   * When this endpoint's lane is due: its earliest due delivery, not before `backoffUntil`; null
   * while nothing waits. Made earlier by whoever writes a due delivery (only then: a busy
   * endpoint's row is not written per event), recomputed when a lane ends. The dispatcher's
   * claim reads only due endpoints (index in the migration).
   */
  @Column({ type: 'timestamptz', nullable: true })
  nextDispatchAt: Date | null;

  /** After a lane ended on a failure: the endpoint is not tried again before then. */
  @Column({ type: 'timestamptz', nullable: true })
  backoffUntil: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
