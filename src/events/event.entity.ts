import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { TenantEntity, TenantScoped } from '../tenancy/tenant-entity';

/**
 * The outbox and the event log in one append-only table (API.md section 12): a row per domain
 * event, written in the transaction of the change it records. `seq` orders the events of an
 * organization by commit (the recorder serializes an organization's event writes until commit,
 * docs/decisions/0029); `publishedAt` is set once RabbitMQ confirmed it.
 */
@Entity('events')
@TenantScoped({ resource: 'events', name: 'Event' })
// GET /events/{id}
@Index('uq_events_id', ['id'], { unique: true })
// GET /events: an organization's events, newest first (keyset on seq); by subject.
@Index('idx_events_org_seq', ['organizationId', 'seq', 'id'])
@Index('idx_events_org_subject_seq', ['organizationId', 'subject', 'seq'])
// Retention: the events older than a time (BRIN, written in a migration: the table is
// append-only, so creation time follows the physical order; tiny and nearly free to maintain).
@Index('idx_events_created_brin', { synchronize: false })
// The relay: what is not published yet, in order (partial index, written in the migration).
@Index('idx_events_unpublished', { synchronize: false })
export class EventRecord extends TenantEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  seq: string;

  @Column({ type: 'uuid' })
  id: string;

  @Column({ type: 'varchar', length: 100 })
  type: string;

  @Column({ type: 'varchar', length: 200 })
  subject: string;

  /** The CloudEvents 1.0 envelope, as published and as GET /events/{id} answers it. */
  @Column({ type: 'jsonb' })
  envelope: object;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  publishedAt: Date | null;
}
