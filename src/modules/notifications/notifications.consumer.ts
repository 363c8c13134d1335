import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { Consumer, type EventHandler } from '../../events/consumers/consumer';
import type { EventEnvelope } from '../../events/envelope';
import { systemActor } from '../../tenancy/actor';
import { withShapeSql } from '../../common/pagination/sql-shapes';
import { type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { Deal } from '../deals/deal.entity';
import { NotificationSend } from './notification-send.entity';
import { NOTIFYING_EVENTS, type NotificationKind } from './notification-kinds';
import { type Occasion, Notifier } from './notifier';

type Resource = Record<string, unknown>;

/** A field of an event's resource as template text (strings and numbers; anything else is absent). */
const text = (value: unknown): string | null =>
  typeof value === 'string' || typeof value === 'number' ? String(value) : null;

/** The fields of an event's resource the notifications use (as GET returns it). */
interface EventData {
  user?: { id: string; name: string; email: string };
  member?: { userId: string; name: string; email: string; role: string };
  lead?: Resource & { ownerId: string };
  deal?: Resource & { id: string; ownerId: string };
  task?: Resource & { dealId: string };
}

/**
 * Whether an event may notify anyone at all, from its envelope alone: no transaction is opened
 * for the others (a transaction in the organization invalidates its cached answers).
 */
function concerns(kind: NotificationKind, event: EventEnvelope): boolean {
  const data = event.data as EventData;
  switch (kind) {
    case 'user.registered':
      return !!data.user;
    case 'member.added':
      return !!data.member && data.member.userId !== event.actorid;
    case 'lead.created':
      return !!data.lead && data.lead.ownerId !== event.actorid;
    case 'deal.won':
    case 'deal.lost':
      return !!data.deal;
    case 'task.created':
      return !!data.task;
    default:
      return false;
  }
}

/**
 * Who is notified of an event, and with what (API.md section 14's table), or null for nobody.
 * "When the creator is someone else": nobody when the recipient is the event's actor. A member
 * added by themselves (the creator of an organization, at registration too) is not told.
 */
type Plan = Omit<Occasion, 'kind' | 'dedupeKey' | 'eventId' | 'requestId'>;

/**
 * The notifications' consumer of domain events: per event and recipient, in one transaction,
 * the in-app notification and the send rows its preferences ask for (Notifier). Idempotent by
 * event id: the rows are unique per event, user and channel, so a redelivery or a replay writes
 * nothing twice.
 */
@Injectable()
@Consumer({ name: 'notifications', types: Object.keys(NOTIFYING_EVENTS) })
export class NotificationsConsumer implements EventHandler {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly notifier: Notifier,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async handle(event: EventEnvelope): Promise<void> {
    const kind = (NOTIFYING_EVENTS as Record<string, NotificationKind | undefined>)[event.type];
    if (!kind || !concerns(kind, event)) return;
    await this.uow.system(async (sys) => {
      // The event's organization, seen by the system (nothing is emitted there).
      const tx = sys.tenant(systemActor(event.organizationid, event.requestid));
      const plan = await this.plan(tx, kind, event);
      if (!plan) return;
      await this.notifier.notify(
        tx,
        async (rows) => {
          await sys
            .repo(NotificationSend)
            .createQueryBuilder()
            .insert()
            .values(rows)
            .orIgnore()
            .execute();
        },
        {
          ...plan,
          kind,
          dedupeKey: `event:${event.id}`,
          eventId: event.id,
          requestId: event.requestid,
        },
      );
    });
  }

  private async plan(
    tx: TenantTx,
    kind: NotificationKind,
    event: EventEnvelope,
  ): Promise<Plan | null> {
    const data = event.data as EventData;
    const actorId = event.actorid;
    const names = (ids: (string | null | undefined)[]) => this.notifier.namesOf(tx, ids);
    switch (kind) {
      case 'user.registered': {
        const { user } = data;
        if (!user) return null;
        return { recipients: [user.id], values: { userName: user.name, userEmail: user.email } };
      }
      case 'member.added': {
        const { member } = data;
        if (!member || member.userId === actorId) return null;
        const known = await names([actorId]);
        return {
          recipients: [member.userId],
          values: {
            memberName: member.name,
            memberEmail: member.email,
            role: member.role,
            addedByName: actorId ? (known.get(actorId) ?? null) : null,
          },
        };
      }
      case 'lead.created': {
        const { lead } = data;
        if (!lead || lead.ownerId === actorId) return null;
        const known = await names([actorId]);
        return {
          recipients: [lead.ownerId],
          values: {
            leadName: text(lead.name),
            leadEmail: text(lead.email),
            leadCompanyName: text(lead.companyName),
            leadSource: text(lead.source),
            createdByName: actorId ? (known.get(actorId) ?? null) : null,
          },
        };
      }
      case 'deal.won':
      case 'deal.lost': {
        const { deal } = data;
        if (!deal) return null;
        const known = await names([actorId, deal.ownerId]);
        const values = {
          dealTitle: text(deal.title),
          dealAmount: text(deal.amount),
          dealCurrency: text(deal.currency),
          dealOwnerName: known.get(deal.ownerId) ?? null,
          closedByName: actorId ? (known.get(actorId) ?? null) : null,
        };
        if (kind === 'deal.lost') {
          const survey = new URL(`${this.config.publicUrl}/surveys/deal-lost`);
          survey.searchParams.set('organizationId', event.organizationid);
          survey.searchParams.set('dealId', deal.id);
          return {
            recipients: [deal.ownerId],
            values: { ...values, lostReason: text(deal.lostReason), surveyUrl: survey.toString() },
          };
        }
        // The deal's owner and the organization's owners (once each).
        const owners = await this.notifier.ownersOf(tx);
        return { recipients: [deal.ownerId, ...owners], values };
      }
      case 'task.created': {
        const { task } = data;
        if (!task) return null;
        // The deal as it is now: deleted since (its tasks with it), nobody is told.
        const deal = await withShapeSql(
          tx.query(Deal, 'd').andWhere('d.id = :dealId', { dealId: task.dealId }),
          'notifications:task-deal',
        ).getOne();
        if (!deal || deal.ownerId === actorId) return null;
        const known = await names([actorId]);
        return {
          recipients: [deal.ownerId],
          values: {
            taskTitle: text(task.title),
            taskDueDate: text(task.dueDate),
            dealTitle: deal.title,
            createdByName: actorId ? (known.get(actorId) ?? null) : null,
          },
        };
      }
      default:
        return null;
    }
  }
}
