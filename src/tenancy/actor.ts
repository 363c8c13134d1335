import type { RequestMeta } from '../common/http/request-context';
import { type Action, Grants, type PermissionResource, type Scope } from './permissions';
import { Role } from './role';

/**
 * Everything a tenant-scoped service needs to know about the caller, passed explicitly as
 * the first argument of service methods (never read from globals).
 */
export interface Actor extends RequestMeta {
  userId: string;
  organizationId: string;
  /** The role's key: a built-in role (`owner`, `admin`, `manager`, `member`) or a custom one. */
  role: string;
  /** What the role grants (for an API key: what both the key's role and its creator hold). */
  grants: Grants;
  /** Set when the request came with an API key: its events and audit entries name the key. */
  apiKeyId?: string;
  /**
   * The permission the route requires (set by the guards): its scope limits which records a
   * write may touch (a role may read every contact but change only its own).
   */
  requirement?: { resource: PermissionResource; action: Action };
  /**
   * Its reads outside transactions may go to a replica (DATABASE_READ_URLS): set by the
   * OrganizationGuard, cleared by the unit of work once this actor's write commits.
   */
  replica?: boolean;
}

/** The caller's membership in the organization of the request, as the guards establish it. */
export interface Membership {
  organizationId: string;
  role: string;
  grants: Grants;
  apiKeyId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the OrganizationGuard on tenant-scoped routes. */
    membership?: Membership;
    /** Set by the PermissionsGuard: the route's first required permission. */
    requirement?: { resource: PermissionResource; action: Action };
    /** Set by the OrganizationGuard: the request's reads may go to a replica. */
    replicaReads?: boolean;
  }
}

/** The scope in which the actor may do `action` on `resource` (null: not at all). */
export function scopeOf(
  actor: Pick<Actor, 'grants'>,
  resource: PermissionResource,
  action: Action = 'read',
): Scope | null {
  return actor.grants.scope(resource, action);
}

/**
 * What the actor's view of a tenant's rows depends on: the organization and, unless the role
 * reads everything, who they are and what their role grants (its fingerprint). Lists bind their
 * cursors and cached totals to it.
 */
export function viewOf(actor: Pick<Actor, 'organizationId' | 'userId' | 'grants'>): {
  organizationId: string;
  viewer: string;
} {
  return {
    organizationId: actor.organizationId,
    viewer: actor.grants.seesAll ? '*' : `${actor.userId}:${actor.grants.fingerprint}`,
  };
}

/** True when `role` is one of `roles` (rules of sections 4-11 that name built-in roles). */
export function hasRole(actor: Pick<Actor, 'role'>, ...roles: Role[]): boolean {
  return (roles as string[]).includes(actor.role);
}

/**
 * The actor of work the system does in an organization on no user's behalf (event consumers,
 * deliveries): sees every record of the organization; its events have no actor.
 */
export function systemActor(organizationId: string, requestId: string | null = null): Actor {
  return {
    organizationId,
    userId: '',
    role: Role.OWNER,
    grants: Grants.of(Role.OWNER),
    requestId: requestId ?? '',
    ip: '',
    userAgent: null,
  };
}
