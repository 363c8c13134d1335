import { Injectable } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { AppException, type ErrorDetail } from '../../common/errors/app.exception';
import { CursorCodec } from '../../common/pagination/cursor.codec';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { selectAs } from '../../common/pagination/select-as';
import type { Actor } from '../../tenancy/actor';
import { UnitOfWork } from '../../tenancy/unit-of-work';
import { DEFAULT_TEMPLATES } from './default-templates';
import {
  type NotificationDto,
  type NotificationListQueryDto,
  type NotificationRow,
  toNotificationDto,
} from './dto/notification.dto';
import type {
  NotificationPreferencesDto,
  NotificationPreferencesInputDto,
} from './dto/notification-preferences.dto';
import type {
  NotificationTemplateDto,
  NotificationTemplateInputDto,
  NotificationTemplateListQueryDto,
} from './dto/notification-template.dto';
import { Notification } from './notification.entity';
import {
  effectivePreferences,
  isChannel,
  isKind,
  NOTIFICATION_CHANNELS,
  NOTIFICATION_KINDS,
  type NotificationChannel,
  type NotificationKind,
  type NotificationPreferences,
  variablesOf,
} from './notification-kinds';
import { NotificationPreference } from './notification-preference.entity';
import { NotificationTemplate } from './notification-template.entity';
import { templateProblems } from './template-engine';

const NOTIFICATION_COLUMNS = [
  'id',
  'kind',
  'title',
  'body',
  'eventId',
  'readAt',
  'createdAt',
] as const;

/** The columns of a notification, as an UPDATE ... RETURNING reads them back. */
const RETURNED_COLUMNS =
  'id, kind, title, body, event_id AS "eventId", read_at AS "readAt", created_at AS "createdAt"';

/** Kinds that must stay on for a channel (a password reset is always emailed). */
const ALWAYS_ON: Partial<Record<NotificationChannel, NotificationKind[]>> = {
  email: ['password.reset'],
};

/**
 * The API of notifications (API.md section 14): a user's in-app notifications in the current
 * organization, their preferences (per user, every organization), and the organization's
 * templates (overrides of the shipped defaults).
 */
