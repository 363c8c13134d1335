import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
} from 'typeorm';
import { User } from '../users/user.entity';

/**
 * A user's account at an identity provider (OpenID Connect `iss` + `sub`), linked at their first
 * single sign-on. Later sign-ins find the user by it, so an email changed at the provider still
 * reaches the same account. Removed with the user.
 */
@Entity('user_identities')
@Unique('uq_user_identities_issuer_subject', ['issuer', 'subject'])
@Index('idx_user_identities_user', ['userId'])
export class UserIdentity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  @Column({ type: 'varchar', length: 500 })
  issuer: string;

  @Column({ type: 'varchar', length: 255 })
  subject: string;

  /** The verified email the provider gave at the last sign-in (lower-cased). */
  @Column({ type: 'varchar', length: 254 })
  email: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz' })
  lastLoginAt: Date;
}
