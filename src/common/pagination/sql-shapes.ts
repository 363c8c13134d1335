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
  query.getQueryAndParameters = () => queryAndParameters(query, shape);
  return query;
}

/** At most this many shapes are kept (a list's shapes: its filters present, its order). */
const MAX_SHAPES = 2_000;
/**
 * Under Jest (NODE_ENV=test) every reuse of a derived shape's SQL is checked against the SQL
 * TypeORM generates for the builder, so the e2e suites prove that `shapeOf` names everything that
 * changes the text; a difference throws. (Named shapes are not: a test asserts that a read by id
 * generates no SQL once its shape is known.)
 */
const CHECK_SHAPES = process.env.NODE_ENV === 'test';

type Builder = SelectQueryBuilder<ObjectLiteral>;
type JoinAttribute = Builder['expressionMap']['joinAttributes'][number];

const targetName = (target: unknown): string =>
  typeof target === 'string'
    ? target
    : typeof target === 'function'
      ? (target as { name: string }).name
      : JSON.stringify(target);

const joinShape = (join: JoinAttribute): string =>
  [
    join.direction,
    targetName(join.entityOrProperty),
    join.alias.name,
    join.condition ?? '',
    join.isSelected,
    join.mapToProperty ?? '',
    join.isMappingMany,
  ].join('\u0001');

/**
 * The shape of a select builder, derived from what TypeORM writes its SQL from (the expression
 * map: table, selects, joins, where and having conditions as written with their named
 * parameters, order, grouping, limits, locks), never from parameter values. Undefined for a
 * builder using what this does not model (common table expressions, relation ids, a subquery
 * as its source): its SQL is then generated every time.
 */
export function shapeOf<T extends ObjectLiteral>(query: SelectQueryBuilder<T>): string | undefined {
  const map = query.expressionMap;
  const main = map.mainAlias;
  if (
    !main?.hasMetadata ||
    map.commonTableExpressions.length ||
    map.relationIdAttributes.length ||
    map.queryType !== 'select'
  )
    return undefined;
  return JSON.stringify([
    main.metadata.tablePath,
    main.name,
    map.selects,
    map.selectDistinct,
    map.selectDistinctOn,
    map.joinAttributes.map(joinShape),
    map.wheres,
    map.havings,
    map.orderBys,
    map.groupBys,
    map.limit,
    map.offset,
    map.skip,
    map.take,
    map.lockMode,
    map.onLocked,
    map.lockTables,
    map.lockVersion instanceof Date ? 'date' : map.lockVersion,
    map.useIndex,
    map.withDeleted,
    map.disableEscaping,
    map.extraAppendedAndWhereCondition,
    map.subQuery,
    map.aliasNamePrefixingEnabled,
    map.timeTravel,
    map.comment,
    map.maxExecutionTime,
  ]);
}

/**
 * A stored text with its named parameters replaced by PostgreSQL's positional ones, as TypeORM's
 * `escapeQueryWithParameters` writes them: `names[i]` is `$i+1`; `absent` are the `:words` left
 * as they are because no parameter had that name (casts such as `::text`).
 */
interface Positional {
  sql: string;
  names: string[];
  absent: string[];
}
/** Per stored text: its positional form (undefined: TypeORM binds it every time). */
const POSITIONAL = new Map<string, Positional | undefined>();
/** TypeORM's pattern of a named parameter (PostgresDriver.escapeQueryWithParameters). */
const NAMED_PARAMETER = /:(\.\.\.)?([A-Za-z0-9_.]+)/g;

/**
 * The positional form of `sql` for parameters named as in `parameters`, or undefined when
 * TypeORM would write the text from the values (a spread `:...list` or a function value).
 */
function positionalOf(sql: string, parameters: ObjectLiteral): Positional | undefined {
  const names: string[] = [];
  const absent: string[] = [];
  let bindsValues = true;
  const text = sql.replaceAll(NAMED_PARAMETER, (full, spread: string | undefined, key: string) => {
    if (!Object.hasOwn(parameters, key)) {
      absent.push(key);
      return full;
    }
    if (spread || typeof parameters[key] === 'function') bindsValues = false;
    const index = names.indexOf(key);
    if (index >= 0) return `$${index + 1}`;
    names.push(key);
    return `$${names.length}`;
  });
  return bindsValues ? { sql: text, names, absent } : undefined;
}

/**
 * `driver.escapeQueryWithParameters(sql, parameters)` for a stored text: its positional form is
 * written once (TypeORM's regular expression over the whole text was 2% of a read by id's CPU),
 * then each call only picks the values, while they are named as the first time and none is a
 * function. Checked against TypeORM's own under Jest.
 */
function bind(
  query: SelectQueryBuilder<ObjectLiteral>,
  sql: string,
  parameters: ObjectLiteral,
): [string, unknown[]] {
  if (!POSITIONAL.has(sql) && POSITIONAL.size < MAX_SHAPES) {
    POSITIONAL.set(sql, positionalOf(sql, parameters));
  }
  const positional = POSITIONAL.get(sql);
  const escape = (): [string, unknown[]] =>
    query.connection.driver.escapeQueryWithParameters(sql, parameters);
  if (
    !positional ||
    positional.absent.some((name) => Object.hasOwn(parameters, name)) ||
    positional.names.some(
      (name) => !Object.hasOwn(parameters, name) || typeof parameters[name] === 'function',
    )
  ) {
    return escape();
  }
  const bound: [string, unknown[]] = [
    positional.sql,
    positional.names.map((name) => parameters[name] as unknown),
  ];
  if (CHECK_SHAPES) {
    const [text, values] = escape();
    if (
      text !== bound[0] ||
      values.length !== bound[1].length ||
      values.some((v, i) => v !== bound[1][i])
    ) {
      throw new Error(`sql-shapes: binding differs from TypeORM's:\n${bound[0]}\n${text}`);
    }
  }
  return bound;
}

/**
 * `query.getQueryAndParameters()`, with the SQL text generated once per shape (by default
 * derived: shapeOf) and only the parameters bound on every call: what the shared list helpers
 * (Paginator) run, so that every list endpoint pays TypeORM's SQL generation once
 * (docs/decisions/0050).
 */
export function queryAndParameters<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  named?: string,
): [string, unknown[]] {
  const shape = named ?? shapeOf(query);
  let sql = shape === undefined ? undefined : SHAPES.get(shape);
  if (sql === undefined) {
    sql = query.getQuery();
    if (shape !== undefined && SHAPES.size < MAX_SHAPES) SHAPES.set(shape, sql);
  } else if (CHECK_SHAPES && named === undefined) {
    const fresh = query.getQuery();
    if (fresh !== sql) {
      throw new Error(`sql-shapes: one shape, two texts:\n${sql}\n${fresh}\nshape: ${shape}`);
    }
  }
  return shape === undefined
    ? query.connection.driver.escapeQueryWithParameters(sql, query.getParameters())
    : bind(query, sql, query.getParameters());
}
