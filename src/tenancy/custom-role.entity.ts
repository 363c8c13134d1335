import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';
import type { Permission } from './permissions';
import { TenantEntity, TenantScoped } from './tenant-entity';

/**
 * A role an organization defined (API.md section 16): its permissions, as data. Members and API
 * keys hold it by `key`; the built-in roles are not rows.
 */
@Entity('roles')
@TenantScoped({ resource: 'roles', name: 'Role', events: false })
@Unique('uq_roles_org_key', ['organizationId', 'key'])
export class CustomRole extends TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 40 })
  key: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'jsonb' })
  permissions: Permission[];

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
