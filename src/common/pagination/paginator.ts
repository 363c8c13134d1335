import { Injectable } from '@nestjs/common';
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { CursorCodec } from './cursor.codec';
import type { Actor } from '../http/request-context';
import { seesWholeOrganization } from '../visibility/visibility';
import type { ListQueryDto } from './list-query.dto';
import type { ListResult } from './list-result.dto';

/** How a list is ordered: one sort column, then a unique tie-breaker so no row repeats or is skipped. */
export interface ListOrder {
  /** SQL expression of the (non-null) sort column, e.g. `m.created_at`. */
  column: string;
  /** Its PostgreSQL type: the cursor carries the value as text and casts it back. */
  type: 'timestamptz' | 'text' | 'numeric' | 'date' | 'uuid';
  /** SQL expression of the unique tie-breaker (a uuid column). */
  id: string;
}

/** What a cursor is bound to: the endpoint, the tenant and visibility, the ordering and filters. */
export interface ListScope {
  endpoint: string;
  actor: Pick<Actor, 'organizationId' | 'userId' | 'role'>;
  orderBy: string;
  filters?: Record<string, unknown>;
}

const KEY = '__cursor_key';
const ID = '__cursor_id';

/**
 * Runs a list query as API.md section 1 describes. Offset pages (`page`, `pageSize`) answer
 * `{items, total, page, pageSize}`; keyset pages (`limit`, `cursor`) answer `{items, nextCursor}`
 * with a `WHERE (sort, id) < (last sort, last id)` seek whose cost does not grow with depth.
 * A cursor only works for the listing (`scope`) that issued it.
 */
@Injectable()
export class Paginator {
  constructor(private readonly cursors: CursorCodec) {}

  async list<Row extends ObjectLiteral, Item>(
    query: SelectQueryBuilder<ObjectLiteral>,
    params: ListQueryDto,
    order: ListOrder,
    listScope: ListScope,
    toItem: (row: Row) => Item,
  ): Promise<ListResult<Item>> {
    const { endpoint, actor, orderBy, filters } = listScope;
    const scope = JSON.stringify([
      endpoint,
      actor.organizationId,
      seesWholeOrganization(actor) ? '*' : actor.userId,
      orderBy,
      params.order,
      filters ?? {},
    ]);
    const direction = params.order === 'asc' ? 'ASC' : 'DESC';
    const ordered = query.clone().orderBy(order.column, direction).addOrderBy(order.id, direction);
    if (!params.isKeyset) {
      const page = params.page ?? 1;
      const pageSize = params.pageSize ?? 20;
      const [rows, total] = await Promise.all([
        ordered
          .offset((page - 1) * pageSize)
          .limit(pageSize)
          .getRawMany<Row>(),
        query.clone().getCount(),
      ]);
      return { items: rows.map(toItem), total, page, pageSize };
    }

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
}
