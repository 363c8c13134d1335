import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import {
  IDEMPOTENCY_LOCK_TIMEOUT_MS,
  type IdempotencyBegin,
  type IdempotencyLease,
  type IdempotencyRequest,
  type IdempotencyStore,
  type StoredAnswer,
} from './idempotency.store';

/**
 * Claims the key: a new row, or a takeover of a row whose answer expired or whose claim is
 * older than the lock timeout (its request's process died). One statement, so two requests
 * never both claim; RETURNING is empty when someone else holds the key.
 */
const CLAIM = `INSERT INTO idempotency_keys (scope, key, fingerprint, state, token, created_at, expires_at)
VALUES ($1, $2, $3, 'in_flight', $4, now(), now() + make_interval(secs => $5))
ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, state = 'in_flight',
  token = EXCLUDED.token, status = NULL, headers = NULL, body = NULL, created_at = now(),
  expires_at = EXCLUDED.expires_at
WHERE idempotency_keys.expires_at <= now()
   OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.created_at <= now() - make_interval(secs => $6))
RETURNING token`;

const HOLDER = `SELECT fingerprint, state, status, headers, body FROM idempotency_keys
WHERE scope = $1 AND key = $2 AND expires_at > now()`;

const COMPLETE = `UPDATE idempotency_keys SET state = 'completed', status = $4, headers = $5, body = $6,
  expires_at = now() + make_interval(secs => $7)
WHERE scope = $1 AND key = $2 AND token = $3`;

const RELEASE = `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND token = $3`;

interface HolderRow {
  fingerprint: string;
  state: 'in_flight' | 'completed';
  status: number | null;
  headers: Record<string, string> | null;
  body: Buffer | null;
}

/**
 * Idempotency keys in PostgreSQL (the table `idempotency_keys`), the default store. Its
 * statements run on their own pooled connection, outside any business transaction: the answer
 * being kept was already committed.
 */
export class PostgresIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly lockTimeoutMs = IDEMPOTENCY_LOCK_TIMEOUT_MS,
  ) {}

  async begin(request: IdempotencyRequest, ttlSeconds: number): Promise<IdempotencyBegin> {
    const { scope, key, fingerprint } = request;
    // An in-flight row lives at least as long as its lock, whatever the TTL.
    const claimSeconds = Math.max(ttlSeconds, this.lockTimeoutMs / 1000);
    // The holder may release between our insert and our read: then claim again.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const token = randomUUID();
      const claimed = await this.dataSource.query<{ token: string }[]>(CLAIM, [
        scope,
        key,
        fingerprint,
        token,
        claimSeconds,
        this.lockTimeoutMs / 1000,
      ]);
      if (claimed.length) return { kind: 'claimed', lease: this.lease(request, token) };
      const [holder] = await this.dataSource.query<HolderRow[]>(HOLDER, [scope, key]);
      if (!holder) continue;
      if (holder.state === 'in_flight' || holder.status === null) {
        return { kind: 'in_flight', fingerprint: holder.fingerprint };
      }
      return {
        kind: 'completed',
        fingerprint: holder.fingerprint,
        answer: {
          status: holder.status,
          headers: holder.headers ?? {},
          body: holder.body ?? Buffer.alloc(0),
        },
      };
    }
    // Claimed and released three times in a row by others: treat it as busy.
    return { kind: 'in_flight', fingerprint };
  }

  private lease({ scope, key }: IdempotencyRequest, token: string): IdempotencyLease {
    return {
      complete: async (answer: StoredAnswer, ttlSeconds: number) => {
        await this.dataSource.query(COMPLETE, [
          scope,
          key,
          token,
          answer.status,
          JSON.stringify(answer.headers),
          answer.body,
          ttlSeconds,
        ]);
      },
      release: async () => {
        await this.dataSource.query(RELEASE, [scope, key, token]);
      },
    };
  }
}
