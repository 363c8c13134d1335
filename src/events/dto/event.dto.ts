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

  @ApiProperty({ format: 'uuid', example: '0b6f2c1e-8d4a-4f7b-9c3e-5a1d2b7e8f90' })
  id: string;

  @ApiProperty({ enum: EVENT_TYPES, enumName: 'EventType', example: 'crm.deal.won.v1' })
  type: string;

  @ApiProperty({ example: '/organizations/9a1d2c3b-0000-4000-8000-000000000001' })
  source: string;

  @ApiProperty({ example: 'deals/4c2e6f1a-7d0e-4c55-9b1e-2f0d6c1a9e10' })
  subject: string;

  @ApiProperty({ format: 'date-time', example: '2026-12-06T10:00:00.000Z' })
  time: string;

  @ApiProperty({ enum: ['application/json'] })
  datacontenttype: 'application/json';

  @ApiProperty({ format: 'uuid', example: '9a1d2c3b-0000-4000-8000-000000000001' })
  organizationid: string;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    example: '77e0a4d2-5b3c-4f1e-9a8d-6c2b1e0f9d34',
    description: 'Null for system changes',
  })
  actorid: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '6f1c2a9e-3a0b-4f4e-9d55-2b1f0c7d9a10',
    description: 'X-Request-Id of the request that made the change',
  })
  requestid: string | null;

  @ApiPropertyOptional({
    description: 'W3C trace context, when tracing is on',
    example: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  })
  traceparent?: string;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: {
      deal: {
        id: '4c2e6f1a-7d0e-4c55-9b1e-2f0d6c1a9e10',
        organizationId: '9a1d2c3b-0000-4000-8000-000000000001',
        contactId: '5e8a1c7b-2d3f-4a6e-9b0c-1d2e3f4a5b6c',
        pipelineId: '2b7c9e1d-4f3a-4b8e-a6d5-7c8b9a0f1e2d',
        ownerId: '77e0a4d2-5b3c-4f1e-9a8d-6c2b1e0f9d34',
        title: 'Annual plan, 25 seats',
        amount: '12000.00',
        currency: 'EUR',
        status: 'won',
        stage: 'closed',
        lostReason: null,
        createdAt: '2026-11-21T10:00:00.000Z',
        updatedAt: '2026-12-06T10:00:00.000Z',
      },
      previous: { status: 'in_progress', stage: 'negotiation' },
    },
    description:
      'The resource under its singular name (deal, contact, ...) exactly as GET returns it after the change; `previous` holds the changed fields\u2019 earlier values on *.updated and state events',
  })
  data: object;
}
