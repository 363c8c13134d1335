import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { ObjectLiteral, QueryRunner, SelectQueryBuilder } from 'typeorm';
import { LIST_TOTALS, TenantCache } from '../cache/tenant-cache';
import { CursorCodec } from './cursor.codec';
import type { ListQueryDto } from './list-query.dto';
import type { ListResult } from './list-result.dto';

/** How a list is ordered: one sort column, then a unique tie-breaker so no row repeats or is skipped. */
export interface ListOrder {
  /** SQL expression of the (non-null) sort column, e.g. `m.created_at`. */
  column: string;
  /** Its PostgreSQL type: the cursor carries the value as text and casts it back. */
  type: 'timestamptz' | 'text' | 'numeric' | 'bigint' | 'date' | 'uuid';
  /** SQL expression of the unique tie-breaker (a uuid column). */
  id: string;
}

/**
 * Whose rows a list shows: the organization and the viewer its rows depend on (`*` when the
 * viewer sees the whole organization, else the viewer's user id).
 */
export interface ListView {
  organizationId: string;
  viewer: string;
}

/** What a cursor is bound to: the endpoint, the tenant and visibility, the ordering and filters. */
export interface ListScope {
  endpoint: string;
  view: ListView;
  orderBy: string;
  filters?: Record<string, unknown>;
}

/**
 * The query runner a query builder was created with (a transaction's), if any: raw SQL of the
 * builder runs where the builder would have (TypeORM keeps the field protected).
 */
const runnerOf = (query: SelectQueryBuilder<ObjectLiteral>): QueryRunner | undefined =>
  (query as unknown as { queryRunner?: QueryRunner }).queryRunner;

const KEY = '__cursor_key';
const ID = '__cursor_id';
/**
 * From this offset on, an offset page first finds its ids (`SELECT id ... OFFSET n LIMIT k`,
 * an index-only scan of the list's (organization, sort, id) index), then reads those rows:
 * the skipped rows cost an index entry each instead of a table row each.
 */
export const ID_FIRST_OFFSET = 1_000;

/**
 * Runs a list query as API.md section 1 describes. Offset pages (`page`, `pageSize`) answer
 * `{items, total, page, pageSize}`; keyset pages (`limit`, `cursor`) answer `{items, nextCursor}`
 * with a `WHERE (sort, id) < (last sort, last id)` seek whose cost does not grow with depth.
 * A cursor only works for the listing (`scope`) that issued it.
 *
 * `total` is an exact `count(*)` of the list's query, cached in the TenantCache under the
 * count's SQL and parameters (visibility and filters included): every write to the
 * organization invalidates it, so a client always counts its own writes, and concurrent pages
 * of one list share one count. The query may join only to-one relations (one row per item).
 */
@Injectable()
export class Paginator {
  constructor(
    private readonly cursors: CursorCodec,
    private readonly cache: TenantCache,
  ) {}

  async list<Row extends ObjectLiteral, Item>(
    query: SelectQueryBuilder<ObjectLiteral>,
    params: ListQueryDto,
    order: ListOrder,
    listScope: ListScope,
    toItem: (row: Row) => Item,
  ): Promise<ListResult<Item>> {
    const { endpoint, view, orderBy, filters } = listScope;
    const scope = JSON.stringify([
      endpoint,
      view.organizationId,
      view.viewer,
      orderBy,
      params.order,
      filters ?? {},
    ]);
    const direction = params.order === 'asc' ? 'ASC' : 'DESC';
    if (!params.isKeyset) {
      const page = params.page ?? 1;
      const pageSize = params.pageSize ?? 20;
      const offset = (page - 1) * pageSize;
      // The list's SQL is generated once and serves the page and its count (TypeORM's SQL
      // generation was the largest cost of a list page of the app's own: docs/decisions/0034).
      const [sql, parameters] = query.getQueryAndParameters();
      const rows =
        offset < ID_FIRST_OFFSET
          ? query.connection.query<Row[]>(
              `${sql} ORDER BY ${order.column} ${direction}, ${order.id} ${direction} LIMIT ${pageSize} OFFSET ${offset}`,
              parameters,
              runnerOf(query),
            )
          : this.idsFirst(query, order, direction, offset, pageSize).getRawMany<Row>();
      const [items, total] = await Promise.all([
        rows,
        this.total(query, sql, parameters, view.organizationId),
      ]);
      return { items: items.map(toItem), total, page, pageSize };
    }

    const ordered = query.clone().orderBy(order.column, direction).addOrderBy(order.id, direction);

    const limit = params.limit ?? 20;
    const seek = ordered.addSelect(`(${order.column})::text`, KEY).addSelect(order.id, ID);
    if (params.cursor) {
      const after = this.cursors.decode(scope, params.cursor);
      seek.andWhere(
        `(${order.column}, ${order.id}) ${direction === 'DESC' ? '<' : '>'} (CAST(:cursorKey AS ${order.type}), CAST(:cursorId AS uuid))`,
        { cursorKey: after.key, cursorId: after.id },
      );
    }
    const rows = await seek
      .limit(limit + 1)
      .getRawMany<Row & Record<typeof KEY | typeof ID, string>>();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor =
      rows.length > limit && last
        ? this.cursors.encode(scope, { key: last[KEY], id: last[ID] })
        : null;
    return { items: page.map(toItem), nextCursor };
  }

  /** The page's rows, found through their ids: `WHERE id IN (SELECT id ... OFFSET n LIMIT k)`. */
  private idsFirst(
    query: SelectQueryBuilder<ObjectLiteral>,
    order: ListOrder,
    direction: 'ASC' | 'DESC',
    offset: number,
    limit: number,
  ): SelectQueryBuilder<ObjectLiteral> {
    const ids = query
      .clone()
      .select(order.id)
      .orderBy(order.column, direction)
      .addOrderBy(order.id, direction)
      .offset(offset)
      .limit(limit);
    return query
      .clone()
      .andWhere(`${order.id} IN (${ids.getQuery()})`)
      .orderBy(order.column, direction)
      .addOrderBy(order.id, direction);
  }

  /**
   * The exact number of rows of `query` (whose SQL and parameters are given), from the cache
   * when no write happened since. The count wraps the list's SQL (PostgreSQL pulls the subquery
   * up: the plan is the one of a plain count).
   */
  private total(
    query: SelectQueryBuilder<ObjectLiteral>,
    sql: string,
    parameters: unknown[],
    organizationId: string,
  ): Promise<number> {
    const key = createHash('sha256')
      .update(sql)
      .update(JSON.stringify(parameters))
      .digest('base64url');
    return this.cache.getOrCompute(LIST_TOTALS, organizationId, key, async () => {
      const [row] = await query.connection.query<{ total: number }[]>(
        `SELECT count(*)::int AS total FROM (${sql}) AS listed`,
        parameters,
        runnerOf(query),
      );
      return row?.total ?? 0;
    });
  }
}
