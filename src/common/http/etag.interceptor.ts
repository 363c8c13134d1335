import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { map, type Observable } from 'rxjs';
import { etagOfBody, matchesWeakly, NotModified, parseETagList } from './etag';

/**
 * The `ETag` header of single-record answers (API.md section 17): a body that carries an ETag
 * (withETag, set by the DTO factories) gets it as its header; lists, conversions and other
 * composite answers carry none. A GET whose `If-None-Match` matches it answers 304 without a
 * body (the exception filter sends it).
 */
@Injectable()
export class ETagInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    return next.handle().pipe(
      map((body: unknown) => {
        const etag = etagOfBody(body);
        if (etag === undefined) return body;
        if (request.method === 'GET' || request.method === 'HEAD') {
          const tags = parseETagList(request.headers['if-none-match']);
          if (tags !== undefined && matchesWeakly(tags, etag)) throw new NotModified(etag);
        }
        void reply.header('etag', etag);
        return body;
      }),
    );
  }
}
