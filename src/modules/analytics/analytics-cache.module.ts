import { CacheModule } from '@nestjs/cache-manager';
import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { AnalyticsCache } from './analytics-cache.service';
import { createAnalyticsKeyv } from './analytics-store';

/**
 * The analytics cache on @nestjs/cache-manager; its store is Redis when REDIS_URL is set,
 * else process memory (bounded). cache-manager closes the store on shutdown.
 */
@Global()
@Module({
  imports: [
    CacheModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({ stores: [createAnalyticsKeyv(config)] }),
    }),
  ],
  providers: [AnalyticsCache],
  exports: [AnalyticsCache],
})
export class AnalyticsCacheModule {}
