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
 * A password reset token (API.md section 16): single use, valid one hour. The token itself (32
 * random bytes, base64url) is only ever in the email; this row keeps its SHA-256 (hex). Removed
 * with its user.
 */
@Entity('password_reset_tokens')
@Unique('uq_password_reset_tokens_token_hash', ['tokenHash'])
// A user's outstanding tokens (spent together by a reset or a password change).
@Index('idx_password_reset_tokens_user', ['userId'])
export class PasswordResetToken {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;

  @Column({ type: 'char', length: 64 })
  tokenHash: string;

  @Column({ type: 'timestamptz' })
  expiresAt: Date;

  /** Set when the token reset the password, or when another reset or a password change spent it. */
  @Column({ type: 'timestamptz', nullable: true })
  usedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
