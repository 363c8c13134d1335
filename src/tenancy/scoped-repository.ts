import type {
  DeepPartial,
  EntityManager,
  EntityTarget,
  FindOptionsWhere,
  InsertQueryBuilder,
  ObjectLiteral,
  SelectQueryBuilder,
  UpdateQueryBuilder,
} from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { escapeLiteral } from 'pg';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { queryAndParameters } from '../common/pagination/sql-shapes';
import { tenantPolicyOf } from './tenant-entity';

/** A row of a tenant table. */
export interface TenantRow extends ObjectLiteral {
  organizationId: string;
}

/**
 * A row for `literalInsert`: each property its column's value, or the text PostgreSQL reads as
 * one (a timestamptz as PostgreSQL wrote it, to the microsecond).
 */
export type LiteralRow<T> = { [K in Exclude<keyof T, 'organizationId'>]?: T[K] | string };

/** Where-conditions of a tenant entity, without the tenant (the repository adds it). */
export type ScopedWhere<T> = Omit<FindOptionsWhere<T>, 'organizationId'>;

/** The reading half of a scoped repository (what a reader outside a transaction gets). */
export type ScopedReads<T extends TenantRow> = Pick<
  ScopedRepository<T>,
  'organizationId' | 'scoped' | 'query' | 'findOneBy' | 'findBy' | 'existsBy' | 'countBy'
>;

/**
 * Throws unless `entity` is marked @TenantScoped: tenant scoping applies to tenant tables only,
 * and a tenant table must never be reached without it.
 */
export function assertTenantEntity(entity: EntityTarget<ObjectLiteral>): void {
  if (!tenantPolicyOf(entity)) {
    throw new Error(`${String((entity as { name?: string }).name)} is not a tenant entity`);
  }
}

/**
 * One tenant table seen from one organization. Every read filters on `organization_id`, every
 * write stamps it (a row of another organization is refused), every update and delete is
 * scoped by it: TypeORM drops `undefined` from `where`, so an unscoped `{ id }` would reach every
 * tenant's rows; here the organization is part of every statement. An empty organization id
 * throws when the repository is made.
 */
export class ScopedRepository<T extends TenantRow> {
  /**
   * `onWrite` is told of every write (the unit of work checks that a transaction that wrote
   * recorded its events).
   */
  constructor(
    private readonly manager: EntityManager,
    private readonly entity: EntityTarget<T>,
    readonly organizationId: string,
    private readonly onWrite: () => void = () => undefined,
  ) {
    if (!organizationId) throw new Error('ScopedRepository: organizationId is required');
    assertTenantEntity(entity);
  }

  /** `where` within the organization. */
  scoped(where: ScopedWhere<T> = {} as ScopedWhere<T>): FindOptionsWhere<T> {
    return { ...where, organizationId: this.organizationId };
  }

  /**
   * A query builder over the organization's rows (`alias.organization_id = :tenant`). Its SQL is
   * kept per derived shape (sql-shapes, docs/decisions/0050): a record read to be changed (the
   * deal a PATCH locks, its pipeline) costs TypeORM's SQL generation once, as lists do.
   */
  query(alias: string): SelectQueryBuilder<T> {
    const query = this.manager
      .getRepository(this.entity)
      .createQueryBuilder(alias)
      .where(`${alias}.organization_id = :tenantOrganizationId`, {
        tenantOrganizationId: this.organizationId,
      });
    query.getQueryAndParameters = () => queryAndParameters(query);
    return query;
  }

  findOneBy(where: ScopedWhere<T>): Promise<T | null> {
    return this.manager.findOneBy(this.entity, this.scoped(where));
  }

  findBy(where: ScopedWhere<T>): Promise<T[]> {
    return this.manager.findBy(this.entity, this.scoped(where));
  }

  existsBy(where: ScopedWhere<T>): Promise<boolean> {
    return this.manager.existsBy(this.entity, this.scoped(where));
  }

  countBy(where: ScopedWhere<T>): Promise<number> {
    return this.manager.countBy(this.entity, this.scoped(where));
  }

  /** A new entity (not saved) of this organization. */
  create(values: DeepPartial<Omit<T, 'organizationId'>>): T {
    return this.manager.create(this.entity, this.stamp(values as DeepPartial<T>));
  }

