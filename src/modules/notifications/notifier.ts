import { Inject, Injectable, Logger } from '@nestjs/common';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { withShapeSql } from '../../common/pagination/sql-shapes';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { OrganizationMember } from '../../tenancy/organization-member.entity';
import { Organization } from '../../tenancy/organization.entity';
import { Role } from '../../tenancy/role';
import type { TenantTx } from '../../tenancy/unit-of-work';
import { DEFAULT_TEMPLATES, type TemplateText } from './default-templates';
import { Notification } from './notification.entity';
import {
  effectivePreferences,
  variablesOf,
  type NotificationChannel,
  type NotificationKind,
  type TemplateValues,
} from './notification-kinds';
import { NotificationPreference } from './notification-preference.entity';
import { NotificationSend } from './notification-send.entity';
import { NotificationTemplate } from './notification-template.entity';
import { NotificationMetrics } from './sending/notification-metrics';
import { NotificationSender } from './sending/notification-sender';
import { htmlToText, renderTemplate } from './template-engine';

/** Rows of notification_sends, as a notification writes them. */
export type SendRow = QueryDeepPartialEntity<NotificationSend>;

/**
 * Writes send rows in the notification's transaction (ON CONFLICT DO NOTHING). The consumer's
 * writes through its `uow.system` transaction; `webhookDisabled` through the caller's.
 */
export type SendWriter = (rows: SendRow[]) => Promise<void>;

/** One occasion to notify people of. */
export interface Occasion {
  kind: NotificationKind;
  /** Unique per occasion: `event:<id>`, or `<kind>:<organization>:<key>`. */
  dedupeKey: string;
  eventId: string | null;
  requestId: string | null;
  /** User ids (duplicates are notified once; users who are not members are skipped). */
  recipients: string[];
  /** The kind's own variables (KIND_VARIABLES); the common ones are added here. */
  values: TemplateValues;
}

interface Recipient {
  userId: string;
  name: string;
  email: string;
  phone: string | null;
  organizationName: string;
  email_prefs: Record<string, boolean> | null;
  in_app_prefs: Record<string, boolean> | null;
  sms_prefs: Record<string, boolean> | null;
}

/** An SMS is one to ten segments at most; longer texts are cut. */
const SMS_MAX = 1600;
const KEY_MAX = 200;

/** What `webhookDisabled` is told about the endpoint it disabled. */
export interface WebhookDisabledInput {
  /** At most one notification per key and organization (e.g. `<webhookId>:<disabledAt>`). */
  key: string;
  webhookId: string;
  url: string;
  reason: string;
}

/**
 * Turns an occasion into notifications (API.md section 14), inside the caller's transaction: per
 * recipient, the in-app notification when its in-app preference is on, and one send row per
 * external channel that is on (SMS only with a phone), each rendered from the organization's
 * template or the shipped default. Unique keys make it exactly once per occasion, recipient and
 * channel however often it runs (INSERT ... ON CONFLICT DO NOTHING). No network call here: the
 * sender sends the rows once the transaction has committed.
 */
@Injectable()
export class Notifier {
  private readonly logger = new Logger(Notifier.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: NotificationMetrics,
    private readonly sender: NotificationSender,
  ) {}

  /**
   * For the webhooks module (API.md section 13): an endpoint it disabled, told to the
   * organization's owners (in-app and email by default; their preferences decide), at most once
   * per `key`, in the caller's transaction `tx` (it commits, or not, with the disabling).
   */
  async webhookDisabled(tx: TenantTx, input: WebhookDisabledInput): Promise<void> {
    if (!input.key || input.key.length > KEY_MAX) {
      throw new Error(`webhookDisabled: key must be 1..${KEY_MAX} characters`);
    }
    const owners = await this.ownersOf(tx);
    await this.notify(tx, sendsInTransactionOf(tx), {
      kind: 'webhook.disabled',
      dedupeKey: `webhook.disabled:${tx.actor.organizationId}:${input.key}`,
      eventId: null,
      requestId: tx.actor.requestId || null,
      recipients: owners,
      values: {
        webhookId: input.webhookId,
        webhookUrl: input.url,
        reason: input.reason,
      },
    });
  }

