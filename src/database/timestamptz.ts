import { types } from 'pg';

/** PostgreSQL's `timestamptz` type. */
const TIMESTAMPTZ_OID = 1184;

/** pg's own parser of timestamptz text (postgres-date): whatever the fast path does not take. */
const pgParseTimestamptz = types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (
  text: string,
) => Date | number;

/** The number written by `count` ASCII digits of `text` at `at`, or -1 if one is not a digit. */
function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * A timestamptz as PostgreSQL writes it in a UTC session (`2024-12-08 01:42:22.416123+00`, the
 * fraction optional, 1-6 digits), parsed without regular expressions: the same Date as pg's own
 * parser gives (its milliseconds are the fraction's first three digits, as its
 * `1000 * parseFloat(fraction)` truncated is; a test compares the two on random instants). Any
 * other form (another session time zone, years before 100, BC, infinity) goes to pg's parser.
 * Every list row and read by id parses two or three of these, and postgres-date's regular
 * expressions were about 6% of a list page's CPU (docs/decisions/0052).
 */
export function parseTimestamptz(text: string): Date | number {
  const n = text.length;
  if (
    n >= 22 &&
    n <= 29 &&
    text.charCodeAt(n - 3) === 43 && // '+00': UTC
    text.charCodeAt(n - 2) === 48 &&
    text.charCodeAt(n - 1) === 48 &&
    text.charCodeAt(4) === 45 && // 'YYYY-MM-DD HH:MM:SS'
    text.charCodeAt(7) === 45 &&
    text.charCodeAt(10) === 32 &&
    text.charCodeAt(13) === 58 &&
    text.charCodeAt(16) === 58 &&
    (n === 22 || (n > 23 && text.charCodeAt(19) === 46)) // then nothing, or '.' and digits
  ) {
    const fraction = n - 23; // digits after the '.'
    const year = digits(text, 0, 4);
    const month = digits(text, 5, 2);
    const day = digits(text, 8, 2);
    const hour = digits(text, 11, 2);
    const minute = digits(text, 14, 2);
    const second = digits(text, 17, 2);
    const ms =
      fraction > 0
        ? digits(text, 20, Math.min(fraction, 3)) * 10 ** (3 - Math.min(fraction, 3))
        : 0;
    const rest = fraction > 3 ? digits(text, 23, fraction - 3) : 0;
    if (
      year >= 100 && // Date.UTC reads 0-99 as 1900-1999
      month >= 0 &&
      day >= 0 &&
      hour >= 0 &&
      minute >= 0 &&
      second >= 0 &&
      ms >= 0 &&
      rest >= 0
    ) {
      return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
    }
  }
  return pgParseTimestamptz(text);
}

/**
 * The type parsers of the app's pool (pg's `types` client option): pg's, with timestamptz
 * parsed by parseTimestamptz. Scoped to the pool, not set on pg's global registry.
 */
export const appTypeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === TIMESTAMPTZ_OID && format !== 'binary'
      ? parseTimestamptz
      : (types.getTypeParser(oid, format ?? 'text') as unknown)) as typeof types.getTypeParser,
};
