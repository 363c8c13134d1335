import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

@Entity('users')
@Check('chk_users_email_lower', `email = lower(email)`)
export class User {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Stored trimmed and lower-cased (the check enforces it), so uniqueness is case-insensitive. */
  @Column({ type: 'varchar', length: 254, unique: true })
  email: string;

  @Column({ type: 'varchar', length: 200 })
  name: string;

  /** bcrypt hash; null for a user created by single sign-on (no password: login refused). */
  @Column({ type: 'varchar', length: 72, select: false, nullable: true })
  passwordHash: string | null;

  /** For text messages (API.md sections 14 and 16): the phone rules of contacts; null when not given. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  phone: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
