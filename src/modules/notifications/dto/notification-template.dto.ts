import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString } from 'class-validator';
import {
  ListQueryDto,
  SORT_ORDERS,
  type SortOrder,
} from '../../../common/pagination/list-query.dto';
import { IsText } from '../../../common/validation/text';
import { NOTIFICATION_CHANNELS, NOTIFICATION_KINDS } from '../notification-kinds';

export const SUBJECT_MAX = 300;
export const BODY_MAX = 20_000;

/** A template as it applies to the organization: its override, or the shipped default. */
export class NotificationTemplateDto {
  @ApiProperty({ enum: NOTIFICATION_KINDS, example: 'deal.lost' })
  kind: string;

  @ApiProperty({ enum: NOTIFICATION_CHANNELS, example: 'email' })
  channel: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'Deal lost: {{dealTitle}}',
    description: 'Email subject or in-app title; null for sms',
  })
  subject: string | null;

  @ApiProperty({
    example: '<p>The deal {{dealTitle}} was lost.</p>',
    description: 'HTML for email (values are HTML-escaped), plain text for inApp and sms',
  })
  body: string;

  @ApiProperty({ description: 'true: the shipped default (no override)', example: true })
  isDefault: boolean;
}

/** PUT /notification-templates/{kind}/{channel}. */
export class NotificationTemplateInputDto {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 1,
    maxLength: SUBJECT_MAX,
    example: 'Deal lost: {{dealTitle}}',
    description:
      'Required for email (the subject) and inApp (the title); must be absent or null for sms',
  })
  @IsOptional()
  @IsString()
  @IsText(1, SUBJECT_MAX)
  subject?: string | null;

  @ApiProperty({
    minLength: 1,
    maxLength: BODY_MAX,
    example: '<p>Hello {{recipientName}}, the deal {{dealTitle}} was lost.</p>',
  })
  @IsString()
  @IsText(1, BODY_MAX)
  body: string;
}

export const TEMPLATE_ORDER_BY = ['kind'] as const;

/** GET /notification-templates. */
export class NotificationTemplateListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    enum: TEMPLATE_ORDER_BY,
    default: 'kind',
    description:
      'kind: in the order of the kinds in API.md section 14 (user.registered first), then channel (email, inApp, sms)',
  })
  @IsOptional()
  @IsIn(TEMPLATE_ORDER_BY)
  orderBy: (typeof TEMPLATE_ORDER_BY)[number] = 'kind';

  @ApiPropertyOptional({ enum: SORT_ORDERS, default: 'asc' })
  @IsOptional()
  @IsIn(SORT_ORDERS)
  override order: SortOrder = 'asc';
}
