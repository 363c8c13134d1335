import { types } from 'pg';
import { appTypeParsers, parseTimestamptz } from './timestamptz';

/** pg's own parser (postgres-date), which parseTimestamptz must agree with. */
const pgParse = types.getTypeParser(1184, 'text') as (text: string) => Date | number;

/** `instant` as PostgreSQL writes a timestamptz in a UTC session, with `fractionDigits` (0-6). */
function postgresText(instant: Date, micros: number, fractionDigits: number): string {
  const iso = instant.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const fraction = `${iso.slice(20, 23)}${String(micros).padStart(3, '0')}`
    .slice(0, fractionDigits)
    .replace(/0+$/, ''); // PostgreSQL drops trailing zeros
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${fraction}` : ''}+00`;
}

const time = (value: Date | number): number => (value instanceof Date ? value.getTime() : value);

describe('parseTimestamptz', () => {
  it('gives the same instant as pg’s parser for random timestamps of years 100-9999', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const from = Date.UTC(100, 0, 1);
    const to = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    for (let i = 0; i < 50_000; i++) {
      const instant = new Date(from + Math.floor(random() * (to - from)));
      const text = postgresText(instant, Math.floor(random() * 1000), Math.floor(random() * 7));
      const parsed = parseTimestamptz(text);
      expect(parsed).toBeInstanceOf(Date);
      if (time(parsed) !== time(pgParse(text))) {
        throw new Error(`${text}: ${String(parsed)} against ${String(pgParse(text))}`);
      }
    }
  });

  it.each([
    ['2024-12-08 01:42:22+00', '2024-12-08T01:42:22.000Z'],
    ['2024-12-08 01:42:22.4+00', '2024-12-08T01:42:22.400Z'],
    ['2024-12-08 01:42:22.41+00', '2024-12-08T01:42:22.410Z'],
    ['2024-12-08 01:42:22.416999+00', '2024-12-08T01:42:22.416Z'],
    ['2024-02-29 23:59:59.999999+00', '2024-02-29T23:59:59.999Z'],
  ])('parses %s as %s', (text, iso) => {
    expect((parseTimestamptz(text) as Date).toISOString()).toBe(iso);
    expect((pgParse(text) as Date).toISOString()).toBe(iso);
  });

  it.each([
    'infinity',
    '-infinity',
    '2024-12-08 01:42:22.4+05:30', // another session time zone
    '2024-12-08 01:42:22-08',
    '0099-06-01 00:00:00+00', // Date.UTC would read the year as 1999
    '2024-12-08 01:42:22+00 BC',
    '12024-12-08 01:42:22+00',
    '2024-12-08 01:42:22.+00',
    '2024-1x-08 01:42:22+00',
  ])('leaves %s to pg’s parser, with its answer', (text) => {
    expect(time(parseTimestamptz(text))).toEqual(time(pgParse(text)));
  });

  it('is what the app’s pool uses for timestamptz, and pg’s parsers for every other type', () => {
    expect(appTypeParsers.getTypeParser(1184, 'text')).toBe(parseTimestamptz);
    expect(appTypeParsers.getTypeParser(1114, 'text')).toBe(types.getTypeParser(1114, 'text'));
    expect(appTypeParsers.getTypeParser(1700, 'text')).toBe(types.getTypeParser(1700, 'text'));
  });
});
