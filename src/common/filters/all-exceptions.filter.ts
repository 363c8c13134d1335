import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorBody } from '../errors/error-body';

/**
 * The one place where every error becomes API.md's error body: domain errors, framework errors
 * (Nest routes Fastify's body-parsing errors here too) and unexpected ones (logged with their
 * stack and the request id; the client sees a generic 500).
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { body, internal } = toErrorBody(exception, request.id);
    if (internal) {
      request.log.error({ err: exception }, 'unhandled error');
    } else if (body.statusCode >= 500) {
      request.log.warn({ code: body.code }, body.message);
      if (body.statusCode === 503) void reply.header('Retry-After', '1');
    }
    void reply
      .status(body.statusCode)
      .header('content-type', 'application/json; charset=utf-8')
      .send(body);
  }
}
