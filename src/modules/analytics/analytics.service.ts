import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type SelectQueryBuilder } from 'typeorm';
import type { Actor } from '../../common/http/request-context';
import { seesWholeOrganization, visibleTo } from '../../common/visibility/visibility';
import { Deal } from '../deals/deal.entity';
import { DEAL_STAGES } from '../deals/deal.enums';
import { AnalyticsCache } from './analytics-cache.service';
import {
  funnelFromRows,
  summaryFromRows,
  type StageStatusRow,
  type StatusCurrencyRow,
} from './deal-analytics';
import type { DealFunnelDto } from './dto/deal-funnel.dto';
import type { DealSummaryDto } from './dto/deal-summary.dto';

/**
 * Deal analytics (API.md section 9) over the deals visible to the caller (members: their own),
 * each answer one aggregate query (GROUP BY) — deal rows never reach the process — cached per
 * organization, visibility scope and parameters. Deal writes invalidate the organization's
 * entries (DealsService -> AnalyticsCache.invalidate).
 */
@Injectable()
export class AnalyticsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly cache: AnalyticsCache,
  ) {}

  summary(actor: Actor, days: number): Promise<DealSummaryDto> {
    return this.cache.getOrCompute(
      actor.organizationId,
      `deals-summary:${scopeOf(actor)}:days=${days}`,
      async () => {
        // Sums and averages stay numeric in SQL and leave it as two-decimal text: money never
        // passes through a float. round(numeric, 2) rounds half away from zero, which is
        // half-up for amounts (never negative). The period's days are 24 hours each, whatever
        // the session time zone (no daylight-saving drift).
        const rows = await this.visibleDeals(actor)
          .select('d.status', 'status')
          .addSelect('d.currency', 'currency')
          .addSelect('count(*)::int', 'count')
          .addSelect('round(sum(d.amount), 2)::text', 'total')
          .addSelect('round(avg(d.amount), 2)::text', 'average')
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
    );
  }

  funnel(actor: Actor): Promise<DealFunnelDto> {
    return this.cache.getOrCompute(
      actor.organizationId,
      `deals-funnel:${scopeOf(actor)}`,
      async () => {
        const rows = await this.visibleDeals(actor)
          .select('d.stage', 'stage')
          .addSelect('d.status', 'status')
          .addSelect('count(*)::int', 'count')
          .groupBy('d.stage')
          .addGroupBy('d.status')
          .getRawMany<StageStatusRow>();
        return funnelFromRows(rows, DEAL_STAGES);
      },
    );
  }

  private visibleDeals(actor: Actor): SelectQueryBuilder<Deal> {
    return visibleTo(this.dataSource.getRepository(Deal).createQueryBuilder('d'), actor, 'd');
  }
}

/** Whose deals an answer covers: the whole organization, or one member's own deals. */
function scopeOf(actor: Actor): string {
  return seesWholeOrganization(actor) ? 'all' : `owner=${actor.userId}`;
}
