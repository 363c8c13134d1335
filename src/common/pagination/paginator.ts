import { hash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { readRows } from './raw-reads';
import { LIST_TOTALS, TenantCache } from '../cache/tenant-cache';
import { CursorCodec } from './cursor.codec';
import { queryAndParameters } from './sql-shapes';
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

/**
 * A page tried first among the organization's first `rows` rows in the list's order (a filter
 * few rows pass, e.g. a search, is then tested on at most that many rows): the sort column is
 * bounded by the value of the organization's `rows`-th row. Any bound gives exact answers when
 * the page comes back full (the rows past the bound all sort after it), so the bound is kept for
 * WINDOW_BOUND_TTL_MS; a page that comes back short is asked again without the bound, ordered
 * by `otherwise` when given (docs/decisions/0035). Offset pages up to WINDOW_PAGE_END only.
 */
export interface ListWindow {
  rows: number;
  otherwise?: ListOrder;
}

/** What a cursor is bound to: the endpoint, the tenant and visibility, the ordering and filters. */
export interface ListScope {
  endpoint: string;
  view: ListView;
  orderBy: string;
  filters?: Record<string, unknown>;
  window?: ListWindow;
  /**
   * Count `total` afresh for every page instead of caching it: for lists whose rows change
   * outside the organization's writes (a webhook's delivery log, written by the dispatcher).
   */
  fresh?: boolean;
  /** Read from a replica: its cached total is kept apart from the primary's (ReplicaReads). */
  replica?: boolean;
}

const KEY = '__cursor_key';
const ID = '__cursor_id';
/**
 * From this offset on, an offset page first finds its ids (`SELECT id ... OFFSET n LIMIT k`,
 * an index-only scan of the list's (organization, sort, id) index), then reads those rows:
 * the skipped rows cost an index entry each instead of a table row each.
 */
export const ID_FIRST_OFFSET = 1_000;

/** A window (ListWindow) serves offset pages ending at most here (the first pages of a search). */
export const WINDOW_PAGE_END = 100;
/** How long the bound of a window is reused (a stale bound only makes the window wider or narrower). */
const WINDOW_BOUND_TTL_MS = 60_000;
const WINDOW_BOUNDS = 1_000;
/** SQL digests kept (Paginator.digestOf); as many as the SQL shapes kept (sql-shapes.ts). */
const MAX_DIGESTS = 2_000;

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
  /** Window bounds (ListWindow) per table, order, organization and size, until when reused. */
  private readonly bounds = new Map<string, { bound: string | null; until: number }>();
  /**
   * A digest of each list SQL text (one per query shape) for the keys of cached totals: hashing
   * the whole text on every page was 1.3% of a list page's CPU.
   */
  private readonly digests = new Map<string, string>();

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
      // The list's SQL serves the page and its count, and its text is generated once per shape
      // (TypeORM's SQL generation was the largest cost of a list page of the app's own:
      // docs/decisions/0034 and 0050).
      const [sql, parameters] = queryAndParameters(query);
      const total = this.total(query, sql, parameters, view.organizationId, listScope);
      total.catch(() => undefined); // awaited below; an error of the window's queries comes first
      let pageOrder = order;
      const { window } = listScope;
      if (window && offset + pageSize <= WINDOW_PAGE_END) {
        const bound = await this.windowBound(query, order, direction, view.organizationId, window);
        const [windowed, windowParameters] =
          bound === null
            ? [sql, parameters] // the organization has fewer rows: the window is the whole list
            : queryAndParameters(
                query
                  .clone()
                  .andWhere(
                    `${order.column} ${direction === 'DESC' ? '>=' : '<='} CAST(:windowBound AS ${order.type})`,
                    { windowBound: bound },
                  ),
              );
        const rows = await this.offsetPage<Row>(
          query,
          windowed,
          windowParameters,
          order,
          direction,
          pageSize,
          offset,
        );
        if (bound === null || rows.length === pageSize) {
          return { items: rows.map(toItem), total: await total, page, pageSize };
        }
        pageOrder = window.otherwise ?? order;
      }
      const rows =
        offset < ID_FIRST_OFFSET
          ? this.offsetPage<Row>(query, sql, parameters, pageOrder, direction, pageSize, offset)
          : this.idsFirst(query, pageOrder, direction, offset, pageSize).getRawMany<Row>();
      const [items, count] = await Promise.all([rows, total]);
      return { items: items.map(toItem), total: count, page, pageSize };
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
    type Seeked = Row & Record<typeof KEY | typeof ID, string>;
    const rows = await readRows<Seeked>(query, ...queryAndParameters(seek.limit(limit + 1)));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor =
      rows.length > limit && last
        ? this.cursors.encode(scope, { key: last[KEY], id: last[ID] })
        : null;
    return { items: page.map(toItem), nextCursor };
  }

  /** An offset page of the list whose SQL and parameters are given. */
  private offsetPage<Row>(
    query: SelectQueryBuilder<ObjectLiteral>,
    sql: string,
    parameters: unknown[],
    order: ListOrder,
    direction: 'ASC' | 'DESC',
    pageSize: number,
    offset: number,
  ): Promise<Row[]> {
    return readRows<Row>(
      query,
      `${sql} ORDER BY ${order.column} ${direction}, ${order.id} ${direction} LIMIT ${pageSize} OFFSET ${offset}`,
      parameters,
    );
  }

  /**
   * The sort value of the organization's `window.rows`-th row in the list's order (as text), or
   * null when it has fewer rows: one scan of the order's index, reused for WINDOW_BOUND_TTL_MS.
   */
  private async windowBound(
    query: SelectQueryBuilder<ObjectLiteral>,
    order: ListOrder,
    direction: 'ASC' | 'DESC',
    organizationId: string,
    window: ListWindow,
  ): Promise<string | null> {
    const { name: alias, metadata } = query.expressionMap.mainAlias!;
    const key = `${metadata.tablePath}\n${order.column}\n${direction}\n${window.rows}\n${organizationId}`;
    const now = Date.now();
    const known = this.bounds.get(key);
    if (known && known.until > now) return known.bound;
    const [row] = await readRows<{ bound: string }>(
      query,
      `SELECT (${order.column})::text AS bound FROM ${metadata.tablePath} ${alias}
        WHERE ${alias}.organization_id = $1
        ORDER BY ${order.column} ${direction}, ${order.id} ${direction} OFFSET ${window.rows - 1} LIMIT 1`,
      [organizationId],
    );
    const bound = row?.bound ?? null;
    this.bounds.delete(key);
    if (this.bounds.size >= WINDOW_BOUNDS) this.bounds.delete(this.bounds.keys().next().value!);
    this.bounds.set(key, { bound, until: now + WINDOW_BOUND_TTL_MS });
    return bound;
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

  private digestOf(sql: string): string {
    let digest = this.digests.get(sql);
    if (digest === undefined) {
      digest = hash('sha256', sql, 'base64url');
      if (this.digests.size >= MAX_DIGESTS) this.digests.clear();
      this.digests.set(sql, digest);
    }
    return digest;
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
    { fresh, replica }: Pick<ListScope, 'fresh' | 'replica'>,
  ): Promise<number> {
    const count = async (): Promise<number> => {
      const [row] = await readRows<{ total: number }>(
        query,
        `SELECT count(*)::int AS total FROM (${sql}) AS listed`,
        parameters,
      );
      return row?.total ?? 0;
    };
    if (fresh) return count();
    const key = `${this.digestOf(sql)}:${JSON.stringify(parameters)}`;
    return this.cache.getOrCompute(LIST_TOTALS, organizationId, key, count, { replica });
  }
}
