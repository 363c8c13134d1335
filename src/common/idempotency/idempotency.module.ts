import { type DynamicModule, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../../config/app-config';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import { IDEMPOTENCY_STORE, type IdempotencyStore } from './idempotency.store';
import { PostgresIdempotencyStore } from './postgres-idempotency.store';
import { RedisIdempotencyStore } from './redis-idempotency.store';

/**
 * Idempotency-Key on POST (API.md section 17): the global interceptor and its store, Redis
 * (shared by the copies) when REDIS_URL is set with PostgreSQL as its fallback, else PostgreSQL.
 */
@Module({})
export class IdempotencyModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: IdempotencyModule,
      providers: [
        {
          provide: IDEMPOTENCY_STORE,
          inject: [DataSource],
          useFactory: (dataSource: DataSource): IdempotencyStore => {
            const postgres = new PostgresIdempotencyStore(dataSource);
            return config.redisUrl
              ? new RedisIdempotencyStore(config.redisUrl, postgres)
              : postgres;
          },
        },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
      ],
      exports: [IDEMPOTENCY_STORE],
    };
  }
}
