import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { TenantEntity, TenantScoped } from './tenant-entity';

/**
 * An API key (API.md section 16): bound to one organization and one role, acting as the member
 * who created it. Only the SHA-256 of the key is stored; `prefix` (its first characters) lets
 * people tell keys apart.
 */
@Entity('api_keys')
@TenantScoped({ resource: 'api_keys', name: 'API key', events: false })
@Index('idx_api_keys_org_created', ['organizationId', 'createdAt'])
export class ApiKey extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The creator: the key acts as them. */
  @Column({ type: 'uuid' })
  userId: string;

  @ManyToOne('User', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: object;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'varchar', length: 40 })
  role: string;

  @Column({ type: 'varchar', length: 16 })
  prefix: string;

  @Index('uq_api_keys_hash', { unique: true })
  @Column({ type: 'char', length: 64, select: false })
  keyHash: string;

  @Column({ type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
