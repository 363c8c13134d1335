import type { onSendAsyncHookHandler } from 'fastify';
import type { TenantCache } from './tenant-cache';

/** Methods that never change data (API.md: reads are GET). */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A Fastify onSend hook: after every tenant-scoped request that may have written (any method
 * but GET/HEAD/OPTIONS), invalidates the organization's cached answers (analytics, list
 * totals) before the response leaves. The handler's transaction has committed by then, so the
 * client's next read never sees an answer older than its own write. Failed requests invalidate
 * too (cheap, and a handler may fail after a commit). One place for every write endpoint,
 * present and future, instead of a call in each service; code that writes outside an HTTP
 * request (jobs, consumers) calls TenantCache.invalidate itself. A hook rather than a Nest
 * interceptor: an interceptor would put every request, reads included, through rxjs (2-3% of
 * a simple GET's CPU) to act on writes only.
 */
export function invalidateAfterTenantWrites(cache: TenantCache): onSendAsyncHookHandler {
  return async (request, _reply, payload) => {
    const organizationId = request.membership?.organizationId;
    if (organizationId && !READ_METHODS.has(request.method)) await cache.invalidate(organizationId);
    return payload;
  };
}
