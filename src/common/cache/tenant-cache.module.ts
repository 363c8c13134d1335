import { CacheModule } from '@nestjs/cache-manager';
import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { createCacheKeyv } from './cache-store';
import { InvalidationBus } from './invalidation-bus';
import { TenantCache } from './tenant-cache';

/**
 * The tenant cache (analytics, list totals) on @nestjs/cache-manager; its store is Redis when
 * REDIS_URL is set, else process memory (bounded). cache-manager closes the store on shutdown.
 * Every transaction of the unit of work invalidates its organization's entries after it commits
 * (src/tenancy/unit-of-work.ts).
 */
@Global()
@Module({
  imports: [
    CacheModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({ stores: [createCacheKeyv(config)] }),
    }),
  ],
  providers: [TenantCache, InvalidationBus],
  exports: [TenantCache, InvalidationBus],
})
export class TenantCacheModule {}
