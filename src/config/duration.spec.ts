import { parseDurationSeconds } from './duration';

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
