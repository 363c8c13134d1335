import { Column, JoinColumn, ManyToOne } from 'typeorm';
import type { PermissionResource } from './permissions';

/**
 * How the unit of work scopes an entity's rows: every tenant entity has an `organization_id`
 * column; `owner` says where a member's visibility looks for the record's owner:
 * - `'self'`: the row's own `owner_id` (contacts, companies, deals, leads);
 * - `{ via: 'deal' }`: the `owner_id` of the row a many-to-one relation points to (tasks and
 *   activities are visible when their deal is);
 * - absent: every member of the organization sees every row (pipelines, memberships).
 */
export interface TenantPolicy {
  owner?: 'self' | { via: string };
  /**
   * The permission resource its rows belong to (API.md section 16): the scope of the actor's
   * permission on it decides which rows of an owned entity they see.
   */
  resource?: PermissionResource;
  /** Its name in a 404 message ("Contact not found"). */
  name: string;
  /**
   * `false`: its writes need no domain event of their own (the unit of work refuses a transaction
   * that wrote other tenant rows without one). For what is not a CRM record and has no type in
   * the catalog of API.md section 12: webhook endpoints and their deliveries, notifications.
   */
  events?: false;
}

const POLICIES = new Map<object, TenantPolicy>();

/** Marks an entity as tenant-owned: its rows are reachable only through the unit of work. */
export function TenantScoped(policy: TenantPolicy): ClassDecorator {
  return (target) => {
    POLICIES.set(target, policy);
  };
}

/** The policy of a tenant entity; undefined for the others (users, organizations, tokens...). */
export function tenantPolicyOf(entity: unknown): TenantPolicy | undefined {
  return POLICIES.get(entity as object);
}

/** Every entity marked @TenantScoped (for the guard-rail tests). */
export function tenantEntities(): object[] {
  return [...POLICIES.keys()];
}

/**
 * The tenant column every tenant-owned table has, declared once: `organization_id`, removed
 * with its organization.
 */
export abstract class TenantEntity {
  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne('Organization', { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: object;
}

/**
 * A tenant record with an owner (contacts, companies, deals, leads): members see the records
 * they own. Users are never deleted while they own records (RESTRICT keeps it so).
 */
export abstract class OwnedTenantEntity extends TenantEntity {
  @Column({ type: 'uuid' })
  ownerId: string;

  @ManyToOne('User', { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'owner_id' })
  owner?: object;
}
