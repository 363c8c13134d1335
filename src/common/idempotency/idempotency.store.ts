/**
 * Storage of Idempotency-Key answers (API.md section 17): one small interface, two
 * implementations (PostgreSQL by default, Redis when REDIS_URL is set, falling back to
 * PostgreSQL while Redis is unreachable).
 */

/** The headers of an answer that are kept and replayed with it (lower-case names). */
export const KEPT_HEADERS = ['content-type', 'location', 'etag', 'last-modified'] as const;

/** A completed answer as it was sent: status, the headers that matter, the exact body bytes. */
export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Who asks, and for what: the scope (caller and organization), the key and the request's fingerprint. */
export interface IdempotencyRequest {
  /** SHA-256 (hex) of the caller (user or API key) and the organization named by the request. */
  scope: string;
  /** The Idempotency-Key header (1..255 printable ASCII). */
  key: string;
  /** SHA-256 (hex) of method, URL and canonical body. */
  fingerprint: string;
}

/** The right to run the request once: completed with its answer, or released (5xx, failure). */
export interface IdempotencyLease {
  /** Keeps the answer for `ttlSeconds`; a later retry replays it. */
  complete(answer: StoredAnswer, ttlSeconds: number): Promise<void>;
  /** Forgets the key (the answer is not kept): a retry runs the request again. */
  release(): Promise<void>;
}

export type IdempotencyBegin =
  /** Nobody holds the key (or its holder died, or its answer expired): run the request. */
  | { kind: 'claimed'; lease: IdempotencyLease }
  /** Another request with this key is still running. */
  | { kind: 'in_flight'; fingerprint: string }
  /** The key's first answer, kept. */
  | { kind: 'completed'; fingerprint: string; answer: StoredAnswer };

export interface IdempotencyStore {
  /**
   * Claims the key atomically, or says who holds it. A claim not completed or released within
   * the lock timeout (the process died) may be taken over by the next request.
   */
  begin(request: IdempotencyRequest, ttlSeconds: number): Promise<IdempotencyBegin>;
}

export const IDEMPOTENCY_STORE = Symbol('IDEMPOTENCY_STORE');

/** How long a claim may stay in flight before another request may take it over. */
export const IDEMPOTENCY_LOCK_TIMEOUT_MS = 60_000;
