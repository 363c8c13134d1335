import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A kept Idempotency-Key (API.md section 17): claimed while its first request runs
 * (`in_flight`), then its answer (`completed`) until `expiresAt`. Not a tenant table: its scope
 * is a hash of the caller and the X-Organization-Id value, it is reached only by the
 * idempotency store (raw SQL, outside any business transaction) and never served as a record.
 */
@Entity('idempotency_keys')
@Index('idx_idempotency_keys_expires_at', ['expiresAt'])
export class IdempotencyKey {
  /** SHA-256 (hex) of the caller (user or API key id) and the organization header value. */
  @PrimaryColumn({ type: 'char', length: 64 })
  scope: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  key: string;

  /** SHA-256 (hex) of method, URL and canonical body of the first request. */
  @Column({ type: 'char', length: 64 })
  fingerprint: string;

  @Column({ type: 'varchar', length: 16 })
  state: 'in_flight' | 'completed';

  /** Who holds the claim: only its holder completes or releases it (a takeover changes it). */
  @Column({ type: 'uuid' })
  token: string;

  @Column({ type: 'smallint', nullable: true })
  status: number | null;

  @Column({ type: 'jsonb', nullable: true })
  headers: Record<string, string> | null;

  @Column({ type: 'bytea', nullable: true })
  body: Buffer | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ type: 'timestamptz' })
  expiresAt: Date;
}
