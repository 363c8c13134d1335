import multipart from '@fastify/multipart';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import helmet from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { httpRequestDuration } from './common/metrics/metrics';
import { PinoNestLogger } from './common/logging/logger';
import { createValidationPipe } from './common/pipes/validation';
import {
  answerNotReadyWhileClosing,
  clientErrorHandler,
  frameworkErrorHandler,
} from './common/http/client-error';
import { useDeferredJsonParser } from './common/http/json-body';
import { useDeprecationHeaders } from './common/http/deprecation';
import { useETagHeaders } from './common/http/etag-headers';
import { requestIdFor } from './common/http/request-id';
import type { AppConfig } from './config/app-config';
import { setupSwagger } from './swagger';

export const API_PREFIX = 'api/v1';

/**
 * /metrics where Prometheus looks for it (API.md section 15); everything else under /api/v1.
 * Shared with `npm run openapi`, which builds the document from an app that is never started.
 */
export function useApiPrefix(app: INestApplication): void {
  app.setGlobalPrefix(API_PREFIX, { exclude: ['metrics'] });
}

/**
 * Builds the whole HTTP application (used by main.ts and by the e2e tests, so both run the
 * same pipeline): Fastify with pino logs and request ids, helmet, CORS, body limit, the
 * global prefix, validation, error mapping and Swagger. Not listening yet.
 */
export async function createApp(
  config: AppConfig,
  databaseUrl: string,
  logger: Logger,
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    genReqId: requestIdFor,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    // While closing, new requests get 503 NOT_READY from answerNotReadyWhileClosing (the
    // error body of API.md section 1, not Fastify's).
    return503OnClosing: false,
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, databaseUrl),
    adapter,
    {
      logger: new PinoNestLogger(logger),
    },
  );
  const fastify = app.getHttpAdapter().getInstance();
  useDeferredJsonParser(app, config.bodyLimitBytes);
  // The request id, and the security headers helmet writes (computed once: securityHeaders).
  const security = securityHeaders();
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.headers(security);
    void reply.header('x-request-id', request.id);
    done();
  });
  answerNotReadyWhileClosing(fastify);
  // Deprecation, Sunset and Link on every answer of a @Deprecated operation (docs/deprecation.md).
  useDeprecationHeaders(fastify);
  // The ETag of single-record answers and If-None-Match (API.md section 17).
  useETagHeaders(fastify);
  // http_request_duration_seconds (API.md section 15): the route's template, never the raw URL.
  fastify.addHook('onResponse', (request, reply, done) => {
    httpRequestDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    done();
  });

  // multipart/form-data (CSV imports). Nothing is read until a handler asks for the file, after
  // the guards; each import route sets its own file size limit (IMPORT_MAX_FILE_BYTES).
  await app.register(multipart, {
    throwFileSizeLimit: true,
    limits: { fileSize: config.bodyLimitBytes, files: 1, fields: 10, fieldSize: 1024, parts: 20 },
  });
  if (config.corsOrigins.length) {
    app.enableCors({
      origin: config.corsOrigins.includes('*') ? true : config.corsOrigins,
      credentials: false,
      exposedHeaders: [
        'X-Request-Id',
        'Retry-After',
        'Idempotent-Replayed',
        'ETag',
        // What a browser client needs to notice a deprecated operation (docs/deprecation.md).
        'Deprecation',
        'Sunset',
        'Link',
      ],
      allowedHeaders: [
        'Authorization',
        'Content-Type',
        'X-Organization-Id',
        'X-Request-Id',
        'Idempotency-Key',
        'If-Match',
        'If-None-Match',
      ],
      maxAge: 600,
    });
  }
  useApiPrefix(app);
  app.useGlobalPipes(createValidationPipe());
  if (config.swaggerEnabled) setupSwagger(app);
  await app.init();
  return app;
}

/**
 * The headers helmet sets on every answer (CSP, HSTS, X-Frame-Options...), as helmet itself
 * writes them for this configuration, read once at start-up: they depend on nothing in the
 * request (no CSP nonces), and running helmet's dozen middlewares on every request through a
 * raw `setHeader` each cost 3-4% of a read by id's CPU (docs/decisions/0052; @fastify/helmet
 * would also rebuild the middleware per request). Fails at start-up if helmet ever answers
 * asynchronously, with an error, or removes a header (they could then not be computed once).
 */
export function securityHeaders(): Record<string, string> {
  const middleware = helmet({
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        upgradeInsecureRequests: null, // Swagger UI is also served over plain http (localhost, behind TLS proxies)
        defaultSrc: ["'self'"],
        // Swagger UI: its bundle and init script are served from /docs; it uses inline styles.
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
      },
    },
  });
  const headers: Record<string, string> = {};
  let outcome: unknown = 'pending';
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    // X-Powered-By, which Fastify never sets.
    removeHeader(name: string) {
      if (name.toLowerCase() !== 'x-powered-by') outcome = new Error(`removes ${name}`);
      delete headers[name.toLowerCase()];
    },
  };
  middleware({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (outcome === 'pending') outcome = error ?? 'done';
  });
  if (outcome !== 'done') {
    throw new Error(`helmet's headers cannot be computed once: ${String(outcome)}`);
  }
  return headers;
}
