import { Body, Controller, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  TenantCreate,
  TenantDelete,
  TenantGet,
  TenantList,
  TenantPatch,
} from '../../tenancy/access/tenant-routes.decorator';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { ApiConditional } from '../../common/decorators/api-conditional.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../tenancy/actor';
import { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { CreatePipelineDto, PipelineDto, UpdatePipelineDto } from './dto/pipeline.dto';
import { PipelinesService } from './pipelines.service';

@ApiTags('pipelines')
@Controller('pipelines')
export class PipelinesController {
  constructor(private readonly pipelines: PipelinesService) {}

  @TenantList('', {
    permission: 'pipelines:read',
    summary: "The organization's pipelines (newest first by default; order=asc for oldest first)",
    description:
      'Each pipeline with its stages in order (key, name, position, win probability); `isDefault` ' +
      'marks the one deals use when they name no pipeline.',
    type: PipelineDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: ListQueryDto,
  ): Promise<ListResult<PipelineDto>> {
    return this.pipelines.list(actor, query);
  }

  @ApiConditional()
  @TenantCreate('', {
    permission: 'pipelines:create',
    summary: 'Create a pipeline with its ordered stages (owner, admin)',
    description:
      '2..20 stages `{key, name, probability}` in order; the server numbers their positions. The ' +
      'last stage is the closing one (won and lost deals move there). Keys are unique in the ' +
      'pipeline and match ^[a-z][a-z0-9_]{0,39}$.',
    type: PipelineDto,
  })
  create(@CurrentActor() actor: Actor, @Body() body: CreatePipelineDto): Promise<PipelineDto> {
    return this.pipelines.create(actor, body);
  }

  @ApiConditional()
  @TenantGet(':id', {
    permission: 'pipelines:read',
    summary: 'Get a pipeline',
    description:
      'The pipeline with its stages in order. Send the ETag back as If-None-Match to get 304 when ' +
      'it did not change.',
    type: PipelineDto,
  })
  get(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<PipelineDto> {
    return this.pipelines.get(actor, id);
  }

  @ApiConditional()
  @TenantPatch(':id', {
    permission: 'pipelines:update',
    summary: 'Rename a pipeline, or add, rename, remove or reorder its stages (owner, admin)',
    description:
      '`stages`, when given, is the complete new list: stages whose key is absent are removed ' +
      '(409 STAGE_IN_USE while deals are in them). If-Match with the last ETag refuses to ' +
      'overwrite a change made since (412 PRECONDITION_FAILED).',
    type: PipelineDto,
  })
  @ApiError(409, [ErrorCode.STAGE_IN_USE])
  update(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: UpdatePipelineDto,
  ): Promise<PipelineDto> {
    return this.pipelines.update(actor, id, body);
  }

  @ApiConditional()
  @TenantDelete(':id', {
    permission: 'pipelines:delete',
    summary: 'Delete a pipeline without deals (not the default one) (owner, admin)',
    description:
      'A pipeline that still has deals, or the default pipeline, answers 409 PIPELINE_IN_USE: ' +
      'move or delete its deals first.',
  })
  @ApiError(409, [ErrorCode.PIPELINE_IN_USE])
  remove(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.pipelines.remove(actor, id);
  }
}