  /** Writes the occasion's notifications and send rows in `tx`; nothing when nobody is left. */
  async notify(tx: TenantTx, writeSends: SendWriter, occasion: Occasion): Promise<void> {
    const ids = [...new Set(occasion.recipients.filter(Boolean))];
    if (!ids.length) return;
    // Members only (someone removed since the event is not told; a deleted organization has none).
    const recipients = await this.recipients(tx, ids);
    if (!recipients.length) return;
    const organization = { id: tx.actor.organizationId, name: recipients[0].organizationName };
    const overrides = await withShapeSql(
      tx.query(NotificationTemplate, 't').andWhere('t.kind = :kind', { kind: occasion.kind }),
      'notifications:templates',
    ).getMany();
    const templateOf = (
      channel: NotificationChannel,
    ): { custom?: TemplateText; fallback: TemplateText } => {
      const row = overrides.find((t) => t.channel === channel);
      return {
        custom: row ? { subject: row.subject, body: row.body } : undefined,
        fallback: DEFAULT_TEMPLATES[occasion.kind][channel],
      };
    };
    const { kind, dedupeKey, eventId, requestId } = occasion;
    const notifications: QueryDeepPartialEntity<Omit<Notification, 'organizationId'>>[] = [];
    const sends: SendRow[] = [];
    for (const person of recipients) {
      const preferences = effectivePreferences({
        email: person.email_prefs ?? undefined,
        inApp: person.in_app_prefs ?? undefined,
        sms: person.sms_prefs ?? undefined,
      });
      const values = this.valuesFor(kind, occasion.values, {
        recipientName: person.name,
        organizationName: organization.name,
        appUrl: this.config.publicUrl,
      });
      const render = (channel: NotificationChannel): { subject: string; body: string } =>
        this.render(kind, channel, templateOf(channel), values);
      if (preferences.inApp[kind]) {
        const { subject, body } = render('inApp');
        notifications.push({
          userId: person.userId,
          kind,
          title: subject,
          body,
          eventId,
          dedupeKey,
        });
      }
      const common = {
        organizationId: organization.id,
        userId: person.userId,
        kind,
        dedupeKey,
        eventId,
        requestId,
      };
      if (preferences.email[kind]) {
        const { subject, body } = render('email');
        sends.push({
          ...common,
          channel: 'email',
          recipient: person.email,
          subject: subject.replace(/[\r\n]+/g, ' ').trim(),
          body,
          textBody: htmlToText(body),
        });
      }
      if (preferences.sms[kind] && person.phone) {
        const { body } = render('sms');
        sends.push({
          ...common,
          channel: 'sms',
          recipient: person.phone,
          subject: null,
          body: body.slice(0, SMS_MAX),
          textBody: null,
        });
      }
    }
    if (notifications.length) {
      const written = await tx
        .repo(Notification)
        .insertMany(notifications, ['id'], { orIgnore: true });
      this.metrics.count('inApp', 'sent', written.length);
    }
    if (sends.length) {
      await writeSends(sends);
      tx.afterCommit(() => this.sender.wakeUp());
    }
  }

  /** Display names of users who are members of the transaction's organization. */
  async namesOf(tx: TenantTx, ids: (string | null | undefined)[]): Promise<Map<string, string>> {
    const wanted = [...new Set(ids.filter((id): id is string => !!id))];
    if (!wanted.length) return new Map();
    const query = tx
      .query(OrganizationMember, 'm')
      .innerJoin('m.user', 'u')
      .select(['m.user_id AS "userId"', 'u.name AS name'])
      .andWhere('m.user_id = ANY(CAST(:wanted AS uuid[]))', { wanted });
    const rows = await withShapeSql(query, 'notifications:names').getRawMany<{
      userId: string;
      name: string;
    }>();
    return new Map(rows.map((r) => [r.userId, r.name]));
  }

  /** The user ids of the organization's owners. */
  async ownersOf(tx: TenantTx): Promise<string[]> {
    const query = tx
      .query(OrganizationMember, 'm')
      .andWhere('m.role = :ownerRole', { ownerRole: Role.OWNER });
    const owners = await withShapeSql(query, 'notifications:owners').getMany();
    return owners.map((m) => m.userId);
  }

  /**
   * The recipients who are members of the organization, with their addresses, preferences and
   * the organization's name. Background work shares the database with requests: each query here
   * has one SQL text (generated once, docs/decisions/0034), whatever the number of recipients.
   */
  private recipients(tx: TenantTx, ids: string[]): Promise<Recipient[]> {
    const query = tx
      .query(OrganizationMember, 'm')
      .innerJoin('m.user', 'u')
      .innerJoin(Organization, 'o', 'o.id = m.organization_id')
      .leftJoin(NotificationPreference, 'p', 'p.user_id = m.user_id')
      .select([
        'm.user_id AS "userId"',
        'u.name AS name',
        'u.email AS email',
        'u.phone AS phone',
        'o.name AS "organizationName"',
        'p.email AS email_prefs',
        'p.in_app AS in_app_prefs',
        'p.sms AS sms_prefs',
      ])
      .andWhere('m.user_id = ANY(CAST(:ids AS uuid[]))', { ids })
      .orderBy('m.user_id');
    return withShapeSql(query, 'notifications:recipients').getRawMany<Recipient>();
  }

  /** Every variable of the kind (strict rendering), null where nothing is known. */
  private valuesFor(
    kind: NotificationKind,
    own: TemplateValues,
    common: TemplateValues,
  ): TemplateValues {
    const all: TemplateValues = { ...own, ...common };
    return Object.fromEntries(variablesOf(kind).map((name) => [name, all[name] ?? null]));
  }

  /**
   * The organization's template, or the default when it has none, or when its own no longer
   * renders (a template saved under an older variable list): the notification is not lost.
   */
  private render(
    kind: NotificationKind,
    channel: NotificationChannel,
    template: { custom?: TemplateText; fallback: TemplateText },
    values: TemplateValues,
  ): { subject: string; body: string } {
    const html = channel === 'email';
    const apply = (t: TemplateText): { subject: string; body: string } => ({
      subject: t.subject === null ? '' : renderTemplate(t.subject, values, false),
      body: renderTemplate(t.body, values, html),
    });
    if (template.custom) {
      try {
        return apply(template.custom);
      } catch (error) {
        this.logger.warn(
          `template ${kind}/${channel} of the organization failed to render, default used: ${(error as Error).message}`,
        );
      }
    }
    return apply(template.fallback);
  }
}

/**
 * The send rows' writer inside a tenant transaction. notification_sends is not a tenant table
 * (TenantTx.repo refuses it) and a TenantTx has no SystemTx side, so this goes through a query
 * builder of the transaction itself: same connection, same transaction, nothing committed apart.
 * (A `system` accessor on TenantTx would say this more plainly: asked for in the issue.)
 */
function sendsInTransactionOf(tx: TenantTx): SendWriter {
  return async (rows) => {
    await tx
      .query(Notification, 'n')
      .createQueryBuilder()
      .insert()
      .into(NotificationSend)
      .values(rows)
      .orIgnore()
      .execute();
  };
}
