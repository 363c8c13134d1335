import KeyvRedis from '@keyv/redis';
import { CacheModule } from '@nestjs/cache-manager';
import { Global, Module } from '@nestjs/common';
import { Keyv } from 'keyv';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { AnalyticsCache } from './analytics-cache.service';

/** The cache store: Redis when REDIS_URL is set (shared by all app copies), else in memory. */
@Global()
@Module({
  imports: [
    CacheModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        stores: config.redisUrl
          ? [new Keyv({ store: new KeyvRedis(config.redisUrl), namespace: 'crm' })]
          : [new Keyv({ namespace: 'crm' })],
      }),
    }),
  ],
  providers: [AnalyticsCache],
  exports: [AnalyticsCache],
})
export class AnalyticsCacheModule {}
