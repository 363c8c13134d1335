import type { FastifyRequest } from 'fastify';

/** The signed-in user, as established by the AuthGuard from a verified access token. */
export interface AuthUser {
  id: string;
  /**
   * Set when the request authenticated with an API key (API.md section 16): the key acts as its
   * creator (`id`) with the key's role, in the key's organization only.
   */
  apiKey?: { id: string; organizationId: string; role: string };
}

/** Where a request came from; recorded in the audit log. */
export interface RequestMeta {
  requestId: string;
  ip: string;
  userAgent: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: AuthUser;
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
