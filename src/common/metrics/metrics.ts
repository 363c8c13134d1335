import { collectDefaultMetrics, Counter, Gauge, Histogram, register } from 'prom-client';

/**
 * The application's Prometheus series (API.md section 15), in prom-client's default registry,
 * which `GET /metrics` will serve (the operations issue). One registration per process: app
 * copies inside one process (the tests) share the series, as they would share a registry.
 */
function counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = register.getSingleMetric(name);
  return (existing as Counter<L> | undefined) ?? new Counter({ name, help, labelNames });
}

function gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
  const existing = register.getSingleMetric(name);
  return (existing as Gauge<L> | undefined) ?? new Gauge({ name, help, labelNames });
}

/** Webhook delivery attempts by outcome: `succeeded`, `retry` (failed, retried later), `failed` (for good). */
export const webhookDeliveries = counter(
  'crm_webhook_deliveries_total',
  'Webhook delivery attempts by outcome',
  ['status'],
);

/** Notifications by channel (`inApp`, `email`, `sms`) and outcome (`sent`, `retry`, `failed`). */
export const notificationsTotal = counter(
  'crm_notifications_total',
  'Notifications written or sent, attempts retried and sends given up, by channel',
  ['channel', 'status'],
);

/** 1 while a notification channel's circuit breaker is open in this copy. */
export const circuitBreakerOpen = gauge(
  'crm_circuit_breaker_open',
  'Whether the circuit breaker of a notification channel is open (1) in this copy',
  ['channel'],
);

// Process and event-loop metrics of prom-client's default collector, once per process.
if (!register.getSingleMetric('process_cpu_seconds_total')) collectDefaultMetrics();

function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: L[],
  buckets: number[],
): Histogram<L> {
  const existing = register.getSingleMetric(name);
  return (
    (existing as Histogram<L> | undefined) ?? new Histogram({ name, help, labelNames, buckets })
  );
}

/**
 * HTTP requests by method, route template (`/api/v1/deals/:id`, never the raw URL: bounded
 * cardinality; `unmatched` for a path no route serves) and status code.
 */
export const httpRequestDuration = histogram(
  'http_request_duration_seconds',
  'Duration of HTTP requests by method, route template and status',
  ['method', 'route', 'status'],
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
);

/** Domain events handed on: to RabbitMQ (confirmed) or, without it, to the in-app consumers. */
export const eventsPublished = counter(
  'crm_events_published_total',
  'Domain events published (confirmed by RabbitMQ, or handed to the in-app consumers)',
  [],
);

/** Logins by result: `success`, `failure` (wrong email or password), `rate_limited`. */
export const loginAttempts = counter('crm_login_attempts_total', 'Login attempts by result', [
  'result',
]);

/** Lookups of the tenant cache by kind (`analytics`, `total`). */
export const cacheHits = counter('crm_cache_hits_total', 'Tenant cache hits by kind', ['kind']);
export const cacheMisses = counter('crm_cache_misses_total', 'Tenant cache misses by kind', [
  'kind',
]);

/** The outbox: events recorded and not yet published, and the age of the oldest (this database). */
export const outboxPending = gauge('crm_outbox_pending', 'Domain events not yet published', []);
export const outboxOldestPendingSeconds = gauge(
  'crm_outbox_oldest_pending_seconds',
  'Age of the oldest domain event not yet published (0 when none)',
  [],
);

/** The PostgreSQL connection pool of this copy. */
export const dbPoolSize = gauge('crm_db_pool_size', 'Connections open in the pool', []);
export const dbPoolIdle = gauge('crm_db_pool_idle', 'Idle connections in the pool', []);
export const dbPoolWaiting = gauge(
  'crm_db_pool_waiting',
  'Queries waiting for a connection of the pool',
  [],
);

/** 1 while this copy counts rate limits in its own memory because Redis is unreachable. */
export const rateLimitDegraded = gauge(
  'crm_rate_limit_degraded',
  'Whether this copy counts rate limits locally because Redis is unreachable (1)',
  [],
);

/**
 * Retention jobs (API.md section 16) by job: runs by outcome (`ran`, `skipped`: another copy
 * held the job's lock, `failed`), rows deleted, and when the job last ran to the end (unix seconds).
 */
export const retentionRuns = counter(
  'crm_retention_runs_total',
  'Retention job runs by job and outcome (ran, skipped, failed)',
  ['job', 'outcome'],
);
export const retentionDeletedRows = counter(
  'crm_retention_deleted_rows_total',
  'Rows deleted by the retention jobs, by job',
  ['job'],
);
export const retentionLastSuccess = gauge(
  'crm_retention_last_success_timestamp_seconds',
  'When each retention job last ran to the end in this copy (unix seconds)',
  ['job'],
);
