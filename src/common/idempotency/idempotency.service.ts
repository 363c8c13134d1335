import { HttpStatus, Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';
import { invalidKeyReason, keyScope, requestFingerprint } from './idempotency-request';
import {
  IDEMPOTENCY_STORE,
  type IdempotencyLease,
  type IdempotencyStore,
  KEPT_HEADERS,
  type StoredAnswer,
} from './idempotency.store';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * Routes that ignore the header although they are POSTs with a user: everything under /auth
 * (tokens must never be replayed to whoever knows a key; API keys never reach /auth anyway).
 */
const EXEMPT_ROUTE = /^\/api\/v\d+\/auth\//;

/** What the request's answer does once it is sent: kept under the claimed key, or replaced. */
type Pending = { kind: 'keep'; lease: IdempotencyLease } | { kind: 'replay'; answer: StoredAnswer };

/**
 * Idempotency-Key on POST (API.md section 17), one per app: the keys in flight and the hooks
 * that keep or replay answers. `begin` runs from IdempotencyInterceptor on the POST routes
 * (@Idempotent), after the guards (the caller and the organization are known; their 401/403/429
 * answers are never kept) and before validation:
 * - a key that is not 1..255 printable ASCII -> 400 VALIDATION_FAILED;
 * - the first request with a key claims it in the IDEMPOTENCY_STORE and runs; its final answer,
 *   whatever produced it (the handler, or the exception filter for a 4xx), is kept from the
 *   onSend hook: status, the headers that matter (Content-Type, Location, ETag, Last-Modified)
 *   and the exact body bytes, for IDEMPOTENCY_TTL_SECONDS. A 5xx is not kept (the key is
 *   released), and a failure to keep an answer is logged, never turns the answer into an error;
 * - a retry with the same method, URL and body gets that answer again, byte for byte, with
 *   `Idempotent-Replayed: true`, and the handler does not run;
 * - the same key with another request -> 422 IDEMPOTENCY_KEY_REUSED; while the first still runs
 *   -> 409 IDEMPOTENCY_KEY_IN_USE.
 * Keys are scoped by caller (the API key when the request uses one, else the user) and by the
 * X-Organization-Id value. Unauthenticated routes and /auth/* ignore the header.
 */
@Injectable()
export class IdempotencyService implements OnModuleInit {
  private readonly pending = new WeakMap<FastifyRequest, Pending>();

  constructor(
    @Inject(IDEMPOTENCY_STORE) private readonly store: IdempotencyStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    // Callback hooks with a synchronous way out: most requests have nothing pending, and an
    // async hook would cost them a promise each.
    fastify.addHook('onSend', (request, reply, payload, done) => {
      const pending = this.pending.get(request);
      if (!pending) return done(null, payload);
      this.pending.delete(request);
      if (pending.kind === 'replay') return done(null, replay(reply, pending.answer));
      void this.keep(request, reply, payload, pending.lease).then(() => done(null, payload));
    });
    // An answer that never went through onSend (the connection was lost): release the key.
    fastify.addHook('onResponse', (request, _reply, done) => {
      const pending = this.pending.get(request);
      if (!pending) return done();
      this.pending.delete(request);
      if (pending.kind === 'replay') return done();
      void this.release(request, pending.lease).then(() => done());
    });
  }

  /**
   * Claims the request's key or finds its kept answer: `run` lets the handler run (its answer
   * is kept once sent, if it has a key), `replay` skips it (the onSend hook sends the kept
   * answer). Throws the 400, 409 and 422 of the header.
   */
  async begin(request: FastifyRequest): Promise<'run' | 'replay'> {
    const header = request.headers['idempotency-key'];
    if (
      header === undefined ||
      request.method !== 'POST' ||
      !request.user ||
      EXEMPT_ROUTE.test(request.routeOptions.url ?? request.url)
    ) {
      return 'run';
    }
    const invalid = invalidKeyReason(header);
    if (invalid) {
      throw AppException.validation(
        [{ field: IDEMPOTENCY_KEY_HEADER, message: `${IDEMPOTENCY_KEY_HEADER} ${invalid}` }],
        `Invalid ${IDEMPOTENCY_KEY_HEADER} header`,
      );
    }
    const key = header as string;
    const organization = request.headers['x-organization-id'];
    const fingerprint = requestFingerprint(request.method, request.url, request.body);
    const begin = await this.store.begin(
      {
        scope: keyScope(request.user, typeof organization === 'string' ? organization : undefined),
        key,
        fingerprint,
      },
      this.config.idempotencyTtlSeconds,
    );
    if (begin.kind === 'claimed') {
      this.pending.set(request, { kind: 'keep', lease: begin.lease });
      return 'run';
    }
    if (begin.fingerprint !== fingerprint) {
      throw AppException.unprocessable(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        `This ${IDEMPOTENCY_KEY_HEADER} was used with another request (method, URL or body); use a new key`,
      );
    }
    if (begin.kind === 'in_flight') {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.IDEMPOTENCY_KEY_IN_USE,
        `A request with this ${IDEMPOTENCY_KEY_HEADER} is still running; retry later`,
      );
    }
    // The handler does not run; the onSend hook swaps in the kept answer.
    this.pending.set(request, { kind: 'replay', answer: begin.answer });
    return 'replay';
  }

  private async keep(
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    lease: IdempotencyLease,
  ): Promise<void> {
    const body = bodyBytes(payload);
    // A 5xx is not kept; neither is a streamed body (no POST answers one today).
    if (reply.statusCode >= 500 || body === undefined) return this.release(request, lease);
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = reply.getHeader(name);
      if (value !== undefined) headers[name] = String(value);
    }
    try {
      await lease.complete(
        { status: reply.statusCode, headers, body },
        this.config.idempotencyTtlSeconds,
      );
    } catch (error) {
      request.log.warn({ err: error }, 'idempotency: the answer could not be kept');
    }
  }

  private async release(request: FastifyRequest, lease: IdempotencyLease): Promise<void> {
    try {
      await lease.release();
    } catch (error) {
      request.log.warn({ err: error }, 'idempotency: the key could not be released');
    }
  }
}

/** The bytes of a serialized answer; undefined for a stream. */
function bodyBytes(payload: unknown): Buffer | undefined {
  if (payload === undefined || payload === null) return Buffer.alloc(0);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (Buffer.isBuffer(payload)) return payload;
  return undefined;
}

/** Makes the reply the kept answer: its status, headers and bytes, marked as replayed. */
function replay(reply: FastifyReply, answer: StoredAnswer): Buffer | undefined {
  void reply.code(answer.status);
  for (const name of KEPT_HEADERS) reply.removeHeader(name);
  for (const [name, value] of Object.entries(answer.headers)) void reply.header(name, value);
  void reply.header(IDEMPOTENT_REPLAYED_HEADER, 'true');
  return answer.body.length || answer.headers['content-type'] ? answer.body : undefined;
}
