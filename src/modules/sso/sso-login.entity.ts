import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A sign-in with the identity provider that was started (GET /auth/oidc/authorize) and not yet
 * finished: what the callback needs to check the provider's answer. Kept in PostgreSQL so that
 * any app copy can finish a flow another copy started. Deleted when the callback uses it
 * (single use), and when expired by the next flow that starts or ends.
 */
@Entity('sso_logins')
@Index('idx_sso_logins_expires', ['expiresAt'])
export class SsoLogin {
  /** SHA-256 (hex) of the `state` sent to the provider; the state itself is not stored. */
  @PrimaryColumn({ type: 'char', length: 64 })
  stateHash: string;

  @Column({ type: 'varchar', length: 128 })
  nonce: string;

  /** The PKCE code verifier (its S256 challenge went to the provider). */
  @Column({ type: 'varchar', length: 128 })
  codeVerifier: string;

  /** Where the callback sends the tokens (in the fragment); null: it answers the login body. */
  @Column({ type: 'text', nullable: true })
  redirectTo: string | null;

  @Column({ type: 'timestamptz' })
  expiresAt: Date;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
