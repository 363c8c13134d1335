import { ApiProperty } from '@nestjs/swagger';
import { DEAL_STAGES, DealStage } from '../../deals/deal.enums';

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
    enum: DealStage,
    enumName: 'DealStage',
    example: DealStage.QUALIFICATION,
    description: `In stage order: ${DEAL_STAGES.join(' < ')}`,
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
  @ApiProperty({ example: DealStage.QUALIFICATION })
  from: string;

  @ApiProperty({ example: DealStage.PROPOSAL })
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
