import { Module } from '@nestjs/common';
import { WebhookDispatcher } from './webhook-dispatcher';
import { WebhooksConsumer } from './webhooks.consumer';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** Webhook endpoints, their deliveries and the dispatcher that sends them (API.md section 13). */
@Module({
  controllers: [WebhooksController],
  providers: [WebhooksService, WebhooksConsumer, WebhookDispatcher],
})
export class WebhooksModule {}
