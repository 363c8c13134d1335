import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsArray, IsISO8601, IsOptional, IsString, Length, Matches } from 'class-validator';
import { ListQueryDto } from '../../common/pagination/list-query.dto';
import { ToArray, Trim } from '../../common/validation/transforms';
import { EVENT_TYPES } from '../catalog';

/** A type of the catalog, or a prefix of types ending in `*` (`crm.deal.*`). */
const TYPE_PATTERN = /^[a-z][a-z0-9_.]{0,98}\*?$/;

export class EventListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    type: [String],
    description:
      'Repeatable: type=crm.deal.won.v1&type=crm.contact.*: an event type of the catalog, or a prefix ending in *',
    example: ['crm.deal.*'],
  })
  @IsOptional()
  @ToArray()
  @IsArray()
  @IsString({ each: true })
  @Matches(TYPE_PATTERN, {
    each: true,
    message: 'type must be an event type or a prefix ending in *',
  })
  type?: string[];

  @ApiPropertyOptional({
    description: 'Events of one resource: `<resource>/<id>`',
    example: 'deals/4c2e6f1a-7d0e-4c55-9b1e-2f0d6c1a9e10',
  })
  @IsOptional()
  @Trim()
  @IsString()
  @Length(1, 200)
  subject?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Events at or after this time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Events before this time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;
}

/** The CloudEvents 1.0 envelope of API.md section 12 (JSON structured mode). */
export class EventEnvelopeDto {
  @ApiProperty({ enum: ['1.0'] })
  specversion: '1.0';

  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: EVENT_TYPES, enumName: 'EventType', example: 'crm.deal.won.v1' })
  type: string;

  @ApiProperty({ example: '/organizations/9a1d2c3b-0000-4000-8000-000000000001' })
  source: string;

  @ApiProperty({ example: 'deals/4c2e6f1a-7d0e-4c55-9b1e-2f0d6c1a9e10' })
  subject: string;

  @ApiProperty({ format: 'date-time' })
  time: string;

  @ApiProperty({ enum: ['application/json'] })
  datacontenttype: 'application/json';

  @ApiProperty({ format: 'uuid' })
  organizationid: string;

  @ApiProperty({ format: 'uuid', nullable: true, description: 'Null for system changes' })
  actorid: string | null;

  @ApiProperty({ nullable: true, description: 'X-Request-Id of the request that made the change' })
  requestid: string | null;

  @ApiPropertyOptional({ description: 'W3C trace context, when tracing is on' })
  traceparent?: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      'The resource under its singular name (deal, contact, ...) exactly as GET returns it after the change; `previous` holds the changed fields\u2019 earlier values on *.updated and state events',
  })
  data: object;
}
