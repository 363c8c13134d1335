import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { activeTracing, traceparentOfEnvelope } from '../../common/tracing/trace-hooks';
import { addressAllowed, guardedLookup, type UrlPolicy, UrlNotAllowedError } from './webhook-url';

/** What one delivery attempt gave (API.md section 13: the delivery log's `attemptLog`). */
export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseBodyExcerpt: string | null;
}

/** The delivery log keeps at most this much of an answer's body. */
export const EXCERPT_BYTES = 2048;
/** An answer's body is read up to here (so the connection can be reused), then cut off. */
const DRAIN_BYTES = 64 * 1024;

/**
 * POSTs webhook requests: a 2xx answer within `timeoutMs` (headers and body) is a success;
 * anything else, including a redirect (never followed), is a failure with its reason. Addresses
 * are checked when connecting (`guardedLookup`), so a host whose DNS changed since the endpoint
 * was created to a private address is refused then. Connections are kept alive per copy.
 */
export class WebhookSender {
  // No socket limit per host: lanes to endpoints on one host must not queue behind a hanging one
  // (each lane has one request in flight; WEBHOOK_CONCURRENCY bounds them all).
  private readonly agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };
  private readonly lookup: ReturnType<typeof guardedLookup>;

  constructor(
    private readonly policy: UrlPolicy,
    private readonly timeoutMs: number,
  ) {
    this.lookup = guardedLookup(policy);
  }

  /**
   * One attempt. When tracing is on it runs in a span whose parent is the event's `traceparent`
   * (one trace from the request that recorded the event to its deliveries), and the request
   * carries the `traceparent` of the span that sends it (the HTTP instrumentation's client span,
   * a child of that one).
   */
  post(url: string, headers: Record<string, string>, body: string): Promise<AttemptResult> {
    const tracing = activeTracing();
    if (!tracing) return this.send(url, headers, body);
    return tracing.inSpan(
      'webhook delivery',
      'internal',
      traceparentOfEnvelope(body),
      { 'url.full': url, 'crm.event.id': headers['webhook-id'] ?? '' },
      () => this.send(url, { ...headers, traceparent: tracing.traceparent()! }, body),
    );
  }

  private send(url: string, headers: Record<string, string>, body: string): Promise<AttemptResult> {
    const started = performance.now();
    const done = (partial: Omit<AttemptResult, 'durationMs' | 'ok'>): AttemptResult => ({
      ...partial,
      ok: partial.statusCode !== null && partial.statusCode >= 200 && partial.statusCode < 300,
      durationMs: Math.round(performance.now() - started),
    });
    let target: URL;
    try {
      target = new URL(url);
      const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
      // A literal address is connected to without a lookup: checked here instead.
      if (isIP(host) && !addressAllowed(host, this.policy)) {
        throw new UrlNotAllowedError(
          `${host} is a loopback, private, link-local or reserved address`,
        );
      }
      if (target.protocol === 'http:' && !this.policy.allowHttp) {
        throw new UrlNotAllowedError('only https URLs (WEBHOOK_ALLOW_HTTP is off)');
      }
    } catch (error) {
      return Promise.resolve(
        done({ statusCode: null, error: (error as Error).message, responseBodyExcerpt: null }),
      );
    }
    const client = target.protocol === 'https:' ? https : http;
    return new Promise<AttemptResult>((resolve) => {
      let settled = false;
      const finish = (result: Omit<AttemptResult, 'durationMs' | 'ok'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(done(result));
      };
      const request = client.request(target, {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: target.protocol === 'https:' ? this.agents.https : this.agents.http,
        lookup: this.lookup,
      });
      const timer = setTimeout(() => {
        request.destroy();
        finish({
          statusCode: null,
          error: `no answer within ${this.timeoutMs} ms`,
          responseBodyExcerpt: null,
        });
      }, this.timeoutMs);
      request.on('error', (error) =>
        finish({ statusCode: null, error: error.message, responseBodyExcerpt: null }),
      );
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size - chunk.length < EXCERPT_BYTES) chunks.push(chunk);
          if (size > DRAIN_BYTES) response.destroy();
        });
        const settle = (): void => {
          const statusCode = response.statusCode ?? null;
          const excerpt = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
          const location = response.headers.location;
          let error: string | null = null;
          if (statusCode !== null && statusCode >= 300 && statusCode < 400) {
            error = `redirect to ${location ?? '(no location)'} not followed`;
          } else if (statusCode === null || statusCode < 200 || statusCode >= 300) {
            error = `HTTP ${statusCode}`;
          }
          finish({ statusCode, error, responseBodyExcerpt: excerpt || null });
        };
        response.on('end', settle);
        response.on('close', settle);
        response.on('error', settle);
      });
      request.end(body);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
