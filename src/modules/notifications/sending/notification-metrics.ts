import { Injectable } from '@nestjs/common';
import { circuitBreakerOpen, notificationsTotal } from '../../../common/metrics/metrics';
import type { NotificationChannel, SendChannel } from '../notification-kinds';

/** What became of a notification on a channel. */
export type NotificationOutcome = 'sent' | 'retry' | 'failed';

/**
 * The notification series of API.md section 15: each count also goes to the prom-client series
 * of the process (`src/common/metrics/metrics.ts`, which `/metrics` will serve); this copy's own
 * numbers are kept here for the tests (several copies share a process in them).
 * - `crm_notifications_total{channel,status}`: in-app notifications written (`inApp`, `sent`),
 *   emails and text messages sent, attempts that failed and will be retried, sends given up;
 * - `crm_circuit_breaker_open{channel}`: 1 while a channel's breaker is open in this copy.
 */
@Injectable()
export class NotificationMetrics {
  private readonly totals = new Map<string, number>();
  private readonly open = new Map<SendChannel, number>();

  count(channel: NotificationChannel, status: NotificationOutcome, n = 1): void {
    if (n <= 0) return;
    const key = `${channel}|${status}`;
    this.totals.set(key, (this.totals.get(key) ?? 0) + n);
    notificationsTotal.inc({ channel, status }, n);
  }

  breakerOpen(channel: SendChannel, open: boolean): void {
    this.open.set(channel, open ? 1 : 0);
    circuitBreakerOpen.set({ channel }, open ? 1 : 0);
  }

  /** `crm_notifications_total` with this channel and status. */
  total(channel: NotificationChannel, status: NotificationOutcome): number {
    return this.totals.get(`${channel}|${status}`) ?? 0;
  }

  /** `crm_circuit_breaker_open` of this channel. */
  isOpen(channel: SendChannel): number {
    return this.open.get(channel) ?? 0;
  }

  /** Every series, as a metrics endpoint would list them. */
  snapshot(): {
    crm_notifications_total: { channel: string; status: string; value: number }[];
    crm_circuit_breaker_open: { channel: string; value: number }[];
  } {
    return {
      crm_notifications_total: [...this.totals].map(([key, value]) => {
        const [channel, status] = key.split('|');
        return { channel, status, value };
      }),
      crm_circuit_breaker_open: [...this.open].map(([channel, value]) => ({ channel, value })),
    };
  }
}
