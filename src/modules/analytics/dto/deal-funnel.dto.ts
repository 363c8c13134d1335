import { ApiProperty } from '@nestjs/swagger';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsUuid } from '../../../common/validation/text';

export class StatusCountsDto {
  @ApiProperty({ type: 'integer', example: 6 })
  new: number;

  @ApiProperty({ type: 'integer', example: 4 })
  in_progress: number;

  @ApiProperty({ type: 'integer', example: 0 })
  won: number;

  @ApiProperty({ type: 'integer', example: 0 })
  lost: number;
}

export class FunnelStageDto {
  @ApiProperty({
    example: 'qualification',
    description: "A stage key, in the pipeline's stage order",
  })
  stage: string;

  @ApiProperty({ type: 'integer', example: 10, description: 'Deals currently at this stage' })
  count: number;

  @ApiProperty({
    type: StatusCountsDto,
    description: 'The same deals by status (all four statuses always present)',
  })
  byStatus: StatusCountsDto;
}

export class FunnelConversionDto {
  @ApiProperty({ example: 'qualification' })
  from: string;

  @ApiProperty({ example: 'proposal' })
  to: string;

  @ApiProperty({
    example: 0.6,
    minimum: 0,
    maximum: 1,
    description:
      'Deals at or beyond `to` / deals at or beyond `from`, rounded half-up to 4 decimals; ' +
      '0 when there are no deals at or beyond `from`',
  })
  rate: number;
}

export class DealFunnelDto {
  @ApiProperty({
    type: [FunnelStageDto],
    description: 'Every stage, in stage order, also those without deals',
    example: [
      {
        stage: 'qualification',
        count: 10,
        byStatus: { new: 6, in_progress: 4, won: 0, lost: 0 },
      },
      { stage: 'proposal', count: 5, byStatus: { new: 2, in_progress: 3, won: 0, lost: 0 } },
      { stage: 'negotiation', count: 2, byStatus: { new: 0, in_progress: 2, won: 0, lost: 0 } },
      { stage: 'closed', count: 8, byStatus: { new: 0, in_progress: 0, won: 5, lost: 3 } },
    ],
  })
  stages: FunnelStageDto[];

  @ApiProperty({
    type: [FunnelConversionDto],
    description: 'One entry per pair of consecutive stages',
    example: [
      { from: 'qualification', to: 'proposal', rate: 0.6 },
      { from: 'proposal', to: 'negotiation', rate: 0.6667 },
      { from: 'negotiation', to: 'closed', rate: 0.8 },
    ],
  })
  conversion: FunnelConversionDto[];
}

export class PipelineQueryDto {
  @ApiPropertyOptional({
    format: 'uuid',
    description: 'A pipeline of the organization; the default one when omitted',
  })
  @IsOptional()
  @IsUuid()
  pipelineId?: string;
}

const PER_CURRENCY = {
  type: 'object',
  additionalProperties: { type: 'string', pattern: '^\\d+\\.\\d{2}$' },
} as const;

export class DealForecastDto {
  @ApiProperty({ format: 'uuid' })
  pipelineId: string;

  @ApiProperty({
    ...PER_CURRENCY,
    example: { USD: '4200.00', EUR: '150.00' },
    description:
      'Per currency: sum of amount x stage probability / 100 over open deals, rounded half-up',
  })
  weighted: Record<string, string>;

  @ApiProperty({
    ...PER_CURRENCY,
    example: { USD: '12000.00', EUR: '500.00' },
    description: 'Per currency: sum of open deal amounts',
  })
  open: Record<string, string>;
}
