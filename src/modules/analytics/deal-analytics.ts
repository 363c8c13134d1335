import { DEAL_STATUSES, DealStatus } from '../deals/deal.enums';
import type { DealFunnelDto, StatusCountsDto } from './dto/deal-funnel.dto';
import type { DealSummaryDto, StatusFigureDto, SummaryByStatusDto } from './dto/deal-summary.dto';

/**
 * Shapes the aggregate rows of the analytics queries into the answers of API.md section 9.
 * Pure functions over a handful of grouped rows (one per status x currency, or per stage x
 * status): the figures themselves (counts, sums, averages) come from SQL.
 */

/** One `GROUP BY status, currency` row of the summary query. */
export interface StatusCurrencyRow {
  status: string;
  currency: string;
  count: number;
  /** Sum of the amounts, two-decimal string. */
  total: string;
  /** Average amount rounded half-up to two decimals, two-decimal string. */
  average: string;
  /** How many of them were created within the period. */
  recent: number;
}

/** One `GROUP BY stage, status` row of the funnel query. */
export interface StageStatusRow {
  stage: string;
  status: string;
  count: number;
}

const isStatus = (value: string): value is DealStatus =>
  (DEAL_STATUSES as readonly string[]).includes(value);

export function summaryFromRows(rows: readonly StatusCurrencyRow[], days: number): DealSummaryDto {
  const byStatus = Object.fromEntries(
    DEAL_STATUSES.map((s): [DealStatus, StatusFigureDto] => [s, { count: 0, amounts: {} }]),
  ) as unknown as SummaryByStatusDto;
  const wonAverageAmount: Record<string, string> = {};
  let newDealsInPeriod = 0;
  for (const row of rows) {
    if (!isStatus(row.status)) continue;
    const figure = byStatus[row.status];
    figure.count += row.count;
    figure.amounts[row.currency] = row.total;
    if (row.status === DealStatus.WON) wonAverageAmount[row.currency] = row.average;
    newDealsInPeriod += row.recent;
  }
  return { byStatus, wonAverageAmount, newDealsInPeriod, periodDays: days };
}

/**
 * `part / whole` rounded half-up to 4 decimals, 0 when `whole` is 0. The rounding is done on
 * integers (floor((2 * part * 10^4 + whole) / (2 * whole))), so 2/3 is 0.6667 and 1/16 is
 * 0.0625 exactly, and no binary-float artefact can flip a half.
 */
export function conversionRate(part: number, whole: number): number {
  if (whole <= 0) return 0;
  const numerator = 2 * part * 10_000 + whole;
  const denominator = 2 * whole;
  let units = Math.floor(numerator / denominator);
  // Correct the float division's last-unit error, if any: units = floor(numerator / denominator).
  while (units * denominator > numerator) units -= 1;
  while ((units + 1) * denominator <= numerator) units += 1;
  return units / 10_000;
}

/** `stages` in order (the last is the closing one); rows of other stages are ignored. */
export function funnelFromRows(
  rows: readonly StageStatusRow[],
  stages: readonly string[],
): DealFunnelDto {
  const counts = stages.map(() => ({
    count: 0,
    byStatus: Object.fromEntries(DEAL_STATUSES.map((s) => [s, 0])) as unknown as StatusCountsDto,
  }));
  for (const row of rows) {
    const at = stages.indexOf(row.stage);
    if (at < 0 || !isStatus(row.status)) continue;
    counts[at].count += row.count;
    counts[at].byStatus[row.status] += row.count;
  }
  // atOrBeyond[i]: deals whose stage is stages[i] or a later one.
  const atOrBeyond = counts.map((_, i) =>
    counts.slice(i).reduce((sum, stage) => sum + stage.count, 0),
  );
  return {
    stages: stages.map((stage, i) => ({ stage, ...counts[i] })),
    conversion: stages.slice(1).map((to, i) => ({
      from: stages[i],
      to,
      rate: conversionRate(atOrBeyond[i + 1], atOrBeyond[i]),
    })),
  };
}
