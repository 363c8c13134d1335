import { ValidateBy, type ValidationArguments } from 'class-validator';

/**
 * Calendar dates of tasks (API.md sections 1 and 7): `YYYY-MM-DD` strings, no time zone.
 * "Today" is the UTC date, computed here and only here: the due-date rule and the overdue
 * filter both take it from `todayUtc()`, never from the database's or the process's time zone.
 */

const CALENDAR_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Today's date in UTC, `YYYY-MM-DD`. */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

const isLeapYear = (year: number): boolean =>
  (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/** A real date of the proleptic Gregorian calendar, `YYYY-MM-DD`, year 0001..9999 (so `2026-02-30` is not). */
export function isCalendarDate(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const match = CALENDAR_DATE.exec(value);
  if (!match) return false;
  const [year, month, day] = match.slice(1).map(Number);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const days = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return day <= days[month - 1];
}

/** Validates a `YYYY-MM-DD` calendar date (400 VALIDATION_FAILED otherwise). */
export const IsCalendarDate = (): PropertyDecorator =>
  ValidateBy({
    name: 'isCalendarDate',
    validator: {
      validate: (value: unknown) => isCalendarDate(value),
      defaultMessage: (args?: ValidationArguments) =>
        `${args?.property} must be a calendar date (YYYY-MM-DD)`,
    },
  });

/**
 * A `date` column value as `YYYY-MM-DD`. TypeORM hands entities a string already; node-postgres
 * parses a raw `date` into a JS Date at local midnight, so its local parts are the date (reading
 * its UTC parts would shift it by the process's time zone).
 */
export function calendarDate(value: string | Date): string {
  if (typeof value === 'string') return value.slice(0, 10);
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${pad(value.getFullYear(), 4)}-${pad(value.getMonth() + 1)}-${pad(value.getDate())}`;
}
