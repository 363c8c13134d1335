import { Controller, Get, Header, Headers, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { register } from 'prom-client';
import { DataSource } from 'typeorm';
import { ApiError } from './common/decorators/api-error.decorator';
import { AppException } from './common/errors/app.exception';
import { ErrorCode } from './common/errors/error-code.enum';
import {
  dbPoolIdle,
  dbPoolSize,
  dbPoolWaiting,
  outboxOldestPendingSeconds,
  outboxPending,
} from './common/metrics/metrics';
import { APP_CONFIG, type AppConfig } from './config/app-config';
import { Public } from './tenancy/access/access.decorator';

/**
 * `GET /metrics` (API.md section 15): prom-client's registry in the Prometheus text format, the
 * gauges that describe this copy and its database read at each scrape. With METRICS_TOKEN set,
 * only `Authorization: Bearer <METRICS_TOKEN>` may read it. Composition, not a feature: it
 * reads the pool and the outbox directly.
 */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @Public()
  @Header('Content-Type', register.contentType)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Prometheus metrics (Bearer METRICS_TOKEN when it is set)',
    description:
      'Process and event-loop metrics, http_request_duration_seconds{method,route,status} (route templates), the database pool, the outbox, events published, webhook deliveries, notifications, circuit breakers, login attempts, cache hits and misses.',
  })
  // The media type on the 200 alone (ApiProduces would give the JSON 401 text/plain too).
  @ApiOkResponse({
    description: 'The Prometheus text format',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @ApiError(401, [ErrorCode.UNAUTHENTICATED])
  async metrics(@Headers('authorization') authorization?: string): Promise<string> {
    const token = this.config.metricsToken;
    if (token && authorization !== `Bearer ${token}`) {
      throw AppException.unauthenticated('A valid metrics token is required');
    }
    await this.collect();
    return register.metrics();
  }

  /** The gauges read at scrape time: this copy's pool, and the outbox of the database. */
  private async collect(): Promise<void> {
    const pool = (this.dataSource.driver as unknown as { master?: Pool }).master;
    if (pool) {
      dbPoolSize.set(pool.totalCount);
      dbPoolIdle.set(pool.idleCount);
      dbPoolWaiting.set(pool.waitingCount);
    }
    const [outbox] = await this.dataSource.query<{ pending: number; oldest: number }[]>(
      `SELECT count(*)::int AS pending,
              coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest
         FROM events WHERE published_at IS NULL`,
    );
    outboxPending.set(outbox.pending);
    outboxOldestPendingSeconds.set(outbox.oldest);
  }
}
