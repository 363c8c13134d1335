import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import { TenantEntity, TenantScoped } from './tenant-entity';

/**
 * A user's membership (and role) in an organization: the table the tenancy floor reads on every
 * tenant-scoped request. The organizations module manages it through the unit of work.
 */
@Entity('organization_members')
@TenantScoped({ resource: 'members', name: 'Member' })
// Membership check (guard, per request) and the organization's member list.
@Unique('uq_organization_members_org_user', ['organizationId', 'userId'])
// "My organizations" (login, GET /organizations/me).
@Index('idx_organization_members_user', ['userId'])
export class OrganizationMember extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  userId: string;

  /** A built-in role (`owner`, `admin`, `manager`, `member`) or a custom role's key. */
  @Column({ type: 'varchar', length: 40 })
  role: string;

  // Deleting an organization removes its memberships (TenantEntity); so does deleting a user.
  // The user is named, not imported: the tenancy floor does not depend on the users module.
  @ManyToOne('User', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: object;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