@Injectable()
export class NotificationsService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly cursors: CursorCodec,
  ) {}

  /** The caller's notifications in the organization, newest first; `unread` only unread ones. */
  list(actor: Actor, query: NotificationListQueryDto): Promise<ListResult<NotificationDto>> {
    const reader = this.uow.read(actor);
    const unread = query.unread === true;
    const notifications = reader
      .query(Notification, 'n')
      .select(selectAs('n', NOTIFICATION_COLUMNS))
      .andWhere('n.user_id = :me', { me: actor.userId });
    if (unread) notifications.andWhere('n.read_at IS NULL');
    return reader.list(
      notifications,
      query,
      { column: 'n.created_at', type: 'timestamptz', id: 'n.id' },
      // The list is the caller's own: cursors are bound to the user, not only the organization.
      { endpoint: 'notifications', orderBy: query.orderBy, filters: { unread, me: actor.userId } },
      (row: NotificationRow) => toNotificationDto(row),
    );
  }

  /** Marks one of the caller's notifications read (once: a second call keeps the first time). */
  async markRead(actor: Actor, id: string): Promise<NotificationDto> {
    return this.uow.run(actor, async (tx) => {
      const result = await tx
        .repo(Notification)
        .updateQuery({ readAt: () => 'COALESCE(read_at, now())' })
        .andWhere('id = :id AND user_id = :me', { id, me: actor.userId })
        .returning(RETURNED_COLUMNS)
        .execute();
      const [row] = result.raw as NotificationRow[];
      if (!row) throw AppException.notFound('Notification');
      return toNotificationDto(row);
    });
  }

  /** Marks every unread notification of the caller in the organization read. */
  async markAllRead(actor: Actor): Promise<void> {
    await this.uow.run(actor, (tx) =>
      tx
        .repo(Notification)
        .updateQuery({ readAt: () => 'now()' })
        .andWhere('user_id = :me AND read_at IS NULL', { me: actor.userId })
        .execute(),
    );
  }

  async preferences(userId: string): Promise<NotificationPreferencesDto> {
    const row = await this.uow.systemRead().repo(NotificationPreference).findOneBy({ userId });
    return effectivePreferences(row);
  }

  /**
   * Replaces the user's preferences: the kinds given take the given value, the others their
   * default. Turning off a kind that must stay on (password.reset by email) is refused.
   */
  async setPreferences(
    userId: string,
    input: NotificationPreferencesInputDto,
  ): Promise<NotificationPreferencesDto> {
    const problems: ErrorDetail[] = [];
    for (const [channel, kinds] of Object.entries(ALWAYS_ON)) {
      const given = input[channel as NotificationChannel] as Record<string, unknown> | undefined;
      for (const kind of kinds) {
        if (given?.[kind] === false) {
          problems.push({
            field: `${channel}.${kind}`,
            message: `${channel}.${kind} cannot be turned off (a password reset is always emailed)`,
          });
        }
      }
    }
    if (problems.length) throw AppException.validation(problems);
    const stored: NotificationPreferences = effectivePreferences({
      email: { ...input.email },
      inApp: { ...input.inApp },
      sms: { ...input.sms },
    });
    try {
      await this.uow.system((tx) =>
        tx
          .repo(NotificationPreference)
          .upsert({ userId, email: stored.email, inApp: stored.inApp, sms: stored.sms }, [
            'userId',
          ]),
      );
    } catch (error) {
      // A well-signed token of an account that no longer exists: not a caller.
      if (
        error instanceof QueryFailedError &&
        (error.driverError as { code?: string }).code === '23503'
      ) {
        throw AppException.unauthenticated('The account of this token does not exist');
      }
      throw error;
    }
    return stored;
  }

  /** The templates that apply to the organization (overrides, else defaults), as one list. */
  async listTemplates(
    actor: Actor,
    query: NotificationTemplateListQueryDto,
  ): Promise<ListResult<NotificationTemplateDto>> {
    const overrides = await this.uow.read(actor).repo(NotificationTemplate).findBy({});
    const items: NotificationTemplateDto[] = NOTIFICATION_KINDS.flatMap((kind) =>
      NOTIFICATION_CHANNELS.map((channel) => {
        const own = overrides.find((t) => t.kind === kind && t.channel === channel);
        const { subject, body } = own ?? DEFAULT_TEMPLATES[kind][channel];
        return { kind, channel, subject, body, isDefault: !own };
      }),
    );
    if (query.order === 'desc') items.reverse();
    return this.page(items, query, actor);
  }

  async putTemplate(
    actor: Actor,
    kind: string,
    channel: string,
    input: NotificationTemplateInputDto,
  ): Promise<NotificationTemplateDto> {
    const [k, c] = this.assertTemplate(kind, channel);
    const subject = input.subject ?? null;
    const problems: ErrorDetail[] = [];
    if (c === 'sms' && subject !== null) {
      problems.push({ field: 'subject', message: 'subject must be absent or null for sms' });
    } else if (c !== 'sms' && subject === null) {
      problems.push({
        field: 'subject',
        message: `subject is required for ${c} (the ${c === 'email' ? 'subject' : 'title'})`,
      });
    }
    const variables = variablesOf(k);
    if (subject !== null) problems.push(...templateProblems('subject', subject, variables));
    problems.push(...templateProblems('body', input.body, variables));
    if (problems.length) {
      throw AppException.validation(
        problems,
        `Invalid template; the variables of ${k} are: ${variables.join(', ')}`,
      );
    }
    await this.uow.run(actor, (tx) =>
      tx
        .repo(NotificationTemplate)
        .insertQuery([{ kind: k, channel: c, subject, body: input.body }])
        .orUpdate(['subject', 'body', 'updated_at'], ['organization_id', 'kind', 'channel'])
        .execute(),
    );
    return { kind: k, channel: c, subject, body: input.body, isDefault: false };
  }

  /** Removes the organization's override: the shipped default applies again. */
  async deleteTemplate(actor: Actor, kind: string, channel: string): Promise<void> {
    const [k, c] = this.assertTemplate(kind, channel);
    await this.uow.run(actor, (tx) =>
      tx.repo(NotificationTemplate).delete({ kind: k, channel: c }),
    );
  }

  /** An unknown kind or channel in the path names no template: 404. */
  private assertTemplate(kind: string, channel: string): [NotificationKind, NotificationChannel] {
    if (!isKind(kind) || !isChannel(channel)) throw AppException.notFound('Notification template');
    return [kind, channel];
  }

  /**
   * A page of a list computed here (the templates: 24 rows, defaults merged with overrides), with
   * the answers of API.md section 1: offset pages with `total`, or keyset pages whose cursor
   * names the last item (signed and bound to this listing like the paginator's).
   */
  private page(
    items: NotificationTemplateDto[],
    query: NotificationTemplateListQueryDto,
    actor: Actor,
  ): ListResult<NotificationTemplateDto> {
    const keyOf = (t: NotificationTemplateDto): string => `${t.kind}/${t.channel}`;
    if (!query.isKeyset) {
      const page = query.page ?? 1;
      const pageSize = query.pageSize ?? 20;
      const start = (page - 1) * pageSize;
      return { items: items.slice(start, start + pageSize), total: items.length, page, pageSize };
    }
    const scope = JSON.stringify([
      'notification-templates',
      actor.organizationId,
      query.orderBy,
      query.order,
    ]);
    let start = 0;
    if (query.cursor) {
      const { id } = this.cursors.decode(scope, query.cursor);
      const at = items.findIndex((t) => keyOf(t) === id);
      if (at < 0) {
        throw AppException.validation(
          [{ field: 'cursor', message: 'cursor names no template' }],
          'Invalid cursor',
        );
      }
      start = at + 1;
    }
    const limit = query.limit ?? 20;
    const slice = items.slice(start, start + limit);
    const last = slice[slice.length - 1];
    const nextCursor =
      start + limit < items.length && last
        ? this.cursors.encode(scope, { key: keyOf(last), id: keyOf(last) })
        : null;
    return { items: slice, nextCursor };
  }
}
