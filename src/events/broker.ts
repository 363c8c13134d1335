import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  connect,
  type AmqpConnectionManager,
  type ChannelWrapper,
  type CreateChannelOpts,
} from 'amqp-connection-manager';
import { APP_CONFIG, type AppConfig } from '../config/app-config';

export const EVENT_CONTENT_TYPE = 'application/cloudevents+json';

/**
 * The names on the broker, under AMQP_NAMESPACE (`crm` by default, the names of API.md section
 * 12; another namespace lets two deployments, or test runs, share one virtual host).
 */
export class AmqpNames {
  /** The durable topic exchange every event is published to, routing key = its type. */
  readonly exchange: string;
  /** Where a message that failed EVENT_MAX_ATTEMPTS times goes, with its last error. */
  readonly deadLetterExchange: string;
  readonly deadLetterQueue: string;

  constructor(readonly namespace = 'crm') {
    this.exchange = `${namespace}.events`;
    this.deadLetterExchange = `${namespace}.events.dlx`;
    this.deadLetterQueue = `${namespace}.events.dlq`;
  }

  /** A consumer's durable queue, bound to the exchange with its types. */
  consumerQueue(consumer: string): string {
    return `${this.namespace}.consumer.${consumer}`;
  }

  /** Where a consumer's message waits before attempt `attempt + 1` (equal delays per queue). */
  retryQueue(consumer: string, attempt: number): string {
    return `${this.consumerQueue(consumer)}.retry.${attempt}`;
  }
}

/** The names of the default namespace: `crm.events`, `crm.events.dlx`, `crm.events.dlq`. */
export const EVENTS_EXCHANGE = new AmqpNames().exchange;

/**
 * The one RabbitMQ connection of a copy (when AMQP_URL is set), shared by the relay and the
 * in-app consumers: amqp-connection-manager reconnects it and re-runs each channel's setup.
 * Users `acquire` it and `release` it at shutdown; the last release closes it.
 */
@Injectable()
export class Broker {
  private readonly logger = new Logger(Broker.name);
  private manager?: AmqpConnectionManager;
  private users = 0;
  private down = false;
  readonly names: AmqpNames;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.names = new AmqpNames(config.amqpNamespace);
  }

  get enabled(): boolean {
    return this.config.amqpUrl !== null;
  }

  /** The connection, opened on the first call. */
  acquire(): AmqpConnectionManager {
    const url = this.config.amqpUrl;
    if (!url) throw new Error('Broker: AMQP_URL is not set');
    this.users += 1;
    if (this.manager) return this.manager;
    const manager = connect([url], { heartbeatIntervalInSeconds: 5, reconnectTimeInSeconds: 1 });
    manager.on('connect', () => {
      if (this.down) this.logger.log(`RabbitMQ ${where(url)} is back`);
      this.down = false;
    });
    const lost = ({ err }: { err?: Error }): void => {
      if (this.down || !this.users) return;
      this.down = true;
      this.logger.warn(
        `RabbitMQ ${where(url)} unreachable (${err?.message ?? 'connection closed'}): events wait in the outbox, consumers pause, until it is back`,
      );
    };
    manager.on('disconnect', lost);
    manager.on('connectFailed', lost);
    this.manager = manager;
    return manager;
  }

  /**
   * A channel on the connection (acquire it first) that logs its errors; amqp-connection-manager
   * reopens it and re-runs its setup after a reconnect.
   */
  channel(name: string, options: CreateChannelOpts): ChannelWrapper {
    if (!this.manager) throw new Error('Broker: acquire() the connection first');
    const channel = this.manager.createChannel({ name, ...options });
    channel.on('error', (error: Error) => this.logger.warn(`${name}: ${error.message}`));
    return channel;
  }

  async release(): Promise<void> {
    this.users = Math.max(0, this.users - 1);
    if (this.users || !this.manager) return;
    const manager = this.manager;
    this.manager = undefined;
    await manager.close().catch(() => undefined);
  }
}

/** The broker's address without credentials, for logs. */
export function where(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(AMQP_URL)';
  }
}
