import { type DynamicModule, Global, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../../config/app-config';
import { IdempotencyService } from './idempotency.service';
import { IDEMPOTENCY_STORE, type IdempotencyStore } from './idempotency.store';
import { PostgresIdempotencyStore } from './postgres-idempotency.store';
import { RedisIdempotencyStore } from './redis-idempotency.store';

/**
 * Idempotency-Key on POST (API.md section 17): the service the routes' interceptor uses
 * (@Idempotent, global so that every module's routes reach the one instance) and its store,
 * Redis (shared by the copies) when REDIS_URL is set with PostgreSQL as its fallback, else
 * PostgreSQL.
 */
@Global()
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
        IdempotencyService,
      ],
      exports: [IDEMPOTENCY_STORE, IdempotencyService],
    };
  }
}
