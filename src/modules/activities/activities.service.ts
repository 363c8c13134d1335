import { Injectable } from '@nestjs/common';
import type { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { selectAs } from '../../common/pagination/select-as';
import { type EventType, subjectOf } from '../../events/catalog';
import type { Actor } from '../../tenancy/actor';
import { type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { Deal } from '../deals/deal.entity';
import { Activity } from './activity.entity';
import { ActivityType } from './activity.enums';
import { ActivityDto, CreateActivityDto } from './dto/activity.dto';

/** The columns of an activity's representation (timelines, `include=activities`). */
export const ACTIVITY_COLUMNS = [
  'id',
  'dealId',
  'authorId',
  'type',
  'payload',
  'createdAt',
] as const;

/** An activity to record (the scoped repository stamps its organization). */
export interface NewActivity {
  dealId: string;
  authorId: string | null;
  type: ActivityType;
  payload: Record<string, unknown>;
}

/**
 * A deal's timeline (API.md section 6): the only writer of the activities table. Deals, tasks
 * and lead conversion record their activities through `record`, inside their own transaction.
 */
@Injectable()
export class ActivitiesService {
  constructor(private readonly uow: UnitOfWork) {}

  /**
   * Records activities inside the caller's transaction (they commit with the change). `at` (a
   * PostgreSQL timestamptz as text) is their created_at, default the transaction's start; all
   * activities of one call share it.
   */
  record(tx: TenantTx, activities: NewActivity[], at?: string): void {
    // In the commit's round trip (nothing reads them back in the transaction). `at` is sent as
    // PostgreSQL wrote it, cast by PostgreSQL: to the microsecond (a JS Date keeps milliseconds
    // only, and the timeline's order needs more).
    tx.insertAtCommit(
      Activity,
      activities.map((a) => ({ ...a, ...(at === undefined ? {} : { createdAt: at }) })),
    );
  }

  /** A deal's timeline, newest first (ties by id). The deal must be visible (404 otherwise). */
  async list(actor: Actor, dealId: string, query: ListQueryDto): Promise<ListResult<ActivityDto>> {
    const reader = this.uow.read(actor);
    await reader.findVisible(Deal, dealId);
    const activities = reader
      .visible(Activity, 'a')
      .select(selectAs('a', ACTIVITY_COLUMNS))
      .andWhere('a.deal_id = :dealId', { dealId });
    return reader.list(
      activities,
      query,
      { column: 'a.created_at', type: 'timestamptz', id: 'a.id' },
      { endpoint: `activities:${dealId}`, orderBy: 'createdAt' },
      (row: Activity) => ActivityDto.from(row),
    );
  }

  async comment(actor: Actor, dealId: string, input: CreateActivityDto): Promise<ActivityDto> {
    return this.uow.run(actor, async (tx) => {
      await tx.findVisible(Deal, dealId);
      const activity = await tx.repo(Activity).save({
        dealId,
        authorId: actor.userId,
        type: ActivityType.COMMENT,
        payload: { text: input.payload.text },
      });
      const dto = ActivityDto.from(activity);
      tx.emit(
        'crm.activity.comment_added.v1' satisfies EventType,
        subjectOf('activities', activity.id),
        { activity: dto },
      );
      return dto;
    });
  }
}
