import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from 'fastify';
import type { ErrorBody } from '../errors/error-body';
import { ErrorCode } from '../errors/error-code.enum';

interface ClientErrorAnswer {
  status: number;
  code: ErrorCode;
  message: string;
}

/** Node's parser errors (`HPE_*`, timeouts) as API.md error answers. */
function answerFor(error: NodeJS.ErrnoException): ClientErrorAnswer {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: ErrorCode.HEADERS_TOO_LARGE,
        message:
          'Request line and headers together exceed 16 KB; send long filters in fewer, shorter parameters',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: ErrorCode.REQUEST_TIMEOUT,
        message: 'Request not received in time',
      };
    default:
      return {
        status: 400,
        code: ErrorCode.BAD_REQUEST,
        message: 'Malformed HTTP request (invalid characters in the request line or a header?)',
      };
  }
}

/**
 * Fastify's `clientErrorHandler`: answers what Node's HTTP parser refuses before Fastify sees a
 * request (over-long headers or URL, control bytes in a header) with the error body of API.md
 * section 1 and a request id, instead of Fastify's own body. No request exists yet, so the id is
 * generated; one short log line, no stack.
 */
export function clientErrorHandler(
  this: { log: FastifyBaseLogger },
  error: NodeJS.ErrnoException,
  socket: Duplex,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, code, message } = answerFor(error);
  const requestId = randomUUID();
  this.log.info({ requestId, code, parserError: error.code }, 'HTTP request refused by the parser');
  if (socket.writable) {
    const body: ErrorBody = { statusCode: status, code, message, requestId };
    const json = JSON.stringify(body);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        `Connection: close\r\n\r\n${json}`,
    );
  }
  socket.destroy(error);
}

/**
 * Once the server starts closing (SIGTERM), requests that still arrive (pipelined, or on a
 * kept-alive connection) answer 503 NOT_READY with the error body and `Connection: close`, so the
 * load balancer sends them elsewhere; in-flight requests finish.
 */
export function answerNotReadyWhileClosing(fastify: FastifyInstance): void {
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    const body: ErrorBody = {
      statusCode: 503,
      code: ErrorCode.NOT_READY,
      message: 'The server is shutting down; retry on another instance',
      requestId: request.id,
    };
    void reply.code(503).header('connection', 'close').header('retry-after', '1').send(body);
  });
}

/** Fastify's own routing errors (before any route runs), as API.md messages. */
const ROUTING_MESSAGES: Record<string, string> = {
  FST_ERR_BAD_URL: 'Malformed URL: invalid percent-encoding',
  FST_ERR_MAX_PARAM_LENGTH: 'A path parameter is too long',
};

/**
 * Fastify's `frameworkErrors`: a URL Fastify cannot route (bad percent-encoding, an over-long
 * path parameter) answers 400 VALIDATION_FAILED with the error body of API.md section 1 (not
 * Fastify's, which echoes the URL back), with the request id.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const body: ErrorBody = {
    statusCode: 400,
    code: ErrorCode.VALIDATION_FAILED,
    message: ROUTING_MESSAGES[error.code] ?? 'Malformed request',
    requestId: request.id,
  };
  request.log.info({ code: error.code }, 'request refused by the router');
  void reply.code(400).header('x-request-id', request.id).send(body);
}
