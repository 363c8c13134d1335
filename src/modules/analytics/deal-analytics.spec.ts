import { DEAL_STAGES } from '../deals/deal.enums';
import {
  conversionRate,
  funnelFromRows,
  summaryFromRows,
  type StageStatusRow,
  type StatusCurrencyRow,
} from './deal-analytics';

const row = (r: Partial<StatusCurrencyRow> & Pick<StatusCurrencyRow, 'status' | 'currency'>) => ({
  count: 1,
  total: '0.00',
  average: '0.00',
  recent: 0,
  ...r,
});

/** Reference: round half-up of part/whole at 4 decimals, in exact BigInt arithmetic. */
function referenceRate(part: number, whole: number): number {
  if (whole === 0) return 0;
  const scaled = BigInt(part) * 10_000n;
  const w = BigInt(whole);
  const units = (scaled * 2n + w) / (2n * w);
  return Number(units) / 10_000;
}

describe('summaryFromRows', () => {
  it('has all four statuses with count 0 and no amounts when there are no deals', () => {
    expect(summaryFromRows([], 30)).toEqual({
      byStatus: {
        new: { count: 0, amounts: {} },
        in_progress: { count: 0, amounts: {} },
        won: { count: 0, amounts: {} },
        lost: { count: 0, amounts: {} },
      },
      wonAverageAmount: {},
      newDealsInPeriod: 0,
      periodDays: 30,
    });
  });

  it('keeps amounts per currency, adds counts and recent deals, averages only won deals', () => {
    const summary = summaryFromRows(
      [
        row({ status: 'won', currency: 'EUR', count: 2, total: '20.05', average: '10.03' }),
        row({
          status: 'won',
          currency: 'USD',
          count: 1,
          total: '5.00',
          average: '5.00',
          recent: 1,
        }),
        row({
          status: 'new',
          currency: 'USD',
          count: 3,
          total: '0.00',
          average: '0.00',
          recent: 2,
        }),
        row({ status: 'lost', currency: 'EUR', count: 1, total: '7.50', average: '7.50' }),
      ],
      7,
    );
    expect(summary).toEqual({
      byStatus: {
        new: { count: 3, amounts: { USD: '0.00' } },
        in_progress: { count: 0, amounts: {} },
        won: { count: 3, amounts: { EUR: '20.05', USD: '5.00' } },
        lost: { count: 1, amounts: { EUR: '7.50' } },
      },
      wonAverageAmount: { EUR: '10.03', USD: '5.00' },
      newDealsInPeriod: 3,
      periodDays: 7,
    });
  });

  it('ignores a status it does not know', () => {
    const summary = summaryFromRows([row({ status: 'archived', currency: 'USD', recent: 1 })], 30);
    expect(summary.newDealsInPeriod).toBe(0);
    expect(Object.keys(summary.byStatus)).toEqual(['new', 'in_progress', 'won', 'lost']);
  });
});

describe('conversionRate', () => {
  it('is 0 when the denominator is 0', () => {
    expect(conversionRate(0, 0)).toBe(0);
  });

  it('rounds half-up to 4 decimals', () => {
    expect(conversionRate(2, 3)).toBe(0.6667);
    expect(conversionRate(1, 3)).toBe(0.3333);
    expect(conversionRate(1, 32)).toBe(0.0313); // 0.03125
    expect(conversionRate(3, 32)).toBe(0.0938); // 0.09375
    expect(conversionRate(1, 16)).toBe(0.0625);
    expect(conversionRate(3, 5)).toBe(0.6);
    expect(conversionRate(7, 7)).toBe(1);
    expect(conversionRate(0, 9)).toBe(0);
  });

  it('matches exact arithmetic for every fraction up to 400, and for large counts', () => {
    for (let whole = 1; whole <= 400; whole++) {
      for (let part = 0; part <= whole; part++) {
        if (conversionRate(part, whole) !== referenceRate(part, whole)) {
          throw new Error(`${part}/${whole}: ${conversionRate(part, whole)}`);
        }
      }
    }
    for (const [part, whole] of [
      [1, 20_000],
      [1, 200_000],
      [123_456_789, 987_654_321],
      [50_000_000_001, 100_000_000_000],
    ]) {
      expect(conversionRate(part, whole)).toBe(referenceRate(part, whole));
    }
  });
});

describe('funnelFromRows', () => {
  it('lists every stage in order and every pair of consecutive stages, also without deals', () => {
    const funnel = funnelFromRows([], DEAL_STAGES);
    expect(funnel.stages.map((s) => s.stage)).toEqual([...DEAL_STAGES]);
    expect(funnel.stages.every((s) => s.count === 0)).toBe(true);
    expect(funnel.stages[0].byStatus).toEqual({ new: 0, in_progress: 0, won: 0, lost: 0 });
    expect(funnel.conversion).toEqual([
      { from: 'qualification', to: 'proposal', rate: 0 },
      { from: 'proposal', to: 'negotiation', rate: 0 },
      { from: 'negotiation', to: 'closed', rate: 0 },
    ]);
  });

  it('counts deals per stage and status; rates use the deals at or beyond each stage', () => {
    const rows: StageStatusRow[] = [
      { stage: 'qualification', status: 'new', count: 6 },
      { stage: 'qualification', status: 'in_progress', count: 4 },
      { stage: 'proposal', status: 'in_progress', count: 5 },
      { stage: 'negotiation', status: 'in_progress', count: 2 },
      { stage: 'closed', status: 'won', count: 5 },
      { stage: 'closed', status: 'lost', count: 3 },
      { stage: 'elsewhere', status: 'new', count: 100 },
    ];
    const funnel = funnelFromRows(rows, DEAL_STAGES);
    expect(funnel.stages).toEqual([
      {
        stage: 'qualification',
        count: 10,
        byStatus: { new: 6, in_progress: 4, won: 0, lost: 0 },
      },
      { stage: 'proposal', count: 5, byStatus: { new: 0, in_progress: 5, won: 0, lost: 0 } },
      { stage: 'negotiation', count: 2, byStatus: { new: 0, in_progress: 2, won: 0, lost: 0 } },
      { stage: 'closed', count: 8, byStatus: { new: 0, in_progress: 0, won: 5, lost: 3 } },
    ]);
    // at or beyond: 25, 15, 10, 8
    expect(funnel.conversion.map((c) => c.rate)).toEqual([0.6, 0.6667, 0.8]);
  });

  it('works for any ordered stage list', () => {
    const funnel = funnelFromRows(
      [
        { stage: 'b', status: 'new', count: 1 },
        { stage: 'a', status: 'new', count: 2 },
      ],
      ['a', 'b', 'c'],
    );
    expect(funnel.stages.map((s) => [s.stage, s.count])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 0],
    ]);
    expect(funnel.conversion.map((c) => c.rate)).toEqual([0.3333, 0]);
  });
});
