import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { createClient } from '@redis/client';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';

const CHANNEL = 'crm:invalidate';

/** `topic` names what changed; `key` which one. `reset`: messages may have been lost. */
export type InvalidationHandler = (key: string | null) => void;

/**
 * Tells every app copy that something a copy caches has changed (a membership, a role's
 * permissions, an API key revoked), so that each drops its copy at once (API.md section 16:
 * revocation is effective at once on every copy).
 *
 * With REDIS_URL, messages go through Redis pub/sub. A copy whose subscription is not up (Redis
 * unreachable, reconnecting) cannot know what it missed, so `live` is false meanwhile and callers
 * must not trust their caches; when the subscription comes back every handler is told `reset`.
 * Without REDIS_URL there is one copy (or copies that share nothing but the database: see the
 * README), the bus is local and always live.
 */
@Injectable()
export class InvalidationBus implements OnModuleDestroy {
  private readonly logger = new Logger('InvalidationBus');
  private readonly handlers = new Map<string, Set<InvalidationHandler>>();
  private readonly publisher?: ReturnType<typeof createClient>;
  private readonly subscriber?: ReturnType<typeof createClient>;
  private subscribed = false;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    if (!config.redisUrl) return;
    const options = {
      url: config.redisUrl,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 1000,
        reconnectStrategy: (retries: number) => Math.min(100 * retries, 2000),
      },
    };
    this.publisher = createClient(options);
    this.subscriber = createClient(options);
    this.publisher.on('error', () => undefined);
    this.subscriber.on('error', () => this.lost());
    this.subscriber.on('end', () => this.lost());
    this.subscriber.on('ready', () => void this.subscribe());
    void this.publisher.connect().catch(() => undefined);
    void this.subscriber.connect().catch(() => this.lost());
  }

  /** True when every change published by any copy reaches this one. */
  get live(): boolean {
    return !this.subscriber || this.subscribed;
  }

  on(topic: string, handler: InvalidationHandler): void {
    const set = this.handlers.get(topic) ?? new Set();
    set.add(handler);
    this.handlers.set(topic, set);
  }

  /** Tells this copy at once, and the others through Redis. */
  async publish(topic: string, key: string): Promise<void> {
    this.deliver(topic, key);
    if (!this.publisher?.isReady) return;
    try {
      await this.publisher.publish(CHANNEL, JSON.stringify({ topic, key }));
    } catch (error) {
      this.logger.warn(`could not publish ${topic}: ${(error as Error).message}`);
    }
  }

  onModuleDestroy(): void {
    this.publisher?.destroy();
    this.subscriber?.destroy();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber!.subscribe(CHANNEL, (message) => {
        try {
          const { topic, key } = JSON.parse(message) as { topic: string; key: string };
          this.deliver(topic, key);
        } catch {
          // not ours
        }
      });
      this.subscribed = true;
      // Whatever changed while the subscription was down is unknown: start afresh.
      for (const topic of this.handlers.keys()) this.deliver(topic, null);
    } catch {
      this.lost();
    }
  }

  private lost(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    this.logger.warn('invalidation channel lost: caches of memberships and keys are bypassed');
  }

  private deliver(topic: string, key: string | null): void {
    for (const handler of this.handlers.get(topic) ?? []) handler(key);
  }
}
