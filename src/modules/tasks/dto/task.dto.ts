import { ApiProperty } from '@nestjs/swagger';
import { withETagOf } from '../../../common/http/etag';
import type { Task } from '../task.entity';
import { calendarDate } from '../task-dates';

export class TaskDto {
  @ApiProperty({ format: 'uuid', example: '7e4c1d2a-5b6f-4a3e-9c8d-0f1e2d3c4b5a' })
  id: string;

  @ApiProperty({ format: 'uuid', example: '3c9d2e1f-7a6b-4c5d-8e9f-0a1b2c3d4e5f' })
  dealId: string;

  @ApiProperty({ example: 'Send the revised proposal' })
  title: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'Include the volume discount we discussed on the call.',
  })
  description: string | null;

  @ApiProperty({
    format: 'date',
    example: '2026-11-30',
    description: 'Calendar date (YYYY-MM-DD), no time zone',
  })
  dueDate: string;

  @ApiProperty({ example: false })
  isDone: boolean;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  updatedAt: string;

  static from(t: Task): TaskDto {
    return withETagOf(
      {
        id: t.id,
        dealId: t.dealId,
        title: t.title,
        description: t.description,
        dueDate: calendarDate(t.dueDate),
        isDone: t.isDone,
        createdAt: new Date(t.createdAt).toISOString(),
        updatedAt: new Date(t.updatedAt).toISOString(),
      },
      'Task',
      t,
    );
  }
}
