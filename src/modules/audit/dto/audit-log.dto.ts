import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Max,
  Min,
  registerDecorator,
  type ValidationArguments,
} from 'class-validator';
import { AUDIT_ACTOR_TYPES, type AuditActorType } from '../audit-log.entity';
import { AUDIT_ACTIONS, type AuditAction } from '../audit.service';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;

/** `until` may not be before `since`. */
function NotBeforeSince(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'notBeforeSince',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (until: unknown, args: ValidationArguments) => {
          const { since } = args.object as AuditLogListQueryDto;
          if (typeof since !== 'string' || typeof until !== 'string') return true;
          const [from, to] = [Date.parse(since), Date.parse(until)];
          return Number.isNaN(from) || Number.isNaN(to) || from <= to;
        },
        defaultMessage: () => 'until must not be before since',
      },
    });
}

/**
 * GET /audit-logs: keyset pages only (`limit`, `cursor`: the trail is the largest table and
 * only grows; API.md section 16 names it keyset-paginated), newest first, and its filters.
 */
export class AuditLogListQueryDto {
  // No default in the document (as every list's `limit`): 20 when omitted.
  @ApiPropertyOptional({
    minimum: 1,
    maximum: 100,
    description: 'Entries per page (20 when omitted)',
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({
    description: 'The nextCursor of the previous answer (opaque; bound to the filters)',
  })
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  cursor?: string;

  @ApiPropertyOptional({ enum: AUDIT_ACTIONS, enumName: 'AuditAction', example: 'member_added' })
  @IsOptional()
  @IsIn(AUDIT_ACTIONS)
  action?: AuditAction;

  @ApiPropertyOptional({
    format: 'uuid',
    description: 'Entries of this actor (a user id, or an API key id)',
  })
  @IsOptional()
  @IsUUID('all')
  actorId?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Entries at or after this time',
    example: '2026-12-01T00:00:00.000Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Entries before this time (not before `since`)',
    example: '2026-12-07T00:00:00.000Z',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  @NotBeforeSince()
  until?: string;
}

export class AuditTargetDto {
  @ApiProperty({ example: 'contact', description: 'The kind of record the entry is about' })
  type: string;

  @ApiProperty({ example: '4c2e6f1a-7d0e-4c55-9b1e-2f0d6c1a9e10' })
  id: string;
}

/** One entry of the audit trail (API.md section 16). */
export class AuditLogDto {
  @ApiProperty({ format: 'uuid', example: '0d5b7c2e-9f41-4a63-8e2d-5c1b7a9f3e60' })
  id: string;

  @ApiProperty({ enum: AUDIT_ACTIONS, enumName: 'AuditAction', example: 'member_role_changed' })
  action: string;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    example: '77e0a4d2-5b3c-4f1e-9a8d-6c2b1e0f9d34',
    description:
      'Who acted: the user, or the API key (actorType api_key; API.md section 16: actions of a key carry its id); null for the system and for a failed login of an unknown email',
  })
  actorId: string | null;

  @ApiProperty({ enum: AUDIT_ACTOR_TYPES, example: 'user' })
  actorType: AuditActorType;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    example: '9a1d3f6e-2c4b-4e8a-b5d7-0f1e2d3c4b5a',
    description:
      'Null for auth events (login, refresh, logout...), which belong to no organization',
  })
  organizationId: string | null;

  @ApiProperty({ type: AuditTargetDto, nullable: true })
  target: AuditTargetDto | null;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { previousRole: 'member', role: 'manager' },
    description: 'What the action did (per action: changes, filters, a report...)',
  })
  details: Record<string, unknown>;

  @ApiProperty({ type: String, nullable: true, example: '203.0.113.7' })
  ip: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15',
  })
  userAgent: string | null;

  @ApiProperty({ type: String, nullable: true, example: '6f1c2a8e-3b4d-4f5e-9a0b-1c2d3e4f5a6b' })
  requestId: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-12-06T10:00:00.000Z' })
  createdAt: string;
}
