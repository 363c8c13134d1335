import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Broker } from '../broker';
import { ConsumerRegistry } from './consumer-registry';
import { QueueConsumers } from './queue-consumers';
import { TableConsumers } from './table-consumers';

/**
 * Starts the in-app consumers on their transport: their RabbitMQ queues when AMQP_URL is set,
 * the consumer_messages table otherwise (docs/decisions/0031). The table's workers run in every
 * copy, also with RabbitMQ (one cheap indexed poll per consumer and RELAY_POLL_MS when idle): what
 * a copy without AMQP_URL dispatched there while AMQP_URL was being switched on is still handled,
 * and its dead letters can be requeued. Consumers stop first at shutdown (a message being handled
 * finishes; the others wait for the next start or another copy).
 */
@Injectable()
export class EventConsumers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(EventConsumers.name);

  constructor(
    private readonly registry: ConsumerRegistry,
    private readonly broker: Broker,
    private readonly table: TableConsumers,
    private readonly queues: QueueConsumers,
  ) {}

  onApplicationBootstrap(): void {
    const { consumers } = this.registry;
    if (this.broker.enabled) this.queues.start(consumers);
    this.table.start(consumers);
    const names = consumers.map((c) => c.name).join(', ') || 'none';
    this.logger.log(
      `event consumers (${names}) read from ${this.broker.enabled ? 'their RabbitMQ queues' : 'PostgreSQL'}`,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([this.queues.stop(), this.table.stop()]);
  }
}
