import { pipeline, type Readable } from 'node:stream';
import { stringify } from 'csv-stringify';

/** Cells a spreadsheet would read as a formula (or that hide one): `=`, `+`, `-`, `@`, tab, CR. */
const FORMULA_START = /^[=+\-@\t\r]/;

/** Prefixes `'` to a cell a spreadsheet would run as a formula (API.md section 11). */
export function neutralise(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/**
 * Raw rows (a stream of objects: TenantReader.stream of a query) as CSV (csv-stringify): a
 * header row of `columns`, then one line per row with the values of those properties. Strings
 * are neutralised against formula injection, timestamps written as ISO-8601 (UTC), null as an
 * empty cell, objects as JSON (or as `formatters` says for their column). Memory stays
 * constant: rows are read from the cursor as fast as the client takes the CSV, never all at
 * once.
 */
export function csvStream(
  rows: Readable,
  columns: readonly string[],
  formatters: Partial<Record<string, (value: object) => string>> = {},
): Readable {
  const csv = stringify({
    header: true,
    columns: [...columns],
    cast: {
      string: neutralise,
      date: (value) => value.toISOString(),
      boolean: (value) => String(value),
      number: (value) => neutralise(String(value)),
      object: (value, { column }) =>
        neutralise(formatters[String(column)]?.(value) ?? JSON.stringify(value)),
    },
  });
  // An error on either side (or the client going away) destroys both, releasing the cursor.
  pipeline(rows, csv, () => undefined);
  return csv;
}

/** `contacts-2026-11-21.csv`: what a downloaded export is called. */
export function exportFileName(what: string, now = new Date()): string {
  return `${what}-${now.toISOString().slice(0, 10)}.csv`;
}
