import type { RequestMeta } from '../common/http/request-context';
import { Role } from './role';

/**
 * Everything a tenant-scoped service needs to know about the caller, passed explicitly as
 * the first argument of service methods (never read from globals).
 */
export interface Actor extends RequestMeta {
  userId: string;
  organizationId: string;
  role: Role;
  /**
   * Its reads outside transactions may go to a replica (DATABASE_READ_URLS): set by the
   * OrganizationGuard, cleared by the unit of work once this actor's write commits.
   */
  replica?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the OrganizationGuard on tenant-scoped routes. */
    membership?: { organizationId: string; role: Role };
    /** Set by the OrganizationGuard: the request's reads may go to a replica. */
    replicaReads?: boolean;
  }
}

/** Owners, admins and managers see every record of the organization; members their own. */
export function seesWholeOrganization(actor: Pick<Actor, 'role'>): boolean {
  return actor.role !== Role.MEMBER;
}

/**
 * What the actor's view of a tenant's rows depends on: the organization and, for members, who
 * they are. Lists bind their cursors and cached totals to it.
 */
export function viewOf(actor: Pick<Actor, 'organizationId' | 'userId' | 'role'>): {
  organizationId: string;
  viewer: string;
} {
  return {
    organizationId: actor.organizationId,
    viewer: seesWholeOrganization(actor) ? '*' : actor.userId,
  };
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
    requestId: requestId ?? '',
    ip: '',
    userAgent: null,
  };
}
