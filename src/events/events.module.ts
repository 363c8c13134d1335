import { Global, Module } from '@nestjs/common';
import { EVENT_RECORDER } from '../tenancy/unit-of-work';
import { EventsController } from './events.controller';
import { EventRetention } from './event-retention';
import { EventsService } from './events.service';
import { OutboxRecorder } from './outbox.recorder';
import { EventRelay } from './relay';

/**
 * Domain events (API.md section 12): the outbox recorder the unit of work hands every
 * transaction's events to, the event log API and its retention, and the relay to RabbitMQ
 * (active only when AMQP_URL is set).
 */
@Global()
@Module({
  controllers: [EventsController],
  providers: [
    EventsService,
    EventRetention,
    EventRelay,
    { provide: EVENT_RECORDER, useClass: OutboxRecorder },
  ],
  exports: [EVENT_RECORDER],
})
export class EventsModule {}
