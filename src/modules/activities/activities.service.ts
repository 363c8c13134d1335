import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, type QueryDeepPartialEntity } from 'typeorm';
import type { Actor } from '../../common/http/request-context';
import type { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { Paginator } from '../../common/pagination/paginator';
import { selectAs } from '../../common/pagination/select-as';
import { DealAccess } from '../deals/deal-access';
import { Activity } from './activity.entity';
import { ActivityType } from './activity.enums';
import { ActivityDto, CreateActivityDto } from './dto/activity.dto';

const COLUMNS = ['id', 'dealId', 'authorId', 'type', 'payload', 'createdAt'] as const;

export interface NewActivity {
  organizationId: string;
  dealId: string;
  authorId: string | null;
  type: ActivityType;
  payload: Record<string, unknown>;
}

@Injectable()
export class ActivitiesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly paginator: Paginator,
    private readonly deals: DealAccess,
  ) {}

  /**
   * Records activities inside the caller's transaction (they commit with the change). `at` (a
   * PostgreSQL timestamptz as text) is their created_at, default the transaction's start; all
   * activities of one call share it.
   */
  async record(manager: EntityManager, activities: NewActivity[], at?: string): Promise<void> {
    if (!activities.length) return;
    const values: QueryDeepPartialEntity<Activity>[] = activities.map((a) => ({
      ...a,
      // needed by tsc (a Record<string, unknown> is no deep-partial entity), not seen by the rule
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
      payload: a.payload as object,
      ...(at === undefined ? {} : { createdAt: () => 'CAST(:at AS timestamptz)' }),
    }));
    const insert = manager.createQueryBuilder().insert().into(Activity).values(values);
    if (at !== undefined) insert.setParameter('at', at);
    await insert.execute();
  }

  /** A deal's timeline, newest first (ties by id). The deal must be visible (404 otherwise). */
  async list(actor: Actor, dealId: string, query: ListQueryDto): Promise<ListResult<ActivityDto>> {
    await this.deals.findVisible(this.dataSource.manager, actor, dealId);
    const activities = this.dataSource
      .getRepository(Activity)
      .createQueryBuilder('a')
      .select(selectAs('a', COLUMNS))
      .where('a.organization_id = :organizationId AND a.deal_id = :dealId', {
        organizationId: actor.organizationId,
        dealId,
      });
    return this.paginator.list(
      activities,
      query,
      { column: 'a.created_at', type: 'timestamptz', id: 'a.id' },
      { endpoint: `activities:${dealId}`, actor, orderBy: 'createdAt' },
      (row: Activity) => ActivityDto.from(row),
    );
  }

  async comment(actor: Actor, dealId: string, input: CreateActivityDto): Promise<ActivityDto> {
    return this.dataSource.transaction(async (manager) => {
      await this.deals.findVisible(manager, actor, dealId);
      const activity = await manager.save(
        manager.create(Activity, {
          organizationId: actor.organizationId,
          dealId,
          authorId: actor.userId,
          type: ActivityType.COMMENT,
          payload: { text: input.payload.text },
        }),
      );
      return ActivityDto.from(activity);
    });
  }
}
