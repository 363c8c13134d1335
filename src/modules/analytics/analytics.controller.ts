import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Can } from '../../tenancy/access/access.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import type { Actor } from '../../tenancy/actor';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { AnalyticsService } from './analytics.service';
import { DealForecastDto, DealFunnelDto, PipelineQueryDto } from './dto/deal-funnel.dto';
import { DealSummaryDto, DealSummaryQueryDto } from './dto/deal-summary.dto';

const SCOPE_AND_CACHE =
  'Computed over the deals visible to the caller (members: only the deals they own). ' +
  'Answers are cached per organization and visibility scope for ANALYTICS_CACHE_TTL_SECONDS ' +
  '(default 60); every deal write (create, change, delete) of the organization invalidates ' +
  "them, so a client's next read always reflects its own last write.";

@ApiTags('analytics')
@Controller('analytics/deals')
export class AnalyticsController {
  constructor(private readonly analytics: AnalyticsService) {}

  @Get('summary')
  @Can('analytics:read')
  @ApiOperation({
    summary: 'Deal figures by status, won averages and new deals in a period',
    description:
      `${SCOPE_AND_CACHE} Amounts are per currency, never added across currencies; all four ` +
      'statuses are always present. wonAverageAmount is rounded half-up to two decimals. ' +
      'newDealsInPeriod counts the deals created in the last `days` days (1..365, default 30).',
  })
  @ApiOkResponse({ type: DealSummaryDto, description: 'The summary over the visible deals' })
  summary(
    @CurrentActor() actor: Actor,
    @Query() query: DealSummaryQueryDto,
  ): Promise<DealSummaryDto> {
    return this.analytics.summary(actor, query.days);
  }

  @Get('funnel')
  @Can('analytics:read')
  @ApiOperation({
    summary: 'Deals per stage of a pipeline and the conversion between consecutive stages',
    description:
      `${SCOPE_AND_CACHE} Every stage is listed in stage order with the number of deals ` +
      'currently at it, by status. conversion[i].rate = deals at or beyond `to` / deals at or ' +
      'beyond `from` (0 when the denominator is 0), rounded half-up to 4 decimals.',
  })
  @ApiOkResponse({ type: DealFunnelDto, description: 'The funnel over the visible deals' })
  @ApiError(404, [ErrorCode.NOT_FOUND], 'NOT_FOUND: no such pipeline in the organization')
  funnel(@CurrentActor() actor: Actor, @Query() query: PipelineQueryDto): Promise<DealFunnelDto> {
    return this.analytics.funnel(actor, query.pipelineId);
  }

  @Get('forecast')
  @Can('analytics:read')
  @ApiOperation({
    summary: "Weighted forecast of a pipeline's open deals",
    description:
      `${SCOPE_AND_CACHE} Over open deals (new, in_progress) of the pipeline (default pipeline ` +
      'when pipelineId is omitted), per currency: open = sum of amounts; weighted = sum of ' +
      'amount x stage probability / 100, rounded half-up to two decimals.',
  })
  @ApiOkResponse({ type: DealForecastDto })
  @ApiError(404, [ErrorCode.NOT_FOUND], 'NOT_FOUND: no such pipeline in the organization')
  forecast(
    @CurrentActor() actor: Actor,
    @Query() query: PipelineQueryDto,
  ): Promise<DealForecastDto> {
    return this.analytics.forecast(actor, query.pipelineId);
  }
}
