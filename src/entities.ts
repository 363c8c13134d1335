import { IdempotencyKey } from './common/idempotency/idempotency-key.entity';
import { Activity } from './modules/activities/activity.entity';
import { Contact } from './modules/contacts/contact.entity';
import { Deal } from './modules/deals/deal.entity';
import { Task } from './modules/tasks/task.entity';
import { Company } from './modules/companies/company.entity';
import { Lead } from './modules/leads/lead.entity';
import { Pipeline } from './modules/pipelines/pipeline.entity';
import { AuditLog } from './modules/audit/audit-log.entity';
import { RefreshToken } from './modules/auth/refresh-token.entity';
import { PasswordResetToken } from './modules/auth/password-reset-token.entity';
import { OrganizationMember } from './tenancy/organization-member.entity';
import { Organization } from './tenancy/organization.entity';
import { CustomRole } from './tenancy/custom-role.entity';
import { ApiKey } from './tenancy/api-key.entity';
import { User } from './modules/users/user.entity';
import { EventRecord } from './events/event.entity';
import { ConsumerMessage } from './events/consumers/consumer-message.entity';
import { Webhook } from './modules/webhooks/webhook.entity';
import {
  WebhookDelivery,
  WebhookDeliveryAttempt,
} from './modules/webhooks/webhook-delivery.entity';
import { Notification } from './modules/notifications/notification.entity';
import { NotificationPreference } from './modules/notifications/notification-preference.entity';
import { NotificationSend } from './modules/notifications/notification-send.entity';
import { NotificationTemplate } from './modules/notifications/notification-template.entity';
import { SSO_ENTITIES } from './modules/sso/sso.entities';

export const ENTITIES = [
  User,
  Organization,
  OrganizationMember,
  CustomRole,
  ApiKey,
  RefreshToken,
  PasswordResetToken,
  AuditLog,
  Contact,
  Deal,
  Task,
  Activity,
  Company,
  Lead,
  Pipeline,
  EventRecord,
  ConsumerMessage,
  Webhook,
  WebhookDelivery,
  WebhookDeliveryAttempt,
  Notification,
  NotificationTemplate,
  NotificationPreference,
  NotificationSend,
  IdempotencyKey,
  ...SSO_ENTITIES,
];
