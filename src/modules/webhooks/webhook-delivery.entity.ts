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
import { Organization } from '../../tenancy/organization.entity';
import { Webhook } from './webhook.entity';

export enum DeliveryStatus {
  PENDING = 'pending',
  SUCCEEDED = 'succeeded',
  FAILED = 'failed',
}

/**
 * One event on its way to one webhook endpoint (API.md section 13): a row with a state machine
 * (`pending -> succeeded | failed`), attempts and the next attempt's time, claimed by the
 * dispatcher of any copy (docs/decisions/0036). The dispatcher works across organizations, like
 * the relay, so this is not a tenant table: clients read it only through their own webhook
 * (found through the unit of work first) and always with its organization in the query.
 */
@Entity('webhook_deliveries')
@Index('uq_webhook_deliveries_webhook_event', ['webhookId', 'eventId'], { unique: true })
@Index('idx_webhook_deliveries_webhook_created', ['webhookId', 'createdAt', 'id'])
// The dispatcher's indexes (partial, written in the migration): an endpoint's pending deliveries
// in order, and by due time.
@Index('idx_webhook_deliveries_due', { synchronize: false })
@Index('idx_webhook_deliveries_pending', { synchronize: false })
export class WebhookDelivery {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The order of writing (ties of `eventSeq`: a ping and an event). */
  @Column({ type: 'bigint', generated: 'identity', generatedIdentity: 'ALWAYS' })
  seq: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @Column({ type: 'uuid' })
  webhookId: string;

  @ManyToOne(() => Webhook, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'webhook_id' })
  webhook?: Webhook;

  @Column({ type: 'uuid' })
  eventId: string;

  /**
   * The order of the deliveries of one endpoint: the event's `seq` (commit order per
   * organization), whichever copy's consumer wrote the delivery first; a ping takes the newest
   * event's.
   */
  @Column({ type: 'bigint' })
  eventSeq: string;

  @Column({ type: 'varchar', length: 100 })
  eventType: string;

  /** The request body: the event's envelope, exactly as sent on every attempt. */
  @Column({ type: 'text' })
  payload: string;

  @Column({ type: 'varchar', length: 10, default: DeliveryStatus.PENDING })
  status: DeliveryStatus;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  /** Attempts after which a failure is final: the retry schedule's length + 1, or one more on redeliver. */
  @Column({ type: 'int' })
  maxAttempts: number;

  @Column({ type: 'int', nullable: true })
  lastStatusCode: number | null;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  /** When the next attempt is due; null once it ended. */
  @Column({ type: 'timestamptz', nullable: true })
  nextAttemptAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}

/** One attempt of a delivery: the delivery log of GET /webhooks/{id}/deliveries/{deliveryId}. */
@Entity('webhook_delivery_attempts')
@Index('idx_webhook_delivery_attempts_delivery', ['deliveryId', 'at'])
export class WebhookDeliveryAttempt {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ type: 'uuid' })
  deliveryId: string;

  @ManyToOne(() => WebhookDelivery, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'delivery_id' })
  delivery?: WebhookDelivery;

  @Column({ type: 'timestamptz' })
  at: Date;

  @Column({ type: 'int', nullable: true })
  statusCode: number | null;

  @Column({ type: 'int' })
  durationMs: number;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  /** At most 2 KB of the answer's body. */
  @Column({ type: 'text', nullable: true })
  responseBodyExcerpt: string | null;
}
