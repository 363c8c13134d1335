import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EVENT_RECORDER } from '../tenancy/unit-of-work';
import { Broker } from './broker';
import { ConsumerRegistry } from './consumers/consumer-registry';
import { EventConsumers } from './consumers/event-consumers';
import { QueueConsumers } from './consumers/queue-consumers';
import { TableConsumers } from './consumers/table-consumers';
import { EventsController } from './events.controller';
import { EventRetention } from './event-retention';
import { EventsService } from './events.service';
import { OutboxRecorder } from './outbox.recorder';
import { EventRelay } from './relay';

/**
 * Domain events (API.md section 12): the outbox recorder the unit of work hands every
 * transaction's events to, the event log API and its retention, the relay (to RabbitMQ when
 * AMQP_URL is set, else to the in-app consumers' table) and the in-app consumers (providers
 * marked @Consumer anywhere in the application).
 */
@Global()
@Module({
  imports: [DiscoveryModule],
  controllers: [EventsController],
  providers: [
    EventsService,
    EventRetention,
    Broker,
    EventRelay,
    ConsumerRegistry,
    TableConsumers,
    QueueConsumers,
    EventConsumers,
    { provide: EVENT_RECORDER, useClass: OutboxRecorder },
  ],
  exports: [EVENT_RECORDER],
})
export class EventsModule {}
