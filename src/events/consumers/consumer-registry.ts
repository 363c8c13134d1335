import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { checkConsumer, Consumer, type EventHandler, type RegisteredConsumer } from './consumer';

/** The @Consumer providers of the application, found once at start-up. */
@Injectable()
export class ConsumerRegistry implements OnModuleInit {
  consumers: RegisteredConsumer[] = [];

  constructor(private readonly discovery: DiscoveryService) {}

  onModuleInit(): void {
    this.consumers = this.discovery
      .getProviders({ metadataKey: Consumer.KEY })
      .flatMap((wrapper) => {
        const options = this.discovery.getMetadataByDecorator(Consumer, wrapper);
        const handler = wrapper.instance as EventHandler | undefined;
        if (!options || !handler) return [];
        checkConsumer(options);
        return [{ ...options, handler }];
      });
    const names = this.consumers.map((c) => c.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new Error(`two event consumers are named ${twice}`);
  }
}
