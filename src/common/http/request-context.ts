import type { FastifyRequest } from 'fastify';
import type { Role } from '../../modules/organizations/role.enum';

/** The signed-in user, as established by the AuthGuard from a verified access token. */
export interface AuthUser {
  id: string;
}

/** Where a request came from; recorded in the audit log. */
export interface RequestMeta {
  requestId: string;
  ip: string;
  userAgent: string | null;
}

/**
 * Everything a tenant-scoped service needs to know about the caller, passed explicitly as
 * the first argument of service methods (never read from globals).
 */
export interface Actor extends RequestMeta {
  userId: string;
  organizationId: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: AuthUser;
    membership?: { organizationId: string; role: Role };
  }
}

export function requestMeta(req: FastifyRequest): RequestMeta {
  const ua = req.headers['user-agent'];
  return {
    requestId: req.id,
    ip: req.ip,
    userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null,
  };
}
