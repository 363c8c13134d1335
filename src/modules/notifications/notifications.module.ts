import { Module } from '@nestjs/common';
import { NotificationPreferencesController } from './notification-preferences.controller';
import {
  NotificationsController,
  NotificationTemplatesController,
} from './notifications.controller';
import { NotificationsConsumer } from './notifications.consumer';
import { NotificationsService } from './notifications.service';
import { Notifier } from './notifier';
import { NotificationMetrics } from './sending/notification-metrics';
import { NotificationSender } from './sending/notification-sender';

/**
 * Notifications (API.md section 14, docs/decisions/0037): the consumer of domain events that
 * writes in-app notifications and send rows, the sender that delivers emails and text messages
 * (with retries and a circuit breaker per channel), the notification, preference and template
 * endpoints. Exports the Notifier (for the webhooks module: `webhookDisabled`) and the counters
 * meant for /metrics.
 */
@Module({
  controllers: [
    NotificationsController,
    NotificationTemplatesController,
    NotificationPreferencesController,
  ],
  providers: [
    NotificationsService,
    NotificationMetrics,
    NotificationSender,
    Notifier,
    NotificationsConsumer,
  ],
  exports: [Notifier, NotificationMetrics],
})
export class NotificationsModule {}
