import type { EntityTarget, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { ListResult } from '../common/pagination/list-result.dto';
import type { TenantRow } from './scoped-repository';
import { tenantPolicyOf } from './tenant-entity';
import type { TenantReader } from './unit-of-work';

/** What `byParent` selects: the representation's columns under `alias` (raw rows). */
export type Selection = (alias: string) => string[];

/** How the records under each parent are ordered and cut. */
export interface ChildOrder {
  /** The column (snake_case) that orders them, largest (newest) first; ties by id, descending. */
  newestBy: string;
  /** At most this many per parent (the newest); all of them when absent. */
  limit?: number;
}

const ALIAS = 'r';
/** The parent id of a child row and its sort value, selected next to the representation. */
const PARENT = '__parent';
const SORT = '__sort';

/**
 * The records related to a page of records (API.md section 18: `include`), read in one
 * statement per relation whatever the size of the page, never one per record
 * (docs/decisions/0045). Every read goes through `TenantReader.visible`, so each related record
 * is read with the actor's scope on ITS resource (a role reading deals but not contacts reads
 * no contact; a member reads the tasks of the deals they own): what the actor may not read is
 * simply not found. Each record is mapped by its resource's own DTO mapping (`XxxDto.from`), so
 * it has exactly the shape of its own GET.
 */
export class RelatedReads {
  constructor(private readonly reader: TenantReader) {}

  /**
   * The records of `entity` among `ids` that the actor may see, by id: one statement
   * (`id = ANY($1)`), or none when there is no id or the role may not read the entity's resource.
   * Whole entities, as a GET by id reads them, for the resource's `XxxDto.from`.
   */
  async byId<T extends TenantRow & { id: string }, Item>(
    entity: EntityTarget<T>,
    ids: Iterable<string | null | undefined>,
    toItem: (record: T) => Item,
  ): Promise<Map<string, Item>> {
    const wanted = distinct(ids);
    if (!wanted.length || !this.mayRead(entity)) return new Map();
    const records = await this.reader
      .visible(entity, ALIAS)
      .andWhere(`${ALIAS}.id = ANY(CAST(:relatedIds AS uuid[]))`, { relatedIds: wanted })
      .getMany();
    return new Map(records.map((record) => [record.id, toItem(record)]));
  }

  /**
   * The records of `entity` whose `parentColumn` (snake_case) is among `parentIds` and that the
   * actor may see, per parent, newest first: one statement. Without a limit,
   * `parent = ANY($1)`; with one, a LATERAL subquery per parent id reads only that parent's
   * newest rows (an index on (parent, order column) answers each with a short scan, however long
   * the parent's history).
   */
  async byParent<Row extends ObjectLiteral, Item>(
    entity: EntityTarget<TenantRow>,
    parentColumn: string,
    parentIds: Iterable<string>,
    select: Selection,
    order: ChildOrder,
    toItem: (row: Row) => Item,
  ): Promise<Map<string, Item[]>> {
    const wanted = distinct(parentIds);
    const found = new Map<string, Item[]>(wanted.map((id) => [id, []]));
    if (!wanted.length || !this.mayRead(entity)) return found;
    const orderBy = `${ALIAS}.${order.newestBy} DESC, ${ALIAS}.id DESC`;
    const query = this.reader.visible(entity, ALIAS);
    let rows: (Row & { [PARENT]: string })[];
    if (order.limit === undefined) {
      rows = await withSql(
        query
          .select([...select(ALIAS), `${ALIAS}.${parentColumn} AS "${PARENT}"`])
          .andWhere(`${ALIAS}.${parentColumn} = ANY(CAST(:relatedParentIds AS uuid[]))`, {
            relatedParentIds: wanted,
          }),
        (sql) => `${sql} ORDER BY ${orderBy}`,
      ).getRawMany();
    } else {
      const limit = Math.trunc(order.limit);
      const children = query
        .select([...select(ALIAS), `${ALIAS}.${order.newestBy} AS "${SORT}"`])
        .andWhere(`${ALIAS}.${parentColumn} = related_parent.id`)
        .setParameter('relatedParentIds', wanted);
      rows = await withSql(
        children,
        (sql) =>
          `SELECT related_parent.id AS "${PARENT}", related.*` +
          ` FROM unnest(CAST(:relatedParentIds AS uuid[])) AS related_parent(id)` +
          ` CROSS JOIN LATERAL (${sql} ORDER BY ${orderBy} LIMIT ${limit}) AS related` +
          ` ORDER BY related."${SORT}" DESC, related.id DESC`,
      ).getRawMany();
    }
    for (const row of rows) found.get(row[PARENT])?.push(toItem(row));
    return found;
  }

  /**
   * Whether the role may read the entity's resource at all. The scope of entities with an owner
   * is applied by `visible`; entities without one (pipelines) are the organization's for every
   * role that may read them, and for no other.
   */
  private mayRead(entity: EntityTarget<ObjectLiteral>): boolean {
    const resource = tenantPolicyOf(entity)?.resource;
    return !resource || this.reader.actor.grants.allows(resource, 'read');
  }
}

/** A page whose items were completed by `embed` (API.md section 18 on a list). */
export async function embedInPage<T, U>(
  page: ListResult<T>,
  embed: (items: T[]) => Promise<U[]>,
): Promise<ListResult<U>> {
  return { ...page, items: await embed(page.items) };
}

function distinct(ids: Iterable<string | null | undefined>): string[] {
  return [...new Set([...ids].filter((id): id is string => typeof id === 'string'))];
}

/**
 * `query` running the SQL `wrap` makes of its own (with named parameters: the builder's
 * parameters, the tenant and the viewer included, are bound into it as usual). It still runs
 * on the builder's connection or transaction, as `withShapeSql` does (docs/decisions/0034).
 */
function withSql<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  wrap: (sql: string) => string,
): SelectQueryBuilder<T> {
  const sql = wrap(query.getQuery());
  const { driver } = query.connection;
  query.getQueryAndParameters = () => driver.escapeQueryWithParameters(sql, query.getParameters());
  return query;
}
