import { ApiProperty } from '@nestjs/swagger';
import { IsText } from '../../../common/validation/text';
import { Type } from 'class-transformer';
import { Equals, IsObject, IsString, ValidateNested } from 'class-validator';
import type { Activity } from '../activity.entity';
import { ActivityType } from '../activity.enums';

export class ActivityDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  dealId: string;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'Null for system entries',
  })
  authorId: string | null;

  @ApiProperty({
    enum: ActivityType,
    enumName: 'ActivityType',
    example: ActivityType.STATUS_CHANGED,
  })
  type: ActivityType;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { from: 'new', to: 'in_progress' },
    description:
      'comment: {text}; status_changed / stage_changed: {from, to}; task_created: {taskId, title}; system: {event, ...}',
  })
  payload: Record<string, unknown>;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  static from(a: Activity): ActivityDto {
    return {
      id: a.id,
      dealId: a.dealId,
      authorId: a.authorId,
      type: a.type,
      payload: a.payload,
      createdAt: new Date(a.createdAt).toISOString(),
    };
  }
}

export class CommentPayloadDto {
  @ApiProperty({ minLength: 1, maxLength: 5000, example: 'Called the customer; they want a demo.' })
  @IsString()
  @IsText(1, 5000)
  text: string;
}

export class CreateActivityDto {
  @ApiProperty({ enum: [ActivityType.COMMENT], description: 'Only comments can be posted' })
  @Equals(ActivityType.COMMENT, { message: 'type must be comment' })
  type: ActivityType.COMMENT;

  @ApiProperty({ type: CommentPayloadDto })
  @IsObject()
  @ValidateNested()
  @Type(() => CommentPayloadDto)
  payload: CommentPayloadDto;
}
