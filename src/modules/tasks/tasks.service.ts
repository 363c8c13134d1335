import { Injectable } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { type EventType, subjectOf } from '../../events/catalog';
import type { Actor } from '../../tenancy/actor';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { selectAs } from '../../common/pagination/select-as';
import { assertPrecondition } from '../../tenancy/precondition';
import { type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { ActivitiesService } from '../activities/activities.service';
import { ActivityType } from '../activities/activity.enums';
import { Deal } from '../deals/deal.entity';
import { CreateTaskDto, TaskListQueryDto, UpdateTaskDto } from './dto/task-input.dto';
import { TaskDto } from './dto/task.dto';
import { todayUtc } from './task-dates';
import { Task } from './task.entity';

const TASK_COLUMNS = [
  'id',
  'dealId',
  'title',
  'description',
  'isDone',
  'createdAt',
  'updatedAt',
] as const;

/** A task's representation as a raw select; the due date as text (no JS Date, no time-zone shift). */
export const taskSelection = (alias: string): string[] => [
  ...selectAs(alias, TASK_COLUMNS),
  `to_char(${alias}.due_date, 'YYYY-MM-DD') AS "dueDate"`,
];

const ORDER = {
  createdAt: { column: 't.created_at', type: 'timestamptz', id: 't.id' },
  dueDate: { column: 't.due_date', type: 'date', id: 't.id' },
} as const;

const dueDateInPast = (today: string): AppException =>
  AppException.unprocessable(
    ErrorCode.DUE_DATE_IN_PAST,
    `dueDate must be today (${today}, UTC) or later`,
  );

/** The domain events of task writes (API.md section 12): `data` is `{ task }` as GET answers it. */
const TASK_EVENT = {
  created: 'crm.task.created.v1',
  updated: 'crm.task.updated.v1',
  completed: 'crm.task.completed.v1',
  deleted: 'crm.task.deleted.v1',
} as const satisfies Record<string, EventType>;

/** The fields of a task PATCH may change. */
const CHANGEABLE = ['title', 'description', 'dueDate', 'isDone'] as const;

/**
 * A changed task: `task.updated` (previous: the changed fields) for fields other than a task
 * becoming done, then `task.completed` (previous: {isDone: false}) when it became done; only
 * `task.completed` when nothing else changed. Un-doing a task is a plain update.
 */
function emitTaskChanged(tx: TenantTx, before: TaskDto, after: TaskDto): void {
  const changed = CHANGEABLE.filter((key) => before[key] !== after[key]);
  const completed = changed.includes('isDone') && after.isDone;
  const updated = completed ? changed.filter((key) => key !== 'isDone') : changed;
  const subject = subjectOf('tasks', after.id);
  const previousOf = (keys: readonly (typeof CHANGEABLE)[number][]): Partial<TaskDto> =>
    Object.fromEntries(keys.map((key) => [key, before[key]]));
  if (updated.length) {
    tx.emit(TASK_EVENT.updated, subject, { task: after, previous: previousOf(updated) });
  }
  if (completed) {
    tx.emit(TASK_EVENT.completed, subject, { task: after, previous: previousOf(['isDone']) });
  }
}

/** 422 DUE_DATE_IN_PAST unless `dueDate` (YYYY-MM-DD) is today (UTC) or later. */
function assertNotInPast(dueDate: string): void {
  const today = todayUtc();
  if (dueDate < today) throw dueDateInPast(today);
}

/**
 * Tasks (API.md section 7): the only writer of the tasks table. A task is visible when its deal
 * is: only a member's visibility depends on the deal (its owner), so the unit of work joins the
 * deal for members only, which keeps list counts a plain count(*) over tasks for the other
 * roles (docs/performance.md).
 */
@Injectable()
export class TasksService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly activities: ActivitiesService,
  ) {}

  list(actor: Actor, query: TaskListQueryDto): Promise<ListResult<TaskDto>> {
    const reader = this.uow.read(actor);
    const tasks = reader.visible(Task, 't').select(taskSelection('t'));
    const { dealId, isDone, dueBefore, dueAfter, overdue } = query;
    if (dealId) tasks.andWhere('t.deal_id = :dealId', { dealId });
    if (isDone !== undefined) tasks.andWhere('t.is_done = :isDone', { isDone });
    if (dueBefore) tasks.andWhere('t.due_date <= CAST(:dueBefore AS date)', { dueBefore });
    if (dueAfter) tasks.andWhere('t.due_date >= CAST(:dueAfter AS date)', { dueAfter });
    if (overdue !== undefined) {
      const condition = 'NOT t.is_done AND t.due_date < CAST(:today AS date)';
      tasks.andWhere(overdue ? condition : `NOT (${condition})`, { today: todayUtc() });
    }
    return reader.list(
      tasks,
      query,
      ORDER[query.orderBy],
      {
        endpoint: 'tasks',
        orderBy: query.orderBy,
        filters: { dealId, isDone, dueBefore, dueAfter, overdue },
      },
      (row: Task) => TaskDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<TaskDto> {
    return TaskDto.from(await this.uow.read(actor).readVisible(Task, id, taskSelection));
  }

  /**
   * The deal must be visible (404), then the due date must not be in the past (422). The task
   * and its `task_created` activity commit together. The deal row is locked so that a concurrent
   * delete of the deal answers 404 here rather than failing the foreign key.
   */
  async create(actor: Actor, input: CreateTaskDto): Promise<TaskDto> {
    const task = await this.uow.run(actor, async (tx) => {
      const deal = await tx.findVisible(Deal, input.dealId, { lock: 'pessimistic_write' });
      assertNotInPast(input.dueDate);
      const created = await tx.repo(Task).save(
        tx.repo(Task).create({
          dealId: deal.id,
          title: input.title,
          description: input.description ?? null,
          dueDate: input.dueDate,
        }),
      );
      this.activities.record(tx, [
        {
          dealId: deal.id,
          authorId: actor.userId,
          type: ActivityType.TASK_CREATED,
          payload: { taskId: created.id, title: created.title },
        },
      ]);
      // The task_created activity is part of this change: one task.created event.
      tx.emit(TASK_EVENT.created, subjectOf('tasks', created.id), { task: TaskDto.from(created) });
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
    const task = await this.uow.run(actor, async (tx) => {
      const task = await tx.findVisible(Task, id, { lock: 'pessimistic_write' });
      assertPrecondition(actor, 'Task', task);
      if (input.dueDate !== undefined && input.dueDate !== task.dueDate) {
        assertNotInPast(input.dueDate);
      }
      const before = TaskDto.from(task);
      if (input.title !== undefined) task.title = input.title;
      if (input.description !== undefined) task.description = input.description;
      if (input.dueDate !== undefined) task.dueDate = input.dueDate;
      if (input.isDone !== undefined) task.isDone = input.isDone;
      // Setting what is already there is a no-op: nothing written, no event.
      if (CHANGEABLE.every((key) => TaskDto.from(task)[key] === before[key])) return task;
      const saved = await tx.repo(Task).save(task);
      emitTaskChanged(tx, before, TaskDto.from(saved));
      return saved;
    });
    return TaskDto.from(task);
  }

  async remove(actor: Actor, id: string): Promise<void> {
    await this.uow.run(actor, async (tx) => {
      const task = await tx.findVisible(Task, id, { lock: 'pessimistic_write' });
      assertPrecondition(actor, 'Task', task);
      await tx.repo(Task).delete({ id: task.id });
      tx.emit(TASK_EVENT.deleted, subjectOf('tasks', task.id), { task: TaskDto.from(task) });
    });
  }
}
