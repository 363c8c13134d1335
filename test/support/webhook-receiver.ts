import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook as StandardWebhook } from 'standardwebhooks';

/** What a receiver endpoint answers: a status (with a body), a redirect, or no answer at all. */
export type Answer = number | { status: number; body?: string; location?: string } | 'hang';

export interface Received {
  endpoint: string;
  at: number;
  headers: Record<string, string>;
  body: string;
  /** The Standard Webhooks reference implementation accepted the signature (with the secret set). */
  verifiedByLibrary: boolean;
  /** This file's own implementation of the specification accepted it (every secret set). */
  verifiedBySpec: boolean[];
}

/**
 * The specification's verification, written from its text (not the library's code): the key is
 * the base64 after `whsec_`; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`;
 * `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256>`, one of which must
 * match.
 */
export function verifyBySpec(
  secret: string,
  headers: Record<string, string>,
  body: string,
): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`)
    .digest();
  return (headers['webhook-signature'] ?? '').split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    const given = Buffer.from(signature ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/**
 * A webhook receiver on 127.0.0.1 started by a test: `/<endpoint>` answers what the test queued
 * for it (then 200), records every request and checks its signatures with the secrets the test
 * set, by the reference library and by the spec's own text.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  private readonly answers = new Map<string, Answer[]>();
  private readonly secrets = new Map<string, string[]>();
  private readonly hanging = new Set<ServerResponse>();
  private server!: Server;
  private waiters: (() => void)[] = [];

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(endpoint: string): string {
    return `http://127.0.0.1:${this.port}/${endpoint}`;
  }

  /** The answers of the next requests to `endpoint`, in order (200 once they are used up). */
  answer(endpoint: string, ...answers: Answer[]): void {
    this.answers.set(endpoint, [...(this.answers.get(endpoint) ?? []), ...answers]);
  }

  /** Every following request to `endpoint` gets `answer`. */
  always(endpoint: string, answer: Answer): void {
    this.answers.set(endpoint, new Array<Answer>(100_000).fill(answer));
  }

  secret(endpoint: string, ...secrets: string[]): void {
    this.secrets.set(endpoint, secrets);
  }

  of(endpoint: string): Received[] {
    return this.received.filter((r) => r.endpoint === endpoint);
  }

  /** Resolves once `predicate` holds over what was received (checked at each request), or fails. */
  async until(
    predicate: () => boolean,
    timeoutMs = 10_000,
    what = 'the expected requests',
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`webhook receiver: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const endpoint = (req.url ?? '/').slice(1);
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
    );
    const secrets = this.secrets.get(endpoint) ?? [];
    let verifiedByLibrary = false;
    for (const secret of secrets) {
      try {
        new StandardWebhook(secret).verify(body, headers);
        verifiedByLibrary = true;
      } catch {
        // another secret may match
      }
    }
    this.received.push({
      endpoint,
      at: Date.now(),
      headers,
      body,
      verifiedByLibrary,
      verifiedBySpec: secrets.map((s) => verifyBySpec(s, headers, body)),
    });
    const answer = this.answers.get(endpoint)?.shift() ?? 200;
    for (const wake of this.waiters.splice(0)) wake();
    if (answer === 'hang') {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    const {
      status,
      body: text,
      location,
    } = typeof answer === 'number'
      ? { status: answer, body: undefined, location: undefined }
      : answer;
    if (location) res.setHeader('location', location);
    res.statusCode = status;
    res.end(text ?? (status < 300 ? 'ok' : `status ${status}`));
  }
}
