import { Injectable } from '@nestjs/common';
import { ANALYTICS, TenantCache } from '../../common/cache/tenant-cache';
import { type Actor, scopeOf } from '../../tenancy/actor';
import type { Scope } from '../../tenancy/permissions';
import { type TenantReader, UnitOfWork } from '../../tenancy/unit-of-work';
import { Deal } from '../deals/deal.entity';
import { DealStatus } from '../deals/deal.enums';
import type { Pipeline } from '../pipelines/pipeline.entity';
import { PipelinesService, stageKeys } from '../pipelines/pipelines.service';
import {
  funnelFromRows,
  summaryFromRows,
  type StageStatusRow,
  type StatusCurrencyRow,
} from './deal-analytics';
import type { DealFunnelDto, DealForecastDto } from './dto/deal-funnel.dto';
import type { DealSummaryDto } from './dto/deal-summary.dto';

/**
 * Deal analytics (API.md section 9) over the deals visible to the caller (members: their own),
 * each answer one aggregate query (GROUP BY) — deal rows never reach the process — cached per
 * organization, visibility scope and parameters. Every write to the organization invalidates
 * its entries (the unit of work, after each commit -> TenantCache.invalidate).
 */
@Injectable()
export class AnalyticsService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly cache: TenantCache,
    private readonly pipelines: PipelinesService,
  ) {}

  summary(actor: Actor, days: number): Promise<DealSummaryDto> {
    return this.cache.getOrCompute(
      ANALYTICS,
      actor.organizationId,
      `deals-summary:${cacheScope(actor)}:days=${days}`,
      async () => {
        // Sums and averages stay numeric in SQL and leave it as two-decimal text: money never
        // passes through a float. round(numeric, 2) rounds half away from zero, which is
        // half-up for amounts (never negative). The period's days are 24 hours each, whatever
        // the session time zone (no daylight-saving drift). The average is sum / count: the
        // same value as avg() once rounded, one numeric aggregate fewer (a third of the
        // query's time at 1M deals).
        const rows = await this.uow
          .read(actor)
          .visible(Deal, 'd', dealScope(actor))
          .select('d.status', 'status')
          .addSelect('d.currency', 'currency')
          .addSelect('count(*)::int', 'count')
          .addSelect('round(sum(d.amount), 2)::text', 'total')
          .addSelect('round(sum(d.amount) / count(*), 2)::text', 'average')
          .addSelect(
            'count(*) FILTER (WHERE d.created_at >= now() - make_interval(hours => 24 * CAST(:days AS int)))::int',
            'recent',
          )
          .setParameter('days', days)
          .groupBy('d.status')
          .addGroupBy('d.currency')
          .orderBy('d.currency')
          .getRawMany<StatusCurrencyRow>();
        return summaryFromRows(rows, days);
      },
      { replica: actor.replica },
    );
  }

  /** The funnel of one pipeline (the default one when `pipelineId` is omitted), in its stage order. */
  async funnel(actor: Actor, pipelineId?: string): Promise<DealFunnelDto> {
    return this.cache.getOrCompute(
      ANALYTICS,
      actor.organizationId,
      `deals-funnel:${cacheScope(actor)}:pipeline=${pipelineKey(pipelineId)}`,
      async () => {
        const reader = this.uow.read(actor);
        const pipeline = await this.findPipeline(reader, pipelineId);
        const rows = await reader
          .visible(Deal, 'd', dealScope(actor))
          .andWhere('d.pipeline_id = :pipelineId', { pipelineId: pipeline.id })
          .select('d.stage', 'stage')
          .addSelect('d.status', 'status')
          .addSelect('count(*)::int', 'count')
          .groupBy('d.stage')
          .addGroupBy('d.status')
          .getRawMany<StageStatusRow>();
        return funnelFromRows(rows, stageKeys(pipeline));
      },
      { replica: actor.replica },
    );
  }

  /**
   * The weighted forecast of a pipeline's open deals (new, in_progress), per currency: `open`
   * sums their amounts, `weighted` sums amount x stage probability / 100, rounded half-up.
   * The stages' probabilities enter the query as a CASE over the stage key.
   */
  async forecast(actor: Actor, pipelineId?: string): Promise<DealForecastDto> {
    return this.cache.getOrCompute(
      ANALYTICS,
      actor.organizationId,
      `deals-forecast:${cacheScope(actor)}:pipeline=${pipelineKey(pipelineId)}`,
      async () => {
        const reader = this.uow.read(actor);
        const pipeline = await this.findPipeline(reader, pipelineId);
        const probability = `CASE d.stage ${pipeline.stages
          .map((_, i) => `WHEN :stageKey${i} THEN CAST(:stageProbability${i} AS int)`)
          .join(' ')} ELSE 0 END`;
        const stageParameters: Record<string, string | number> = {};
        pipeline.stages.forEach((stage, i) => {
          stageParameters[`stageKey${i}`] = stage.key;
          stageParameters[`stageProbability${i}`] = stage.probability;
        });
        const rows = await reader
          .visible(Deal, 'd', dealScope(actor))
          .setParameters(stageParameters)
          .andWhere('d.pipeline_id = :pipelineId', { pipelineId: pipeline.id })
          .andWhere('d.status IN (:...open)', { open: [DealStatus.NEW, DealStatus.IN_PROGRESS] })
          .select('d.currency', 'currency')
          // No numeric(14, 2) cast: a sum of several amounts may exceed a single amount's
          // range; round(numeric, 2) keeps two fraction digits whatever the magnitude.
          .addSelect('round(sum(d.amount), 2)::text', 'open')
          .addSelect(`round(sum(d.amount * ${probability} / 100.0), 2)::text`, 'weighted')
          .groupBy('d.currency')
          .orderBy('d.currency')
          .getRawMany<{ currency: string; open: string; weighted: string }>();
        return {
          pipelineId: pipeline.id,
          weighted: Object.fromEntries(rows.map((r) => [r.currency, r.weighted])),
          open: Object.fromEntries(rows.map((r) => [r.currency, r.open])),
        };
      },
      { replica: actor.replica },
    );
  }

  /**
   * The pipeline (404 when not in the organization), read inside the cached computation, i.e.
   * after the cache generation was read: a cache hit costs no query, and an answer is never
   * computed from stages that a PATCH committed and invalidated before it was stored (a pipeline
   * change, a new default pipeline or a deletion is a write, which invalidates the entries). A
   * 404 is not cached.
   */
  private findPipeline(reader: TenantReader, pipelineId?: string): Promise<Pipeline> {
    return this.pipelines.find(reader, pipelineId);
  }
}

/**
 * Whose deals an answer covers: the narrower of the caller's analytics and deal-reading scopes
 * (API.md section 16: a role reading every deal but only its own analytics gets its own).
 */
function dealScope(actor: Actor): Scope | null {
  const analytics = scopeOf(actor, 'analytics');
  const deals = scopeOf(actor, 'deals');
  if (!analytics || !deals) return null;
  return analytics === 'all' && deals === 'all' ? 'all' : 'own';
}

/** The cache key's part for whose deals an answer covers. */
function cacheScope(actor: Actor): string {
  const scope = dealScope(actor);
  return scope === 'all' ? 'all' : `owner=${actor.userId}:${scope ?? 'none'}`;
}

/** The cache key's part for a pipeline: as requested (ids are case-insensitive), or the default. */
function pipelineKey(pipelineId: string | undefined): string {
  return pipelineId === undefined ? 'default' : pipelineId.toLowerCase();
}
