import { Counter, Gauge, register } from 'prom-client';

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