  /**
   * Inserts or updates one entity of this organization: organization_id is stamped on the object
   * itself (which TypeORM then fills with generated columns, as its own save does).
   */
  save<E extends DeepPartial<T>>(entity: E): Promise<E & T> {
    this.onWrite();
    Object.assign(entity, this.stamp({ organizationId: entity.organizationId }));
    const saved: Promise<T> = this.manager.save(this.entity, entity);
    return saved as Promise<E & T>;
  }

  /**
   * Bulk insert in one statement (imports, lead conversion). `returning` names the columns to
   * read back (database column names), in the order of `rows`; `orIgnore` skips rows a unique
   * index refuses (ON CONFLICT DO NOTHING: they are then missing from what is returned).
   *
   * When every row gives the same properties as plain values (what imports write), the
   * statement is `INSERT ... SELECT $1, v.* FROM unnest($2::type[], ...)`: one parameter per
   * column instead of one per cell, about half the time of TypeORM's multi-row VALUES list per
   * 1,000 rows, and a statement text that does not grow with the rows. Other rows (SQL
   * expressions, differing properties) take the VALUES form.
   */
  async insertMany<R extends ObjectLiteral = ObjectLiteral>(
    rows: QueryDeepPartialEntity<Omit<T, 'organizationId'>>[],
    returning: string[] = [],
    options: { orIgnore?: boolean } = {},
  ): Promise<R[]> {
    if (!rows.length) return [];
    this.onWrite();
    const unnest = this.unnestInsert(rows, returning, options);
    if (unnest) return this.manager.query<R[]>(unnest.sql, unnest.parameters);
    const insert = this.insertQuery(rows);
    if (options.orIgnore) insert.orIgnore();
    if (returning.length) insert.returning(returning);
    const result = await insert.execute();
    return result.raw as R[];
  }

  private unnestInsert(
    rows: ObjectLiteral[],
    returning: string[],
    options: { orIgnore?: boolean },
  ): { sql: string; parameters: unknown[] } | undefined {
    const keys = Object.keys(rows[0]).filter((key) => key !== 'organizationId');
    const uniform = rows.every((row) => {
      const own = Object.keys(row).filter((key) => key !== 'organizationId');
      return (
        own.length === keys.length &&
        keys.every((key) => row[key] !== undefined && typeof row[key] !== 'function') &&
        (row.organizationId === undefined || row.organizationId === this.organizationId)
      );
    });
    if (!uniform || !keys.length) return undefined;
    const driver = this.manager.connection.driver;
    const { table, names, columns, types } = this.insertColumns(keys);
    const arrays = columns.map((column) =>
      rows.map((row) => driver.preparePersistentValue(row[column.propertyPath], column) as unknown),
    );
    const sql =
      `INSERT INTO ${table} (${names}) ` +
      `SELECT $1, v.* FROM unnest(${types.map((t, i) => `CAST($${i + 2} AS ${t}[])`).join(', ')}) AS v` +
      (options.orIgnore ? ' ON CONFLICT DO NOTHING' : '') +
      (returning.length ? ` RETURNING ${returning.map((c) => driver.escape(c)).join(', ')}` : '');
    return { sql, parameters: [this.organizationId, ...arrays] };
  }

  /**
   * The INSERT of `rows` of this organization as one statement with their values written in, each
   * an escaped literal cast to its column's type, for the unit of work to send in its commit's
   * round trip (TenantTx.insertAtCommit). Every row gives the same properties, as plain values:
   * strings (sent as PostgreSQL reads them: a timestamptz keeps its microseconds), numbers,
   * booleans, null, Dates, objects for json columns. No SQL expressions, no array or transformed
   * columns.
   */
  literalInsert(rows: LiteralRow<T>[]): string {
    const keys = Object.keys(rows[0] ?? {});
    if (!keys.length) throw new Error('literalInsert: no rows or no values');
    const { table, names, columns, types } = this.insertColumns(keys);
    for (const column of columns) {
      if (column.isArray || column.transformer) {
        throw new Error(`literalInsert: ${column.propertyPath} is an array or transformed column`);
      }
    }
    const tuples = rows.map((row) => {
      const values = row as ObjectLiteral;
      const own = Object.keys(values);
      if (own.length !== keys.length || !keys.every((key) => values[key] !== undefined)) {
        throw new Error('literalInsert: every row must give the same properties');
      }
      const literals = columns.map((column, i) => literalOf(values[column.propertyPath], types[i]));
      return `(${escapeLiteral(this.organizationId)}::uuid, ${literals.join(', ')})`;
    });
    this.onWrite();
    return `INSERT INTO ${table} (${names}) VALUES ${tuples.join(', ')}`;
  }

