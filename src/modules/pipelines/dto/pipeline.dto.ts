import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import { withETagOf } from '../../../common/http/etag';
import { IsInt, Matches, Max, Min } from 'class-validator';
import { ArrayOfObjects } from '../../../common/validation/nested';
import { IsText } from '../../../common/validation/text';
import { OptionalNotNull, Trim } from '../../../common/validation/transforms';
import type { Pipeline } from '../pipeline.entity';

export class PipelineStageDto {
  @ApiProperty({ pattern: '^[a-z][a-z0-9_]{0,39}$', example: 'proposal' })
  key: string;

  @ApiProperty({ example: 'Proposal' })
  name: string;

  @ApiProperty({
    minimum: 0,
    example: 1,
    description: '0, 1, 2... in stage order; the last stage is the closing one',
  })
  position: number;

  @ApiProperty({
    minimum: 0,
    maximum: 100,
    example: 30,
    description: 'Forecast weight of open deals at this stage (%)',
  })
  probability: number;
}

export class PipelineDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  organizationId: string;

  @ApiProperty({ example: 'Enterprise sales' })
  name: string;

  @ApiProperty({ example: false })
  isDefault: boolean;

  @ApiProperty({ type: [PipelineStageDto] })
  stages: PipelineStageDto[];

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt: string;

  static from(p: Pipeline): PipelineDto {
    return withETagOf(
      {
        id: p.id,
        organizationId: p.organizationId,
        name: p.name,
        isDefault: p.isDefault,
        stages: [...p.stages].sort((a, b) => a.position - b.position),
        createdAt: new Date(p.createdAt).toISOString(),
        updatedAt: new Date(p.updatedAt).toISOString(),
      },
      'Pipeline',
      p,
    );
  }
}

export class PipelineStageInputDto {
  @ApiProperty({ pattern: '^[a-z][a-z0-9_]{0,39}$', example: 'demo' })
  @Matches(/^[a-z][a-z0-9_]{0,39}$/, { message: 'key must match ^[a-z][a-z0-9_]{0,39}$' })
  key: string;

  @ApiProperty({ minLength: 1, maxLength: 100, example: 'Demo' })
  @Trim()
  @IsText(1, 100)
  name: string;

  @ApiProperty({ minimum: 0, maximum: 100, example: 40 })
  @IsInt()
  @Min(0)
  @Max(100)
  probability: number;
}

const STAGES_DOC: ApiPropertyOptions = {
  type: PipelineStageInputDto,
  isArray: true,
  minItems: 2,
  maxItems: 20,
  description:
    'In order (positions are assigned 0, 1, 2...); keys unique; the last stage is the closing one',
};

export class CreatePipelineDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Enterprise sales' })
  @Trim()
  @IsText(1, 200)
  name: string;

  @ApiProperty(STAGES_DOC)
  @ArrayOfObjects(() => PipelineStageInputDto, { min: 2, max: 20 })
  stages: PipelineStageInputDto[];
}

export class UpdatePipelineDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200, example: 'Enterprise renewals' })
  @OptionalNotNull()
  @Trim()
  @IsText(1, 200)
  name?: string;

  @ApiPropertyOptional({
    ...STAGES_DOC,
    description: `${String(STAGES_DOC.description)}. Replaces the list: rename, add, remove or reorder stages; a stage deals use cannot be removed (409 STAGE_IN_USE)`,
  })
  @OptionalNotNull()
  @ArrayOfObjects(() => PipelineStageInputDto, { min: 2, max: 20 })
  stages?: PipelineStageInputDto[];
}
