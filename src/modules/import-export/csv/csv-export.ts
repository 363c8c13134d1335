import { pipeline, type Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { PoolClient } from 'pg';
import QueryStream from 'pg-query-stream';
import type { DataSource, ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/** Rows fetched from the database cursor per round trip. */
const CURSOR_BATCH = 500;

/** Cells a spreadsheet would read as a formula (or that hide one): `=`, `+`, `-`, `@`, tab, CR. */
const FORMULA_START = /^[=+\-@\t\r]/;

/** Prefixes `'` to a cell a spreadsheet would run as a formula (API.md section 11). */
export function neutralise(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/**
 * Streams the rows of `query` from a server-side cursor (pg-query-stream, CURSOR_BATCH rows
 * at a time) on a connection of its own, which goes back to the pool when the stream closes:
 * at its end, on an error, or when the client goes away (the stream is then destroyed).
 */
export async function streamRows(
  dataSource: DataSource,
  query: SelectQueryBuilder<ObjectLiteral>,
): Promise<Readable> {
  const [sql, parameters] = query.getQueryAndParameters();
  const runner = dataSource.createQueryRunner();
  const client = (await runner.connect()) as PoolClient;
  const rows = client.query(
    new QueryStream(sql, parameters as unknown[], { batchSize: CURSOR_BATCH }),
  );
  rows.once('close', () => void runner.release().catch(() => undefined));
  return rows;
}

/**
 * The rows of `query` as CSV (csv-stringify): a header row of `columns`, then one line per row
 * with the values of those properties. Strings are neutralised against formula injection,
 * timestamps written as ISO-8601 (UTC), null as an empty cell, objects as JSON (or as
 * `formatters` says for their column). Memory stays constant: rows are
 * read from the cursor as fast as the client takes the CSV, never all at once.
 */
export async function csvStream(
  dataSource: DataSource,
  query: SelectQueryBuilder<ObjectLiteral>,
  columns: readonly string[],
  formatters: Partial<Record<string, (value: object) => string>> = {},
): Promise<Readable> {
  const rows = await streamRows(dataSource, query);
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
