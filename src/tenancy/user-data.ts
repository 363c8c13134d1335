import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { TenantReader } from './unit-of-work';

/**
 * A feature's part of a user's data export (GET /users/me/export, API.md section 11). Each
 * feature that holds records a user owns offers one (`<feature>.user-data.ts`), registered in
 * and exported by its module; the export reads them all in one snapshot.
 */
export interface UserDataProvider {
  /**
   * What `userId` owns in the reader's organization, in the representation of the feature's
   * API, oldest first; streamed from the database where the feature's data can be large.
   */
  forUserExport(reader: TenantReader, userId: string): AsyncIterable<unknown>;
}

/**
 * The rows of `query` (a user's records, alias `alias`), oldest first (ties by id), streamed
 * from the reader's snapshot and mapped to their API representation.
 */
export async function* oldestFirst<Row extends ObjectLiteral, Item>(
  reader: TenantReader,
  query: SelectQueryBuilder<ObjectLiteral>,
  alias: string,
  toItem: (row: Row) => Item,
): AsyncGenerator<Item> {
  const rows = await reader.stream(
    query.orderBy(`${alias}.created_at`, 'ASC').addOrderBy(`${alias}.id`, 'ASC'),
  );
  for await (const row of rows) yield toItem(row as Row);
}
