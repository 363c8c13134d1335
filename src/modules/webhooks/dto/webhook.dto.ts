import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Validate,
  ValidatorConstraint,
  type ValidatorConstraintInterface,
} from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { IsText } from '../../../common/validation/text';
import { OptionalNotNull, Trim } from '../../../common/validation/transforms';
import {
  DeliveryStatus,
  type WebhookDelivery,
  type WebhookDeliveryAttempt,
} from '../webhook-delivery.entity';
import type { Webhook } from '../webhook.entity';
import { validPattern } from '../webhook-events';

@ValidatorConstraint({ name: 'webhookEvent' })
class WebhookEventPattern implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && validPattern(value);
  }
  defaultMessage(): string {
    return 'each event must be an event type of the catalog without crm. and the version (deal.won), a resource followed by .* (deal.*), or *';
  }
}

const EVENTS_DOC: ApiPropertyOptions = {
  type: [String],
  minItems: 1,
  maxItems: 50,
  example: ['deal.won', 'contact.*'],
  description:
    'Event types of API.md section 12 without `crm.` and the version (`deal.won`), or a prefix with `*` (`deal.*`, `*`); every version of a type is delivered',
};
const URL_DOC: ApiPropertyOptions = {
  maxLength: 2048,
  example: 'https://hooks.example.com/crm',
  description:
    'https only (http when WEBHOOK_ALLOW_HTTP=true); a host resolving to a loopback, private, link-local or metadata address is refused (422 WEBHOOK_URL_NOT_ALLOWED) unless WEBHOOK_ALLOW_PRIVATE=true; checked again at every delivery; redirects are not followed',
};

export class CreateWebhookDto {
  @ApiProperty(URL_DOC)
  @Trim()
  @IsText(1, 2048)
  url: string;

  @ApiProperty(EVENTS_DOC)
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @Validate(WebhookEventPattern, { each: true })
  events: string[];

  @ApiPropertyOptional({
    type: String,
    maxLength: 500,
    nullable: true,
    example: 'Accounting: won deals',
  })
  @IsOptional()
  @Trim()
  @IsText(0, 500)
  description?: string | null;

  @ApiPropertyOptional({ default: true, example: true })
  @OptionalNotNull()
  @IsBoolean()
  enabled?: boolean;
}

export class UpdateWebhookDto {
  @ApiPropertyOptional(URL_DOC)
  @OptionalNotNull()
  @Trim()
  @IsText(1, 2048)
  url?: string;

  @ApiPropertyOptional(EVENTS_DOC)
  @OptionalNotNull()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @Validate(WebhookEventPattern, { each: true })
  events?: string[];

  @ApiPropertyOptional({
    type: String,
    maxLength: 500,
    nullable: true,
    example: 'Accounting: won and lost deals',
  })
  @IsOptional()
  @Trim()
  @IsText(0, 500)
  description?: string | null;

  @ApiPropertyOptional({
    description: 'true re-enables a disabled endpoint (its failure count starts again)',
    example: true,
  })
  @OptionalNotNull()
  @IsBoolean()
  enabled?: boolean;
}

export class WebhookDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'https://hooks.example.com/crm' })
  url: string;

  @ApiProperty({ type: [String], example: ['deal.won', 'contact.*'] })
  events: string[];

  @ApiProperty({ type: String, nullable: true, example: 'Accounting: won deals' })
  description: string | null;

  @ApiProperty({ example: true })
  enabled: boolean;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why the endpoint was disabled automatically (null when enabled)',
    example: null,
  })
  disabledReason: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt: string;

  static from(w: Webhook): WebhookDto {
    return {
      id: w.id,
      url: w.url,
      events: w.events,
      description: w.description,
      enabled: w.enabled,
      disabledReason: w.disabledReason,
      createdAt: new Date(w.createdAt).toISOString(),
      updatedAt: new Date(w.updatedAt).toISOString(),
    };
  }
}

export class CreatedWebhookDto extends WebhookDto {
  @ApiProperty({
    description:
      'The signing secret: `whsec_` + base64 of 32 random bytes. Shown only here and by rotate-secret',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  })
  secret: string;
}

export class WebhookSecretDto {
  @ApiProperty({
    description:
      'The new signing secret; the previous one keeps signing in parallel for 24 hours (two signatures in webhook-signature)',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  })
  secret: string;
}

const EVENT_TYPE_PATTERN = /^crm\.[a-z_]+\.[a-z_]+\.v\d+$/;

export class DeliveryListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: DeliveryStatus })
  @IsOptional()
  @IsIn(Object.values(DeliveryStatus))
  status?: DeliveryStatus;

  @ApiPropertyOptional({ description: 'The full event type', example: 'crm.deal.won.v1' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  @Matches(EVENT_TYPE_PATTERN, {
    message: 'eventType must be a full event type, e.g. crm.deal.won.v1',
  })
  eventType?: string;
}

export class DeliveryDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid', description: 'The event id (the webhook-id header)' })
  eventId: string;

  @ApiProperty({ example: 'crm.deal.won.v1' })
  eventType: string;

  @ApiProperty({ enum: DeliveryStatus })
  status: DeliveryStatus;

  @ApiProperty({ example: 1 })
  attempts: number;

  @ApiProperty({ type: Number, nullable: true, example: 200 })
  lastStatusCode: number | null;

  @ApiProperty({ type: String, nullable: true, example: null })
  lastError: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the next attempt is due (null once succeeded or failed)',
  })
  nextAttemptAt: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt: string;

  static from(d: WebhookDelivery): DeliveryDto {
    return {
      id: d.id,
      eventId: d.eventId,
      eventType: d.eventType,
      status: d.status,
      attempts: d.attempts,
      lastStatusCode: d.lastStatusCode,
      lastError: d.lastError,
      nextAttemptAt: d.nextAttemptAt ? new Date(d.nextAttemptAt).toISOString() : null,
      createdAt: new Date(d.createdAt).toISOString(),
      updatedAt: new Date(d.updatedAt).toISOString(),
    };
  }
}

export class AttemptDto {
  @ApiProperty({ format: 'date-time' })
  at: string;

  @ApiProperty({ type: Number, nullable: true, example: 500 })
  statusCode: number | null;

  @ApiProperty({ example: 42 })
  durationMs: number;

  @ApiProperty({ type: String, nullable: true, example: 'HTTP 500' })
  error: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The first 2 KB of the answer',
    example: 'internal error',
  })
  responseBodyExcerpt: string | null;

  static from(a: WebhookDeliveryAttempt): AttemptDto {
    return {
      at: new Date(a.at).toISOString(),
      statusCode: a.statusCode,
      durationMs: a.durationMs,
      error: a.error,
      responseBodyExcerpt: a.responseBodyExcerpt,
    };
  }
}

export class DeliveryDetailDto extends DeliveryDto {
  @ApiProperty({ type: [AttemptDto], description: 'Every attempt, oldest first' })
  attemptLog: AttemptDto[];
}
