import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { catchError, concatMap, from, type Observable, throwError } from 'rxjs';
import { TenantCache } from './tenant-cache';

/** Methods that never change data (API.md: reads are GET). */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * After every tenant-scoped request that may have written (any method but GET/HEAD/OPTIONS),
 * invalidates the organization's cached answers (analytics, list totals) before the response
 * leaves: the handler's transaction has committed by then, so the client's next read never
 * sees an answer older than its own write. Failed requests invalidate too (cheap, and a handler
 * may fail after a commit). One place for every write endpoint, present and future, instead of
 * a call in each service; code that writes outside an HTTP request (jobs, consumers) calls
 * TenantCache.invalidate itself.
 */
@Injectable()
export class TenantWriteInterceptor implements NestInterceptor {
  constructor(private readonly cache: TenantCache) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const organizationId = request.membership?.organizationId;
    if (!organizationId || READ_METHODS.has(request.method)) return next.handle();
    const invalidate = (): Promise<void> => this.cache.invalidate(organizationId);
    return next.handle().pipe(
      concatMap((value: unknown) => from(invalidate().then(() => value))),
      catchError((error: unknown) =>
        from(invalidate()).pipe(concatMap(() => throwError(() => error))),
      ),
    );
  }
}
