import type { FastifyInstance } from 'fastify';
import { etagOfBody, matchesWeakly, parseETagList } from './etag';

/**
 * The `ETag` header of single-record answers (API.md section 17), as Fastify hooks rather than a
 * Nest interceptor (an interceptor puts an rxjs pipeline on every route: decision 0050). A body
 * that carries an ETag (withETag, set by the DTO factories) gets it as its header just before it
 * is serialized; lists, conversions and other composite answers carry none. A GET (or HEAD)
 * whose `If-None-Match` matches it answers 304 with the ETag and no body.
 */
export function useETagHeaders(fastify: FastifyInstance): void {
  fastify.addHook('preSerialization', (request, reply, payload, done) => {
    const etag = etagOfBody(payload);
    if (etag !== undefined && reply.statusCode < 300) {
      void reply.header('etag', etag);
      if (request.method === 'GET' || request.method === 'HEAD') {
        const tags = parseETagList(request.headers['if-none-match']);
        if (tags !== undefined && matchesWeakly(tags, etag)) void reply.code(304);
      }
    }
    done(null, payload);
  });
  // A 304 has no body (RFC 9110 section 15.4.5): drop the serialized one.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    done(null, reply.statusCode === 304 ? null : payload);
  });
}
