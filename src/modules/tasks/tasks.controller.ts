import { Body, Controller, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  TenantCreate,
  TenantDelete,
  TenantGet,
  TenantList,
  TenantPatch,
} from '../../tenancy/access/tenant-routes.decorator';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { ApiConditional } from '../../common/decorators/api-conditional.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../tenancy/actor';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { CreateTaskDto, TaskListQueryDto, UpdateTaskDto } from './dto/task-input.dto';
import { TaskDto } from './dto/task.dto';
import { TasksService } from './tasks.service';

const VISIBILITY =
  'A task is visible when its deal is: members see the tasks of deals they own; others answer 404.';
const DUE_DATE =
  '"Today" is the current UTC date; dueDate earlier than today is 422 DUE_DATE_IN_PAST.';

@ApiTags('tasks')
@Controller('tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  @TenantList('', {
    permission: 'tasks:read',
    summary: 'List tasks',
    description:
      `${VISIBILITY} Filters combine with AND. dueBefore and dueAfter are inclusive. ` +
      'overdue=true: open tasks due before today (UTC); overdue=false: every other task (done, or due today or later). ' +
      'A dealId the caller cannot see gives an empty list. Default order: createdAt desc; ties by id.',
    type: TaskDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: TaskListQueryDto,
  ): Promise<ListResult<TaskDto>> {
    return this.tasks.list(actor, query);
  }

  @ApiConditional()
  @TenantCreate('', {
    permission: 'tasks:create',
    summary: 'Create a task on a visible deal',
    description: `${DUE_DATE} Writes a task_created {taskId, title} activity on the deal in the same transaction.`,
    type: TaskDto,
  })
  @ApiError(404, [ErrorCode.NOT_FOUND], 'NOT_FOUND: the deal is not visible')
  @ApiError(422, [ErrorCode.DUE_DATE_IN_PAST])
  create(@CurrentActor() actor: Actor, @Body() body: CreateTaskDto): Promise<TaskDto> {
    return this.tasks.create(actor, body);
  }

  @ApiConditional()
  @TenantGet(':id', {
    permission: 'tasks:read',
    summary: 'Get a task',
    description: VISIBILITY,
    type: TaskDto,
  })
  get(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<TaskDto> {
    return this.tasks.get(actor, id);
  }

  @ApiConditional()
  @TenantPatch(':id', {
    permission: 'tasks:update',
    summary: 'Change a task (any subset of title, description, dueDate, isDone)',
    description: `${VISIBILITY} ${DUE_DATE} Only a changed dueDate is checked. description may be set to null; title, dueDate and isDone may not.`,
    type: TaskDto,
  })
  @ApiError(422, [ErrorCode.DUE_DATE_IN_PAST])
  update(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: UpdateTaskDto,
  ): Promise<TaskDto> {
    return this.tasks.update(actor, id, body);
  }

  @ApiConditional()
  @TenantDelete(':id', {
    permission: 'tasks:delete',
    summary: 'Delete a task',
    description: VISIBILITY,
  })
  remove(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.tasks.remove(actor, id);
  }
}
