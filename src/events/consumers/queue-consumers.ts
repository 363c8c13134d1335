import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { AmqpNames, Broker, EVENT_CONTENT_TYPE } from '../broker';
import type { EventEnvelope } from '../envelope';
import { HANDLER_TIMEOUT_MS } from './table-consumers';
import { bindingKey, errorLine, retryDelayMs, within, type RegisteredConsumer } from './consumer';

/** Unacknowledged messages RabbitMQ sends a consumer ahead (they are handled one by one). */
const PREFETCH = 20;

/** Headers the consumers set (`x-` as RabbitMQ's own). */
export const ATTEMPT_HEADER = 'x-attempt';
export const CONSUMER_HEADER = 'x-consumer';
export const LAST_ERROR_HEADER = 'x-last-error';
export const DEAD_AT_HEADER = 'x-dead-lettered-at';

/** The exchanges and queue of the dead letters, declared by every consumer and the CLI. */
export async function assertDeadLetters(channel: ConfirmChannel, names: AmqpNames): Promise<void> {
  await channel.assertExchange(names.deadLetterExchange, 'topic', { durable: true });
  await channel.assertQueue(names.deadLetterQueue, { durable: true });
  await channel.bindQueue(names.deadLetterQueue, names.deadLetterExchange, '#');
}

/**
 * The in-app consumers with RabbitMQ (API.md section 12, docs/decisions/0031): each consumer has
 * its durable queue bound to `crm.events` with its types and consumes it on its own channel, one
 * message at a time in arrival order. A failed attempt is acknowledged only once the message was
 * republished (with confirms) to a retry queue whose messages expire, after the backoff, back
 * into the consumer's queue; the attempt that reaches EVENT_MAX_ATTEMPTS republishes it to
 * `crm.events.dlx` (queue `crm.events.dlq`) with the consumer and the last error in its headers.
 * amqp-connection-manager re-declares everything and resumes consuming after a reconnect.
 */
@Injectable()
export class QueueConsumers {
  private readonly logger = new Logger(QueueConsumers.name);
  private channels: ChannelWrapper[] = [];
  private inFlight: Promise<void>[] = [];

  constructor(
    private readonly broker: Broker,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  start(consumers: RegisteredConsumer[]): void {
    if (!consumers.length) return;
    this.broker.acquire();
    this.channels = consumers.map((consumer) => this.consume(consumer));
  }

  async stop(): Promise<void> {
    if (!this.channels.length) return;
    await Promise.all(this.channels.map((c) => c.cancelAll().catch(() => undefined)));
    await Promise.all(this.inFlight);
    await Promise.all(this.channels.map((c) => c.close().catch(() => undefined)));
    this.channels = [];
    await this.broker.release();
  }

  private consume(consumer: RegisteredConsumer): ChannelWrapper {
    const { maxAttempts } = this.config.consumers;
    const { names } = this.broker;
    const queue = names.consumerQueue(consumer.name);
    const channel = this.broker.channel(`consumer ${consumer.name}`, {
      confirm: true,
      setup: async (ch: ConfirmChannel) => {
        await ch.assertExchange(names.exchange, 'topic', { durable: true });
        await assertDeadLetters(ch, names);
        await ch.assertQueue(queue, {
          durable: true,
          deadLetterExchange: names.deadLetterExchange,
        });
        for (const type of consumer.types) {
          await ch.bindQueue(queue, names.exchange, bindingKey(type));
        }
        for (let attempt = 1; attempt < maxAttempts; attempt += 1) {
          await ch.assertQueue(names.retryQueue(consumer.name, attempt), {
            durable: true,
            deadLetterExchange: '',
            deadLetterRoutingKey: queue,
          });
        }
      },
    });
    // Handled one after another, in the order RabbitMQ delivers them.
    let chain = Promise.resolve();
    void channel.consume(
      queue,
      (message) => {
        const done = chain.then(() => this.deliver(channel, consumer, message));
        chain = done;
        this.inFlight.push(done);
        void done.finally(() => (this.inFlight = this.inFlight.filter((p) => p !== done)));
      },
      { prefetch: PREFETCH },
    );
    return channel;
  }

  private async deliver(
    channel: ChannelWrapper,
    consumer: RegisteredConsumer,
    message: ConsumeMessage,
  ): Promise<void> {
    const attempt = Number(message.properties.headers?.[ATTEMPT_HEADER] ?? 1) || 1;
    try {
      const envelope = JSON.parse(message.content.toString()) as EventEnvelope;
      await within(HANDLER_TIMEOUT_MS, consumer.handler.handle(envelope, { attempt }));
    } catch (error) {
      try {
        await this.failed(channel, consumer.name, message, attempt, errorLine(error));
      } catch (republish) {
        // Not acknowledged: RabbitMQ delivers it again (this attempt is repeated).
        this.logger.warn(`consumer ${consumer.name}: ${(republish as Error).message}`);
        return;
      }
    }
    try {
      channel.ack(message);
    } catch {
      // The channel was lost meanwhile: the message is delivered again (at least once).
    }
  }

  private async failed(
    channel: ChannelWrapper,
    consumer: string,
    message: ConsumeMessage,
    attempt: number,
    error: string,
  ): Promise<void> {
    const { maxAttempts, retryBaseMs } = this.config.consumers;
    const { properties } = message;
    const dead = attempt >= maxAttempts;
    const options: Options.Publish = {
      persistent: true,
      messageId: properties.messageId as string | undefined,
      type: properties.type as string | undefined,
      contentType: (properties.contentType as string | undefined) ?? EVENT_CONTENT_TYPE,
      headers: {
        ...properties.headers,
        [CONSUMER_HEADER]: consumer,
        [ATTEMPT_HEADER]: dead ? attempt : attempt + 1,
        [LAST_ERROR_HEADER]: error,
        ...(dead ? { [DEAD_AT_HEADER]: new Date().toISOString() } : {}),
      },
    };
    const about = `consumer ${consumer}, event ${String(properties.messageId)} (${String(properties.type)}), attempt ${attempt}/${maxAttempts}: ${error}`;
    const { names } = this.broker;
    if (dead) {
      const routingKey = (properties.type as string | undefined) ?? message.fields.routingKey;
      await channel.publish(names.deadLetterExchange, routingKey, message.content, options);
      this.logger.error(`dead-lettered: ${about}`);
      return;
    }
    const delayMs = retryDelayMs(attempt, retryBaseMs);
    await channel.sendToQueue(names.retryQueue(consumer, attempt), message.content, {
      ...options,
      expiration: String(delayMs),
    });
    this.logger.warn(`${about}; next attempt in ${delayMs} ms`);
  }
}
