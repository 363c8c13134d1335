import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Roles } from '../../tenancy/access/access.decorator';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../tenancy/actor';
import { ListQueryDto } from '../../common/pagination/list-query.dto';
import { ApiListResponse, type ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { Role } from '../../tenancy/role';
import { CreatePipelineDto, PipelineDto, UpdatePipelineDto } from './dto/pipeline.dto';
import { PipelinesService } from './pipelines.service';

@ApiTags('pipelines')
@Controller('pipelines')
export class PipelinesController {
  constructor(private readonly pipelines: PipelinesService) {}

  @Get()
  @Roles()
  @ApiOperation({
    summary: "The organization's pipelines (newest first by default; order=asc for oldest first)",
  })
  @ApiListResponse(PipelineDto)
  list(
    @CurrentActor() actor: Actor,
    @Query() query: ListQueryDto,
  ): Promise<ListResult<PipelineDto>> {
    return this.pipelines.list(actor, query);
  }

  @Post()
  @Roles(Role.OWNER, Role.ADMIN)
  @ApiOperation({ summary: 'Create a pipeline with its ordered stages (owner, admin)' })
  @ApiCreatedResponse({ type: PipelineDto })
  create(@CurrentActor() actor: Actor, @Body() body: CreatePipelineDto): Promise<PipelineDto> {
    return this.pipelines.create(actor, body);
  }

  @Get(':id')
  @Roles()
  @ApiOperation({ summary: 'Get a pipeline' })
  @ApiOkResponse({ type: PipelineDto })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  get(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<PipelineDto> {
    return this.pipelines.get(actor, id);
  }

  @Patch(':id')
  @Roles(Role.OWNER, Role.ADMIN)
  @ApiOperation({
    summary: 'Rename a pipeline, or add, rename, remove or reorder its stages (owner, admin)',
  })
  @ApiOkResponse({ type: PipelineDto })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  @ApiError(409, [ErrorCode.STAGE_IN_USE])
  update(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: UpdatePipelineDto,
  ): Promise<PipelineDto> {
    return this.pipelines.update(actor, id, body);
  }

  @Delete(':id')
  @Roles(Role.OWNER, Role.ADMIN)
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a pipeline without deals (not the default one) (owner, admin)' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  @ApiError(409, [ErrorCode.PIPELINE_IN_USE])
  remove(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.pipelines.remove(actor, id);
  }
}
