import { connect, type ConfirmChannel, type GetMessage, type Options } from 'amqplib';
import type { AmqpNames } from '../broker';
import {
  assertDeadLetters,
  ATTEMPT_HEADER,
  CONSUMER_HEADER,
  DEAD_AT_HEADER,
  LAST_ERROR_HEADER,
} from './queue-consumers';

/** A message that a consumer failed EVENT_MAX_ATTEMPTS times (`npm run events:dlq`). */
export interface DeadLetter {
  eventId: string;
  type: string;
  organizationId: string;
  consumer: string;
  attempts: number;
  lastError: string;
  deadAt: string;
}

/** What the dead letters are read with: a `pg` Client or Pool. */
export interface Queryable {
  query<R extends object>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

const COLUMNS = `event_id AS "eventId", type, organization_id AS "organizationId", consumer,
  attempts, coalesce(last_error, '') AS "lastError", to_json(dead_at) #>> '{}' AS "deadAt"`;

/**
 * The dead letters without RabbitMQ: consumer_messages rows with `dead_at` set (oldest first).
 * `ids`: only these events.
 */
export async function tableDeadLetters(db: Queryable, ids?: string[]): Promise<DeadLetter[]> {
  const { rows } = await db.query<DeadLetter>(
    `SELECT ${COLUMNS} FROM consumer_messages
      WHERE dead_at IS NOT NULL AND ($1::uuid[] IS NULL OR event_id = ANY($1::uuid[]))
      ORDER BY dead_at, id`,
    [ids ?? null],
  );
  return rows;
}

/** Gives dead letters (all, or these events') back to their consumers, with fresh attempts. */
export async function requeueTableDeadLetters(
  db: Queryable,
  ids?: string[],
): Promise<DeadLetter[]> {
  const { rows } = await db.query<DeadLetter>(
    `UPDATE consumer_messages SET dead_at = NULL, attempts = 0, available_at = now()
      WHERE dead_at IS NOT NULL AND ($1::uuid[] IS NULL OR event_id = ANY($1::uuid[]))
      RETURNING ${COLUMNS}`,
    [ids ?? null],
  );
  return rows;
}

const header = (message: GetMessage, name: string): unknown => message.properties.headers?.[name];
const text = (value: unknown, otherwise: string): string =>
  typeof value === 'string' ? value : otherwise;

/** The queue a dead letter came from: its consumer's, or the one RabbitMQ itself recorded. */
function sourceQueue(message: GetMessage, names: AmqpNames): string | null {
  const consumer = header(message, CONSUMER_HEADER);
  if (typeof consumer === 'string') return names.consumerQueue(consumer);
  const deaths = header(message, 'x-death') as { queue?: string }[] | undefined;
  return deaths?.[0]?.queue ?? null;
}

function deadLetterOf(message: GetMessage, names: AmqpNames): DeadLetter {
  const consumer = header(message, CONSUMER_HEADER);
  const queue = sourceQueue(message, names) ?? '';
  let organizationId = '';
  try {
    organizationId = (JSON.parse(message.content.toString()) as { organizationid: string })
      .organizationid;
  } catch {
    // not an envelope: shown without its organization
  }
  return {
    eventId: String(message.properties.messageId ?? ''),
    type: String(message.properties.type ?? message.fields.routingKey),
    organizationId,
    consumer: typeof consumer === 'string' ? consumer : queue,
    attempts: Number(header(message, ATTEMPT_HEADER) ?? 0),
    lastError: text(header(message, LAST_ERROR_HEADER), 'rejected by its queue'),
    deadAt: text(header(message, DEAD_AT_HEADER), ''),
  };
}

/**
 * Reads every message of the dead-letter queue without acknowledging it and hands them to
 * `work`; closing the channel afterwards puts back, in their order, those it did not ack.
 */
async function drain<T>(
  url: string,
  names: AmqpNames,
  work: (channel: ConfirmChannel, messages: GetMessage[]) => Promise<T>,
): Promise<T> {
  const connection = await connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    await assertDeadLetters(channel, names);
    const messages: GetMessage[] = [];
    for (;;) {
      const message = await channel.get(names.deadLetterQueue, { noAck: false });
      if (!message) break;
      messages.push(message);
    }
    const result = await work(channel, messages);
    await channel.close();
    return result;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** The dead letters in `crm.events.dlq` (they stay there). */
export function queueDeadLetters(
  url: string,
  names: AmqpNames,
  ids?: string[],
): Promise<DeadLetter[]> {
  return drain(url, names, (_, messages) =>
    Promise.resolve(
      messages.map((m) => deadLetterOf(m, names)).filter((d) => !ids || ids.includes(d.eventId)),
    ),
  );
}

/**
 * Republishes dead letters (all, or these events') to their consumer's queue with fresh
 * attempts, and removes them from `crm.events.dlq` once the broker confirmed the republish.
 */
export function requeueQueueDeadLetters(
  url: string,
  names: AmqpNames,
  ids?: string[],
): Promise<DeadLetter[]> {
  return drain(url, names, async (channel, messages) => {
    const requeued: [GetMessage, DeadLetter][] = [];
    for (const message of messages) {
      const letter = deadLetterOf(message, names);
      const queue = sourceQueue(message, names);
      if (!queue || (ids && !ids.includes(letter.eventId))) continue;
      const headers = { ...(message.properties.headers as Record<string, unknown>) };
      for (const name of [ATTEMPT_HEADER, LAST_ERROR_HEADER, DEAD_AT_HEADER, 'x-death']) {
        delete headers[name];
      }
      const options: Options.Publish = {
        persistent: true,
        messageId: message.properties.messageId as string | undefined,
        type: message.properties.type as string | undefined,
        contentType: message.properties.contentType as string | undefined,
        headers,
      };
      channel.sendToQueue(queue, message.content, options);
      requeued.push([message, letter]);
    }
    await channel.waitForConfirms();
    for (const [message] of requeued) channel.ack(message);
    return requeued.map(([, letter]) => letter);
  });
}
