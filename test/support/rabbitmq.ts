import { connect as amqpConnect, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { AmqpNames } from '../../src/events/broker';
import { ConsumerRegistry } from '../../src/events/consumers/consumer-registry';
import { RABBITMQ_ENV } from './database';
import { type Proxy, tcpProxy } from './tcp-proxy';
import type { TestApp } from './test-app';

/** The real RabbitMQ the relay tests run against (the global setup checked that it answers). */
export const AMQP_URL = process.env[RABBITMQ_ENV] ?? 'amqp://guest:guest@127.0.0.1:5672';

/** `describe` when a RabbitMQ answered in the global setup, else `describe.skip`. */
export const describeOnRabbitMq = process.env[RABBITMQ_ENV] ? describe : describe.skip;

export interface Capture {
  /** Every message received, in arrival order. */
  messages: ConsumeMessage[];
  /** Waits until `done(messages)` holds (polling), or fails after `timeoutMs`. */
  until: (done: (messages: ConsumeMessage[]) => boolean, timeoutMs?: number) => Promise<void>;
  close: () => Promise<void>;
}

/** An exclusive, auto-deleted queue bound to `exchange` with `#`, consumed into an array. */
export async function capture(exchange: string): Promise<Capture> {
  const connection: ChannelModel = await amqpConnect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, '#');
  const messages: ConsumeMessage[] = [];
  await channel.consume(queue, (message) => message && messages.push(message), { noAck: true });
  return {
    messages,
    until: async (done, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!done(messages)) {
        if (Date.now() > deadline) throw new Error(`timed out with ${messages.length} messages`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () => connection.close(),
  };
}

/** A TCP proxy to the broker that the test can cut and restore. */
export function brokerProxy(): Promise<Proxy> {
  return tcpProxy(AMQP_URL, 5672);
}

/** Every queue an app declares in its namespace: its consumers' queues and retry queues, the dead letters. */
export function queuesOf(t: TestApp, names: AmqpNames): string[] {
  const { maxAttempts } = t.config.consumers;
  return [
    names.deadLetterQueue,
    ...t.app
      .get(ConsumerRegistry)
      .consumers.flatMap(({ name }) => [
        names.consumerQueue(name),
        ...Array.from({ length: maxAttempts - 1 }, (_, i) => names.retryQueue(name, i + 1)),
      ]),
  ];
}

/** Deletes a test's namespace (its `queues` and exchanges): the broker is left as it was. */
export async function dropNamespace(names: AmqpNames, queues: string[]): Promise<void> {
  const connection = await amqpConnect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    await channel.deleteExchange(names.exchange);
    await channel.deleteExchange(names.deadLetterExchange);
  } finally {
    await connection.close();
  }
}
