import { parseDurationListMs, parseDurationMs, parseDurationSeconds } from './duration';

describe('parseDurationSeconds', () => {
  it.each([
    ['900', 900],
    ['900s', 900],
    ['1s', 1],
    ['15m', 900],
    ['12h', 43_200],
    ['7d', 604_800],
    ['  15m ', 900],
  ])('parses %j as %d seconds', (input, expected) => {
    expect(parseDurationSeconds(input)).toBe(expected);
  });

  it.each([
    '',
    ' ',
    '15x',
    '15M',
    '1w',
    '15 m',
    'm',
    '-5',
    '-5m',
    '1.5h',
    '15mm',
    'abc',
    '0',
    '0s',
    '0d',
  ])('rejects %j', (input) => {
    expect(parseDurationSeconds(input)).toBeNull();
  });
});

describe('parseDurationMs / parseDurationListMs', () => {
  it.each([
    ['250ms', 250],
    ['5', 5000],
    ['5s', 5000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
  ])('parses %j as %d ms', (input, ms) => {
    expect(parseDurationMs(input)).toBe(ms);
  });

  it.each(['0ms', '0', '5x', 'ms', '-5s', '1.5s', ''])('rejects %j', (input) => {
    expect(parseDurationMs(input)).toBeNull();
  });

  it('parses the default retry schedule, and refuses a list with one bad entry', () => {
    expect(parseDurationListMs('5s,5m,30m,2h,5h,10h,10h')).toEqual([
      5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
    expect(parseDurationListMs('100ms, 200ms')).toEqual([100, 200]);
    expect(parseDurationListMs('5s,,5m')).toBeNull();
    expect(parseDurationListMs('5s,soon')).toBeNull();
  });
});
