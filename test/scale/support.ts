/**
 * HTTP(S) client and paced load of the three-copy suite: node:https with the stack's
 * self-signed certificate as the only trusted CA, kept-alive connections, and every answer
 * (or network error) recorded with its time.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  requestId: string;
  /** 1 when the request was sent again after its reused keep-alive connection was reset. */
  retried?: number;
}

export interface Client {
  call: (
    method: string,
    url: string,
    options?: { body?: unknown; headers?: Record<string, string>; requestId?: string },
  ) => Promise<Answer>;
  close: () => void;
}

export function client(ca: Buffer, maxSockets = 16): Client {
  const httpsAgent = new https.Agent({ ca, keepAlive: true, maxSockets });
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets });
  return {
    call: async (method, url, options = {}) => {
      // HTTP/1.1 keep-alive: a server may close an idle connection just as the client reuses
      // it (nginx does on reload: its old workers close their idle client connections); the
      // request was never read then. Retried once on a fresh connection, as Node's docs
      // advise (request.reusedSocket); GET also on a new connection reset before any answer
      // (browsers do the same for idempotent requests); counted.
      for (let attempt = 0; ; attempt++) {
        try {
          const answer = await once(method, url, options);
          return { ...answer, retried: attempt };
        } catch (e) {
          const err = e as NodeJS.ErrnoException & { reused?: boolean };
          const idempotent = method === 'GET' || method === 'HEAD';
          if (attempt === 0 && (err.reused || idempotent) && err.code === 'ECONNRESET') continue;
          throw e;
        }
      }
    },
    close: () => {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };

  function once(
    method: string,
    url: string,
    options: { body?: unknown; headers?: Record<string, string>; requestId?: string },
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const requestId = options.requestId ?? `scale-${randomUUID()}`;
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      const headers: Record<string, string> = {
        'x-request-id': requestId,
        ...(payload ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      };
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      const req = (secure ? https : http).request(
        target,
        { method, headers, agent: secure ? httpsAgent : httpAgent, timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let body: unknown = undefined;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              body = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body, requestId });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (e: NodeJS.ErrnoException & { reused?: boolean }) => {
        e.reused = req.reusedSocket;
        reject(e);
      });
      req.end(payload);
    });
  }
}

export interface Session {
  email: string;
  userId: string;
  organizationId: string;
  headers: Record<string, string>;
}

export const PASSWORD = 'correct-horse-42';

export async function register(c: Client, base: string, prefix: string): Promise<Session> {
  const email = `${prefix}-${randomUUID().slice(0, 8)}@example.com`;
  const res = await c.call('POST', `${base}/api/v1/auth/register`, {
    body: { email, password: PASSWORD, name: prefix, organizationName: `Org ${prefix}` },
  });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${res.text}`);
  return {
    email,
    userId: res.body.user.id,
    organizationId: res.body.organization.id,
    headers: {
      authorization: `Bearer ${res.body.accessToken}`,
      'x-organization-id': res.body.organization.id,
    },
  };
}

/** One request of a load: when it started and ended, what it was, how it ended. */
export interface Outcome {
  kind: 'write' | 'read';
  start: number;
  end: number;
  status: number | 'network';
  error?: string;
  requestId: string;
  /** The contact's name (unique) of a write. */
  name?: string;
  /** Sent again after a reset of a reused keep-alive connection. */
  retried: boolean;
}

export interface LoadResult {
  outcomes: Outcome[];
  /** Contact ids of the writes answered 2xx (acknowledged). */
  acknowledged: string[];
}

export interface LoadSummary {
  requests: number;
  writes: number;
  reads: number;
  acknowledgedWrites: number;
  status5xx: number;
  write5xx: number;
  read5xx: number;
  status429: number;
  networkErrors: number;
  /** Requests sent again after a reset of a reused keep-alive connection (then answered). */
  retriedAfterReset: number;
  other: number;
  durationS: number;
  requestsPerSecond: number;
}

export function summarize(result: LoadResult): LoadSummary {
  const o = result.outcomes;
  const is5xx = (x: Outcome): boolean => typeof x.status === 'number' && x.status >= 500;
  const first = Math.min(...o.map((x) => x.start));
  const last = Math.max(...o.map((x) => x.end));
  const durationS = o.length ? (last - first) / 1000 : 0;
  return {
    requests: o.length,
    writes: o.filter((x) => x.kind === 'write').length,
    reads: o.filter((x) => x.kind === 'read').length,
    acknowledgedWrites: result.acknowledged.length,
    status5xx: o.filter(is5xx).length,
    write5xx: o.filter((x) => x.kind === 'write' && is5xx(x)).length,
    read5xx: o.filter((x) => x.kind === 'read' && is5xx(x)).length,
    status429: o.filter((x) => x.status === 429).length,
    networkErrors: o.filter((x) => x.status === 'network').length,
    retriedAfterReset: o.filter((x) => x.retried).length,
    other: o.filter(
      (x) =>
        typeof x.status === 'number' &&
        (x.status < 200 || (x.status >= 300 && x.status < 500 && x.status !== 429)),
    ).length,
    durationS: Math.round(durationS * 10) / 10,
    requestsPerSecond: durationS ? Math.round(o.length / durationS) : 0,
  };
}

/**
 * A steady load through `base` until `stop()` resolves: each session is one worker that
 * alternates POST /contacts (a new contact) and GET /contacts/{id} of one it created, every
 * `intervalMs` (so the total rate stays under nginx's per-address limit and each user under
 * the API's per-user limit).
 */
export async function runLoad(
  c: Client,
  base: string,
  sessions: Session[],
  stop: Promise<unknown>,
  intervalMs = 80,
): Promise<LoadResult> {
  const outcomes: Outcome[] = [];
  const acknowledged: string[] = [];
  let stopped = false;
  void stop.then(() => (stopped = true));
  const worker = async (session: Session, w: number): Promise<void> => {
    const mine: string[] = [];
    let n = 0;
    while (!stopped) {
      const start = Date.now();
      const write = n % 2 === 0 || mine.length === 0;
      const requestId = `load-${w}-${n}-${randomUUID().slice(0, 8)}`;
      const name = `Load ${requestId}`;
      n++;
      try {
        const res = write
          ? await c.call('POST', `${base}/api/v1/contacts`, {
              body: { name },
              headers: session.headers,
              requestId,
            })
          : await c.call('GET', `${base}/api/v1/contacts/${mine[n % mine.length]}`, {
              headers: session.headers,
              requestId,
            });
        outcomes.push({
          kind: write ? 'write' : 'read',
          start,
          end: Date.now(),
          status: res.status,
          requestId,
          retried: Boolean(res.retried),
        });
        if (write && res.status === 201) {
          acknowledged.push(res.body.id as string);
          mine.push(res.body.id as string);
        }
      } catch (e) {
        outcomes.push({
          kind: write ? 'write' : 'read',
          start,
          end: Date.now(),
          status: 'network',
          error: (e as Error).message,
          requestId,
          name: write ? name : undefined,
          retried: false,
        });
      }
      const wait = intervalMs - (Date.now() - start);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  };
  await Promise.all(sessions.map((s, w) => worker(s, w)));
  return { outcomes, acknowledged };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
