import { randomUUID } from 'node:crypto';
import { CACHE_MANAGER, type Cache } from '@nestjs/cache-manager';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';

/**
 * The analytics cache (API.md section 9): answers are cached per organization and key (the key
 * carries the visibility scope and parameters) for ANALYTICS_CACHE_TTL_SECONDS. Every deal
 * write of an organization calls `invalidate`, which replaces the organization's generation
 * token: entries of older generations are never read again and expire on their own. Works the
 * same on the in-memory store and on Redis (shared by every app copy).
 */
@Injectable()
export class AnalyticsCache implements OnApplicationShutdown {
  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async getOrCompute<T>(
    organizationId: string,
    key: string,
    compute: () => Promise<T>,
  ): Promise<T> {
    const ttlMs = this.config.analyticsCacheTtlSeconds * 1000;
    if (ttlMs === 0) return compute();
    const entry = `analytics:${organizationId}:${await this.generation(organizationId)}:${key}`;
    const hit = await this.cache.get<T>(entry);
    if (hit !== undefined && hit !== null) return hit;
    const value = await compute();
    await this.cache.set(entry, value, ttlMs);
    return value;
  }

  /** Call after a deal write of the organization has committed. */
  async invalidate(organizationId: string): Promise<void> {
    if (this.config.analyticsCacheTtlSeconds === 0) return;
    await this.cache.set(this.generationKey(organizationId), randomUUID());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.cache.disconnect();
  }

  private async generation(organizationId: string): Promise<string> {
    const key = this.generationKey(organizationId);
    const current = await this.cache.get<string>(key);
    if (current) return current;
    // A new token: nothing can be cached under it yet, so nothing stale can be read.
    const fresh = randomUUID();
    await this.cache.set(key, fresh);
    return fresh;
  }

  private generationKey(organizationId: string): string {
    return `analytics:${organizationId}:generation`;
  }
}