  /** The table, the column list (organization_id first) and the columns of `keys`, typed. */
  private insertColumns(keys: string[]): {
    table: string;
    names: string;
    columns: ColumnMetadata[];
    types: string[];
  } {
    const metadata = this.manager.connection.getMetadata(this.entity);
    const driver = this.manager.connection.driver;
    const columns = keys.map((key) => {
      if (key === 'organizationId') throw new Error('the repository stamps organizationId');
      const column = metadata.findColumnWithPropertyPath(key);
      if (!column) throw new Error(`${metadata.name} has no column ${key}`);
      return column;
    });
    const types = columns.map((column) => {
      if (column.type === 'enum') return driver.escape(column.enumName!);
      const type = driver.normalizeType(column);
      // A bare `character` is character(1): keep fixed-length columns' length.
      return type === 'character' && column.length ? `character(${column.length})` : type;
    });
    const tenant = metadata.findColumnWithPropertyPath('organizationId')!;
    return {
      table: driver.escape(metadata.tablePath),
      names: [tenant, ...columns].map((c) => driver.escape(c.databaseName)).join(', '),
      columns,
      types,
    };
  }

  /**
   * An INSERT of rows of this organization (organization_id stamped on each), for inserts a plain
   * `insertMany` cannot express (values computed by SQL from parameters: add them with
   * setParameter).
   */
  insertQuery(rows: QueryDeepPartialEntity<Omit<T, 'organizationId'>>[]): InsertQueryBuilder<T> {
    this.onWrite();
    return this.manager
      .createQueryBuilder()
      .insert()
      .into(this.entity)
      .values(rows.map((row) => this.stamp(row as QueryDeepPartialEntity<T>)));
  }

  /**
   * An UPDATE of the organization's rows (`organization_id = :tenant` already in its WHERE: add
   * conditions with andWhere), for updates a plain `update` cannot express (SQL expressions,
   * RETURNING).
   */
  updateQuery(values: QueryDeepPartialEntity<T>): UpdateQueryBuilder<T> {
    this.onWrite();
    return this.manager
      .createQueryBuilder()
      .update(this.entity)
      .set(values)
      .where('organization_id = :tenantOrganizationId', {
        tenantOrganizationId: this.organizationId,
      });
  }

  /** Updates the organization's rows matching `where`; the number of rows changed. */
  async update(where: ScopedWhere<T>, values: QueryDeepPartialEntity<T>): Promise<number> {
    const result = await this.manager.update(this.entity, this.scoped(where), values);
    if (result.affected) this.onWrite();
    return result.affected ?? 0;
  }

  /** Deletes the organization's rows matching `where`; the number of rows deleted. */
  async delete(where: ScopedWhere<T>): Promise<number> {
    const result = await this.manager.delete(this.entity, this.scoped(where));
    if (result.affected) this.onWrite();
    return result.affected ?? 0;
  }

  private stamp<V extends ObjectLiteral>(values: V): V {
    const given = (values as { organizationId?: unknown }).organizationId;
    if (given !== undefined && given !== this.organizationId) {
      throw new Error('ScopedRepository: a row of another organization');
    }
    return { ...values, organizationId: this.organizationId };
  }
}

/** `value` as a literal of SQL type `type` (literalInsert). */
function literalOf(value: unknown, type: string): string {
  if (value === null) return 'NULL';
  let text: string;
  if (value instanceof Date) text = value.toISOString();
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    text = String(value);
  } else if (typeof value === 'object') text = JSON.stringify(value);
  else throw new Error(`literalInsert: no ${typeof value} values (no SQL expressions)`);
  return `${escapeLiteral(text)}::${type}`;
}
