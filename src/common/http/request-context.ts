import type { FastifyRequest } from 'fastify';
import { parseETagList } from './etag';

/** The signed-in user, as established by the AuthGuard from a verified access token. */
export interface AuthUser {
  id: string;
  /**
   * Set when the request authenticated with an API key (API.md section 16): the key acts as its
   * creator (`id`) with the key's role, in the key's organization only.
   */
  apiKey?: { id: string; organizationId: string; role: string };
}

/**
 * The `If-Match` of a request on a route naming a record (`:id`, API.md section 17): the
 * services compare it with that record once they hold its row lock (assertPrecondition).
 */
export interface IfMatch {
  /** The route's `:id`: only that record is checked, not others the request reads or locks. */
  id: string;
  etags: string[] | '*';
}

/** Where a request came from; recorded in the audit log. */
export interface RequestMeta {
  requestId: string;
  ip: string;
  userAgent: string | null;
  /** Present when the request sent `If-Match` on a route with an `:id`. */
  ifMatch?: IfMatch;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: AuthUser;
  }
}

export function requestMeta(req: FastifyRequest): RequestMeta {
  const ua = req.headers['user-agent'];
  const meta: RequestMeta = {
    requestId: req.id,
    ip: req.ip,
    userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null,
  };
  const id = (req.params as { id?: unknown } | undefined)?.id;
  const etags = parseETagList(req.headers['if-match']);
  if (etags !== undefined && typeof id === 'string') meta.ifMatch = { id, etags };
  return meta;
}
