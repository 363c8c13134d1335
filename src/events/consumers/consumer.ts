import { DiscoveryService } from '@nestjs/core';
import type { EventEnvelope } from '../envelope';

export interface ConsumerOptions {
  /** Stable and unique: names its queue (`crm.consumer.<name>`) and its dead letters. */
  name: string;
  /** The event types it receives: exact types, or a prefix ending in `*` (`crm.deal.*`). */
  types: readonly string[];
}

/** What a consumer is told besides the event: which attempt this is (1 the first time). */
export interface Delivery {
  attempt: number;
}

/**
 * An in-app consumer of domain events (API.md section 12, docs/decisions/0031): it receives
 * every event of its types at least once, from PostgreSQL or from its RabbitMQ queue, and must
 * be idempotent by `event.id`. A rejection is retried with backoff, then dead-lettered.
 */
export interface EventHandler {
  handle(event: EventEnvelope, delivery: Delivery): Promise<void>;
  /**
   * Optional: handles several events at once (first attempts, in order), as `handle` would one
   * by one, e.g. in one statement. Used where events arrive in batches (the consumers' table);
   * when it rejects, each event is handled alone by `handle` (so one bad event delays no other).
   */
  handleBatch?(events: EventEnvelope[]): Promise<void>;
}

/** Marks a provider implementing EventHandler as a consumer; found at start-up. */
export const Consumer = DiscoveryService.createDecorator<ConsumerOptions>();

export interface RegisteredConsumer extends ConsumerOptions {
  handler: EventHandler;
}

const NAME = /^[a-z][a-z0-9-]{1,62}$/;
const TYPE = /^crm(\.[a-z_]+)*(\.[a-z_0-9]+|\.\*)$/;

export function checkConsumer(options: ConsumerOptions): void {
  if (!NAME.test(options.name)) throw new Error(`consumer name "${options.name}": ${NAME}`);
  const bad = options.types.find((t) => !TYPE.test(t));
  if (bad !== undefined || !options.types.length) {
    throw new Error(`consumer ${options.name}: bad or no event types (${bad ?? 'none'})`);
  }
}

/** The delay before attempt `attempt + 1`: base, x4 each time, at most an hour. */
export const retryDelayMs = (attempt: number, baseMs: number): number =>
  Math.min(baseMs * 4 ** (attempt - 1), 3_600_000);

/** Whether an event type matches a type filter (`crm.deal.*` or exact). */
export const typeMatches = (filter: string, type: string): boolean =>
  filter.endsWith('*') ? type.startsWith(filter.slice(0, -1)) : type === filter;

/** A type filter (`crm.deal.*` or exact) as a SQL LIKE pattern (`_` is a wildcard there). */
export const likePattern = (type: string): string =>
  type.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*$/, '%');

/** A type filter as a RabbitMQ topic binding key (`#`: zero or more words). */
export const bindingKey = (type: string): string => type.replace(/\*$/, '#');

/** The rejection of a handler as one line for the logs and the dead letter. */
export const errorLine = (error: unknown): string =>
  (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 1000);

/** `work`, rejected after `ms`. */
export async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`handler timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
