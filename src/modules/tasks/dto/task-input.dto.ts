import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsText, IsUuid } from '../../../common/validation/text';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString } from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { OptionalNotNull, Trim } from '../../../common/validation/transforms';
import { IsCalendarDate } from '../task-dates';

const TITLE_MAX = 200;
const DESCRIPTION_MAX = 5000;

/** Query-string booleans: exactly `true` or `false` (anything else is left for IsBoolean to refuse). */
const QueryBoolean = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    value === 'true' ? true : value === 'false' ? false : value,
  );

const DUE_DATE_DESCRIPTION =
  'Calendar date (YYYY-MM-DD), today (UTC) or later: an earlier date is 422 DUE_DATE_IN_PAST';

export class CreateTaskDto {
  @ApiProperty({ format: 'uuid', description: 'A deal visible to the caller (404 otherwise)' })
  @IsUuid()
  dealId: string;

  @ApiProperty({ minLength: 1, maxLength: TITLE_MAX, example: 'Send the revised proposal' })
  @Trim()
  @IsString()
  @IsText(1, TITLE_MAX)
  title: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: DESCRIPTION_MAX,
    example: 'Include the volume discount we discussed on the call.',
    description: 'Stored as given (not trimmed)',
  })
  @IsOptional()
  @IsString()
  @IsText(0, DESCRIPTION_MAX)
  description?: string | null;

  @ApiProperty({ format: 'date', example: '2026-11-30', description: DUE_DATE_DESCRIPTION })
  @IsCalendarDate()
  dueDate: string;
}

export class UpdateTaskDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: TITLE_MAX, example: 'Call back on Monday' })
  @OptionalNotNull()
  @Trim()
  @IsString()
  @IsText(1, TITLE_MAX)
  title?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: DESCRIPTION_MAX,
    example: 'They asked for the security questionnaire too.',
    description: 'null clears it',
  })
  @IsOptional()
  @IsString()
  @IsText(0, DESCRIPTION_MAX)
  description?: string | null;

  @ApiPropertyOptional({
    format: 'date',
    example: '2026-12-04',
    description: `${DUE_DATE_DESCRIPTION}. Only a changed date is checked: sending back the current due date of an overdue task is accepted.`,
  })
  @OptionalNotNull()
  @IsCalendarDate()
  dueDate?: string;

  @ApiPropertyOptional({ example: true })
  @OptionalNotNull()
  @IsBoolean()
  isDone?: boolean;
}

export const TASK_ORDER_BY = ['createdAt', 'dueDate'] as const;

export class TaskListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    format: 'uuid',
    description: 'Tasks of this deal (an empty list when the deal is not visible to the caller)',
  })
  @IsOptional()
  @IsUuid()
  dealId?: string;

  @ApiPropertyOptional({ type: String, enum: ['true', 'false'], example: 'false' })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean({ message: 'isDone must be true or false' })
  isDone?: boolean;

  @ApiPropertyOptional({
    format: 'date',
    example: '2026-12-31',
    description: 'Due on or before this date (inclusive)',
  })
  @IsOptional()
  @IsCalendarDate()
  dueBefore?: string;

  @ApiPropertyOptional({
    format: 'date',
    example: '2026-12-01',
    description: 'Due on or after this date (inclusive)',
  })
  @IsOptional()
  @IsCalendarDate()
  dueAfter?: string;

  @ApiPropertyOptional({
    type: String,
    enum: ['true', 'false'],
    example: 'true',
    description:
      'true: open tasks due before today (UTC). false: the complement, tasks that are done or due today or later.',
  })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean({ message: 'overdue must be true or false' })
  overdue?: boolean;

  @ApiPropertyOptional({
    enum: TASK_ORDER_BY,
    default: 'createdAt',
    description: 'Ties are broken by id',
  })
  @IsOptional()
  @IsIn(TASK_ORDER_BY)
  orderBy: (typeof TASK_ORDER_BY)[number] = 'createdAt';
}
