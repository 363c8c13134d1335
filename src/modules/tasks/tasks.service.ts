import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, type SelectQueryBuilder } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../common/http/request-context';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { Paginator } from '../../common/pagination/paginator';
import { selectAs } from '../../common/pagination/select-as';
import { seesWholeOrganization, visibleTo } from '../../common/visibility/visibility';
import { ActivitiesService } from '../activities/activities.service';
import { ActivityType } from '../activities/activity.enums';
import { DealAccess } from '../deals/deal-access';
import { CreateTaskDto, TaskListQueryDto, UpdateTaskDto } from './dto/task-input.dto';
import { TaskDto } from './dto/task.dto';
import { todayUtc } from './task-dates';
import { Task } from './task.entity';

const COLUMNS = [
  'id',
  'dealId',
  'title',
  'description',
  'isDone',
  'createdAt',
  'updatedAt',
] as const;

const ORDER = {
  createdAt: { column: 't.created_at', type: 'timestamptz', id: 't.id' },
  dueDate: { column: 't.due_date', type: 'date', id: 't.id' },
} as const;

const dueDateInPast = (today: string): AppException =>
  AppException.unprocessable(
    ErrorCode.DUE_DATE_IN_PAST,
    `dueDate must be today (${today}, UTC) or later`,
  );

/** 422 DUE_DATE_IN_PAST unless `dueDate` (YYYY-MM-DD) is today (UTC) or later. */
function assertNotInPast(dueDate: string): void {
  const today = todayUtc();
  if (dueDate < today) throw dueDateInPast(today);
}

@Injectable()
export class TasksService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly paginator: Paginator,
    private readonly deals: DealAccess,
    private readonly activities: ActivitiesService,
  ) {}

  list(actor: Actor, query: TaskListQueryDto): Promise<ListResult<TaskDto>> {
    const tasks = this.visible(this.dataSource.manager, actor).select([
      ...selectAs('t', COLUMNS),
      // The calendar date as text: no JS Date, no time-zone shift.
      `to_char(t.due_date, 'YYYY-MM-DD') AS "dueDate"`,
    ]);
    const { dealId, isDone, dueBefore, dueAfter, overdue } = query;
    if (dealId) tasks.andWhere('t.deal_id = :dealId', { dealId });
    if (isDone !== undefined) tasks.andWhere('t.is_done = :isDone', { isDone });
    if (dueBefore) tasks.andWhere('t.due_date <= CAST(:dueBefore AS date)', { dueBefore });
    if (dueAfter) tasks.andWhere('t.due_date >= CAST(:dueAfter AS date)', { dueAfter });
    if (overdue !== undefined) {
      const condition = 'NOT t.is_done AND t.due_date < CAST(:today AS date)';
      tasks.andWhere(overdue ? condition : `NOT (${condition})`, { today: todayUtc() });
    }
    return this.paginator.list(
      tasks,
      query,
      ORDER[query.orderBy],
      {
        endpoint: 'tasks',
        actor,
        orderBy: query.orderBy,
        filters: { dealId, isDone, dueBefore, dueAfter, overdue },
      },
      (row: Task) => TaskDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<TaskDto> {
    return TaskDto.from(await this.findVisible(this.dataSource.manager, actor, id));
  }

  /**
   * The deal must be visible (404), then the due date must not be in the past (422). The task
   * and its `task_created` activity commit together. The deal row is locked so that a concurrent
   * delete of the deal answers 404 here rather than failing the foreign key.
   */
  async create(actor: Actor, input: CreateTaskDto): Promise<TaskDto> {
    const task = await this.dataSource.transaction(async (manager) => {
      const deal = await this.deals.findVisible(manager, actor, input.dealId, true);
      assertNotInPast(input.dueDate);
      const created = await manager.save(
        manager.create(Task, {
          organizationId: actor.organizationId,
          dealId: deal.id,
          title: input.title,
          description: input.description ?? null,
          dueDate: input.dueDate,
        }),
      );
      await this.activities.record(manager, [
        {
          organizationId: actor.organizationId,
          dealId: deal.id,
          authorId: actor.userId,
          type: ActivityType.TASK_CREATED,
          payload: { taskId: created.id, title: created.title },
        },
      ]);
      return created;
    });
    return TaskDto.from(task);
  }

  /**
   * PATCH (any subset of title, description, dueDate, isDone). The task row is locked for the
   * transaction, so concurrent changes apply one after the other. Only a changed dueDate must
   * be today or later: an overdue task can still be edited (e.g. marked done) by a client that
   * sends its current dueDate back.
   */
  async update(actor: Actor, id: string, input: UpdateTaskDto): Promise<TaskDto> {
    const task = await this.dataSource.transaction(async (manager) => {
      const task = await this.findVisible(manager, actor, id, true);
      if (input.dueDate !== undefined && input.dueDate !== task.dueDate) {
        assertNotInPast(input.dueDate);
      }
      if (input.title !== undefined) task.title = input.title;
      if (input.description !== undefined) task.description = input.description;
      if (input.dueDate !== undefined) task.dueDate = input.dueDate;
      if (input.isDone !== undefined) task.isDone = input.isDone;
      return manager.save(task);
    });
    return TaskDto.from(task);
  }

  async remove(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const task = await this.findVisible(manager, actor, id, true);
      await manager.delete(Task, { id: task.id });
    });
  }

  /** The task if its deal is visible to the actor; 404 otherwise. `lock` locks the task row. */
  private async findVisible(
    manager: EntityManager,
    actor: Actor,
    id: string,
    lock = false,
  ): Promise<Task> {
    const query = this.visible(manager, actor).andWhere('t.id = :id', { id });
    if (lock) query.setLock('pessimistic_write', undefined, ['t']);
    const task = await query.getOne();
    if (!task) throw AppException.notFound('Task');
    return task;
  }

  /**
   * Tasks of the actor's organization whose deal the actor may see (API.md section 4). Only a
   * member's visibility depends on the deal (its owner): for the other roles no join is made,
   * which keeps list counts a plain count(*) over tasks (docs/performance.md).
   */
  private visible(manager: EntityManager, actor: Actor): SelectQueryBuilder<Task> {
    const tasks = manager.getRepository(Task).createQueryBuilder('t');
    if (!seesWholeOrganization(actor)) tasks.innerJoin('t.deal', 'd');
    return visibleTo(tasks, actor, 't', 'd.owner_id');
  }
}
