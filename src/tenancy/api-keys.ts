import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { InvalidationBus } from '../common/cache/invalidation-bus';
import type { AuthUser } from '../common/http/request-context';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ApiKey } from './api-key.entity';

/** `crm_` + 32 random bytes, base64url (API.md section 16). */
const KEY_FORMAT = /^crm_[A-Za-z0-9_-]{43}$/;
const TOPIC = 'api-key';
/** `lastUsedAt` is written at most this often per key and copy (not on every request). */
const USAGE_EVERY_MS = 60_000;

export function isApiKey(token: string): boolean {
  return token.startsWith('crm_');
}

/** A new key: what the client is shown once, what is stored, and the prefix shown in lists. */
export function newApiKey(): { key: string; hash: string; prefix: string } {
  const key = `crm_${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, 12) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

type KeyRow = Pick<ApiKey, 'id' | 'organizationId' | 'userId' | 'role' | 'expiresAt' | 'revokedAt'>;

/**
 * Authenticates `Authorization: Bearer crm_...` (API.md section 16) for the AuthGuard: the key's
 * row by the SHA-256 of the key, cached per copy like memberships (MEMBERSHIP_CACHE_TTL_MS, only
 * while the InvalidationBus is live) and dropped on every copy at once when the key is revoked.
 * A key acts as its creator, in its organization, with its role; its last use is recorded.
 */
@Injectable()
export class ApiKeyAuthenticator {
  private readonly logger = new Logger('ApiKeys');
  private readonly cache = new Map<string, { row: KeyRow | null; expiresAt: number }>();
  private readonly used = new Map<string, number>();
  private generation = 0;

  constructor(
    @InjectRepository(ApiKey) private readonly keys: Repository<ApiKey>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly bus: InvalidationBus,
  ) {
    bus.on(TOPIC, (id) => {
      this.generation += 1;
      if (id === null) return this.cache.clear();
      for (const [hash, entry] of this.cache) if (entry.row?.id === id) this.cache.delete(hash);
    });
  }

  /** The identity the key acts with, or null for an unknown, revoked or expired key. */
  async authenticate(token: string): Promise<AuthUser | null> {
    if (!KEY_FORMAT.test(token)) return null;
    const row = await this.find(hashApiKey(token));
    if (!row || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) {
      return null;
    }
    this.recordUse(row.id);
    return {
      id: row.userId,
      apiKey: { id: row.id, organizationId: row.organizationId, role: row.role },
    };
  }

  /** A key was revoked (or changed): every copy forgets it at once. */
  async revoked(id: string): Promise<void> {
    this.used.delete(id);
    await this.bus.publish(TOPIC, id);
  }

  private async find(hash: string): Promise<KeyRow | null> {
    const ttl = this.config.membershipCacheTtlMs;
    const live = ttl > 0 && this.bus.live;
    const hit = live ? this.cache.get(hash) : undefined;
    if (hit && hit.expiresAt > Date.now()) return hit.row;
    const generation = this.generation;
    const row = await this.keys.findOne({
      select: {
        id: true,
        organizationId: true,
        userId: true,
        role: true,
        expiresAt: true,
        revokedAt: true,
      },
      where: { keyHash: hash },
    });
    if (live && generation === this.generation) {
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(hash, { row, expiresAt: Date.now() + ttl });
    }
    return row;
  }

  private recordUse(id: string): void {
    const now = Date.now();
    if ((this.used.get(id) ?? 0) > now - USAGE_EVERY_MS) return;
    if (this.used.size >= 10_000) this.used.clear();
    this.used.set(id, now);
    void this.keys
      .update({ id }, { lastUsedAt: new Date(now) })
      .catch((error: Error) =>
        this.logger.warn(`could not record the use of a key: ${error.message}`),
      );
  }
}
