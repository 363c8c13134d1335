import { calendarDate, isCalendarDate, todayUtc } from './task-dates';

describe('task dates', () => {
  it('todayUtc is the UTC calendar date, whatever the local time zone', () => {
    expect(todayUtc(new Date('2026-03-01T23:59:59.999Z'))).toBe('2026-03-01');
    expect(todayUtc(new Date('2026-03-02T00:00:00.000Z'))).toBe('2026-03-02');
    expect(todayUtc(new Date('2026-03-01T23:30:00.000-05:00'))).toBe('2026-03-02');
    expect(todayUtc()).toBe(new Date().toISOString().slice(0, 10));
  });

  it.each(['2026-01-01', '2026-12-31', '2028-02-29', '2000-02-29', '0001-01-01', '9999-12-31'])(
    'accepts %s',
    (value) => expect(isCalendarDate(value)).toBe(true),
  );

  it.each([
    '2026-02-29',
    '2100-02-29',
    '2026-02-30',
    '2026-04-31',
    '2026-13-01',
    '2026-00-01',
    '2026-01-00',
    '2026-01-32',
    '0000-01-01',
    '2026-1-01',
    '26-01-01',
    '12026-01-01',
    '2026-01-01T00:00:00Z',
    ' 2026-01-01',
    '2026-01-01\n',
    '',
    20260101,
    null,
    undefined,
    new Date('2026-01-01'),
  ])('refuses %j', (value) => expect(isCalendarDate(value)).toBe(false));

  it('reads a date column value as YYYY-MM-DD: strings as they are, JS Dates by their local parts', () => {
    expect(calendarDate('2026-07-04')).toBe('2026-07-04');
    // node-postgres parses a `date` into local midnight
    expect(calendarDate(new Date(2026, 6, 4))).toBe('2026-07-04');
    expect(calendarDate(new Date(2026, 0, 1))).toBe('2026-01-01');
  });
});
