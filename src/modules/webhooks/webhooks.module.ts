import { Module } from '@nestjs/common';
import { NotificationsModule } from '../notifications/notifications.module';
import { Notifier } from '../notifications/notifier';
import { WEBHOOK_DISABLED_NOTIFIER, WebhookDispatcher } from './webhook-dispatcher';
import { WebhooksConsumer } from './webhooks.consumer';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/** Webhook endpoints, their deliveries and the dispatcher that sends them (API.md section 13). */
@Module({
  imports: [NotificationsModule],
  controllers: [WebhooksController],
  providers: [
    WebhooksService,
    WebhooksConsumer,
    WebhookDispatcher,
    // The owners are told when an endpoint is disabled (API.md sections 13 and 14).
    { provide: WEBHOOK_DISABLED_NOTIFIER, useExisting: Notifier },
  ],
})
export class WebhooksModule {}
