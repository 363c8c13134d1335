import { Counter, register } from 'prom-client';

/**
 * The application's Prometheus series (API.md section 15), in prom-client's default registry,
 * which `GET /metrics` will serve (the operations issue). One registration per process: app
 * copies inside one process (the tests) share the series, as they would share a registry.
 */
function counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = register.getSingleMetric(name);
  return (existing as Counter<L> | undefined) ?? new Counter({ name, help, labelNames });
}

/** Webhook delivery attempts by outcome: `succeeded`, `retry` (failed, retried later), `failed` (for good). */
export const webhookDeliveries = counter(
  'crm_webhook_deliveries_total',
  'Webhook delivery attempts by outcome',
  ['status'],
);
