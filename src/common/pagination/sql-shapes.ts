import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/**
 * Generated SQL kept per query shape (docs/decisions/0034). TypeORM writes a query builder's SQL
 * anew on every execution, which was about a tenth of the CPU of a read by id. A shape is a query
 * whose text never changes between calls, only its parameters (the tenant, the viewer, the id are
 * always bound parameters, never inlined): its SQL is generated once, with named parameters, and
 * every later builder of that shape binds its own parameters into it. The builder still runs
 * and hydrates its rows as usual.
 */
const SHAPES = new Map<string, string>();

/**
 * Makes `query` use the SQL stored for `shape` (generated from `query` the first time). `shape`
 * must name everything that changes the text: the entity, joins, filters present, locks.
 */
export function withShapeSql<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  shape: string,
): SelectQueryBuilder<T> {
  let sql = SHAPES.get(shape);
  if (sql === undefined) {
    sql = query.getQuery();
    SHAPES.set(shape, sql);
  }
  const named = sql;
  const { driver } = query.connection;
  query.getQueryAndParameters = () =>
    driver.escapeQueryWithParameters(named, query.getParameters());
  return query;
}
