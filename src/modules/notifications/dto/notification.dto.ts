import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { NOTIFICATION_KINDS } from '../notification-kinds';

/** An in-app notification (API.md section 14). */
export class NotificationDto {
  @ApiProperty({ format: 'uuid', example: '2f0c1a7e-5b3d-4e8f-9a1b-2c3d4e5f6a7b' })
  id: string;

  @ApiProperty({ enum: NOTIFICATION_KINDS, example: 'deal.won' })
  kind: string;

  @ApiProperty({ example: 'Deal won: Annual licence renewal' })
  title: string;

  @ApiProperty({ example: 'Annual licence renewal was won (1500.00 USD).' })
  body: string;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description:
      'The domain event it was written for (GET /events/{id}); null for webhook.disabled',
  })
  eventId: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  readAt: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-12-06T10:00:00.000Z' })
  createdAt: string;
}

/** A row of the notification list (raw, as the list query selects it). */
export interface NotificationRow {
  id: string;
  kind: string;
  title: string;
  body: string;
  eventId: string | null;
  readAt: Date | string | null;
  createdAt: Date | string;
}

const iso = (value: Date | string): string => new Date(value).toISOString();

export function toNotificationDto(row: NotificationRow): NotificationDto {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    body: row.body,
    eventId: row.eventId,
    readAt: row.readAt === null ? null : iso(row.readAt),
    createdAt: iso(row.createdAt),
  };
}

export const NOTIFICATION_ORDER_BY = ['createdAt'] as const;

/** GET /notifications: the caller's, newest first by default. */
export class NotificationListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    type: String,
    enum: ['true', 'false'],
    example: 'true',
    description: 'true: only unread notifications; false or absent: all',
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    value === 'true' ? true : value === 'false' ? false : value,
  )
  @IsBoolean({ message: 'unread must be true or false' })
  unread?: boolean;

  @ApiPropertyOptional({
    enum: NOTIFICATION_ORDER_BY,
    default: 'createdAt',
    description: 'Ties are broken by id',
  })
  @IsOptional()
  @IsIn(NOTIFICATION_ORDER_BY)
  orderBy: (typeof NOTIFICATION_ORDER_BY)[number] = 'createdAt';
}
