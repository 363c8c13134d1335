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

/**
 * An event on its way to one in-app consumer when RabbitMQ is not configured (API.md section 12,
 * docs/decisions/0031): the relay writes one row per matching consumer, a worker claims due rows,
 * deletes them once handled, or sets the next attempt; after EVENT_MAX_ATTEMPTS the row stays as
 * a dead letter (`deadAt`, `lastError`) until `npm run events:dlq -- requeue`. Infrastructure
 * across organizations (like the relay), so not a tenant table: nothing here reaches a client.
 */
@Entity('consumer_messages')
// One message per consumer and event: a second dispatch of the same event is a no-op.
@Index('uq_consumer_messages_consumer_event', ['consumer', 'eventId'], { unique: true })
// Workers: a consumer's due messages (partial index, written in the migration).
@Index('idx_consumer_messages_due', { synchronize: false })
export class ConsumerMessage {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ type: 'varchar', length: 100 })
  consumer: string;

  @Column({ type: 'uuid' })
  eventId: string;

  @Column({ type: 'bigint' })
  eventSeq: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @Column({ type: 'varchar', length: 100 })
  type: string;

  /** The envelope as the relay read it: a dead letter outlives the event's retention. */
  @Column({ type: 'jsonb' })
  envelope: object;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  availableAt: Date;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  deadAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
