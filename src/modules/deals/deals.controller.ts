import { Body, Controller, Query } from '@nestjs/common';
import { ApiBody, ApiTags } from '@nestjs/swagger';
import {
  TenantAction,
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
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { DealsService } from './deals.service';
import {
  CreateDealDto,
  DealListQueryDto,
  LoseDealDto,
  MoveStageDto,
  UpdateDealDto,
  WinDealDto,
} from './dto/deal-input.dto';
import { DealDto } from './dto/deal.dto';
import { DealGetQueryDto, DealWithRelationsDto } from './dto/deal-with-relations.dto';

const RULES =
  'Status machine: new -> in_progress | lost, in_progress -> won | lost (won and lost are terminal). ' +
  'won needs amount > 0. Stages move forward only for members and managers. won/lost move the stage to closed. ' +
  'Every status and stage change is recorded in the timeline in the same transaction.';

@ApiTags('deals')
@Controller('deals')
export class DealsController {
  constructor(private readonly deals: DealsService) {}

  @TenantList('', {
    permission: 'deals:read',
    summary: 'List deals',
    description:
      'Members see only the deals they own. `include` embeds related records in every deal of ' +
      'the page, at a fixed number of queries whatever the page size.',
    type: DealWithRelationsDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: DealListQueryDto,
  ): Promise<ListResult<DealWithRelationsDto>> {
    return this.deals.list(actor, query);
  }

  @ApiConditional()
  @TenantCreate('', {
    permission: 'deals:create',
    summary: 'Create a deal for a visible contact',
    description:
      `${RULES} A deal is created in status new unless \`status\` says otherwise; a later status ` +
      'is reached through the status machine, and the timeline records each step after ' +
      'deal_created, as PATCH would: in_progress is new -> in_progress; won is new -> in_progress -> won ' +
      '(and the stage moves from the first stage to closed); lost is new -> lost (stage to closed). ' +
      'The rules of each step apply (won needs amount > 0).',
    type: DealDto,
  })
  @ApiError(403, [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN])
  @ApiError(404, [ErrorCode.NOT_FOUND], 'NOT_FOUND: the contact is not visible')
  @ApiError(422, [
    ErrorCode.AMOUNT_REQUIRED_TO_WIN,
    ErrorCode.INVALID_STAGE,
    ErrorCode.UNSUPPORTED_CURRENCY,
    ErrorCode.INVALID_OWNER,
  ])
  create(@CurrentActor() actor: Actor, @Body() body: CreateDealDto): Promise<DealDto> {
    return this.deals.create(actor, body);
  }

  @ApiConditional()
  @TenantGet(':id', {
    permission: 'deals:read',
    summary: 'Get a deal',
    description:
      '`include` embeds related records (contact, company, pipeline, tasks, activities).',
    type: DealWithRelationsDto,
  })
  get(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Query() query: DealGetQueryDto,
  ): Promise<DealWithRelationsDto> {
    return this.deals.get(actor, id, query.include);
  }

  @ApiConditional()
  @TenantPatch(':id', {
    permission: 'deals:update',
    summary: 'Change a deal (any subset of its fields)',
    description: RULES,
    type: DealDto,
  })
  @ApiError(403, [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN, ErrorCode.STAGE_ROLLBACK_FORBIDDEN])
  @ApiError(409, [ErrorCode.INVALID_STATUS_TRANSITION])
  @ApiError(422, [
    ErrorCode.AMOUNT_REQUIRED_TO_WIN,
    ErrorCode.INVALID_STAGE,
    ErrorCode.UNSUPPORTED_CURRENCY,
    ErrorCode.INVALID_OWNER,
  ])
  update(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: UpdateDealDto,
  ): Promise<DealDto> {
    return this.deals.update(actor, id, body);
  }

  @ApiConditional()
  @TenantAction(':id/move-stage', {
    permission: 'deals:update',
    summary: 'Move a deal to a stage (same rules as PATCH {stage})',
    description: RULES,
    type: DealDto,
  })
  @ApiError(403, [ErrorCode.NOT_A_MEMBER, ErrorCode.STAGE_ROLLBACK_FORBIDDEN])
  @ApiError(422, [ErrorCode.INVALID_STAGE])
  moveStage(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: MoveStageDto,
  ): Promise<DealDto> {
    return this.deals.moveStage(actor, id, body.stage);
  }

  @ApiConditional()
  @TenantAction(':id/win', {
    permission: 'deals:update',
    summary: 'Win a deal (same rules as PATCH {status: won})',
    description: RULES,
    type: DealDto,
  })
  @ApiError(409, [ErrorCode.INVALID_STATUS_TRANSITION])
  @ApiError(422, [ErrorCode.AMOUNT_REQUIRED_TO_WIN])
  @ApiBody({ type: WinDealDto, required: false, description: 'No properties; may be omitted' })
  win(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    // Validated so that unknown properties and malformed JSON are a 400, as everywhere.
    @Body() _body: WinDealDto,
  ): Promise<DealDto> {
    return this.deals.win(actor, id);
  }

  @ApiConditional()
  @TenantAction(':id/lose', {
    permission: 'deals:update',
    summary: 'Lose a deal with a reason (same rules as PATCH {status: lost})',
    description: RULES,
    type: DealDto,
  })
  @ApiError(409, [ErrorCode.INVALID_STATUS_TRANSITION])
  lose(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: LoseDealDto,
  ): Promise<DealDto> {
    return this.deals.lose(actor, id, body.reason);
  }

  @ApiConditional()
  @TenantDelete(':id', {
    permission: 'deals:delete',
    summary: 'Delete a deal with its tasks and activities',
    description:
      'The deal, its tasks and its activity timeline are deleted in one transaction, and ' +
      'crm.deal.deleted.v1 is recorded. If-Match with the last ETag refuses to delete a deal ' +
      'changed since (412).',
  })
  remove(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.deals.remove(actor, id);
  }
}
