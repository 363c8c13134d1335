import { DatabaseError, type Pool } from 'pg';
import {
  type DataSource,
  type ObjectLiteral,
  QueryFailedError,
  type QueryRunner,
  type SelectQueryBuilder,
} from 'typeorm';

/** Marks a view of the DataSource whose query runners read replicas (ReplicaReads). */
export const REPLICA_VIEW = Symbol('replica view');

const readsReplicas = (dataSource: DataSource): boolean =>
  (dataSource as unknown as Record<symbol, unknown>)[REPLICA_VIEW] === true;

/**
 * The query runner a query builder was created with (a transaction's), if any: raw SQL of the
 * builder runs where the builder would have (TypeORM keeps the field protected).
 */
const runnerOf = (query: SelectQueryBuilder<ObjectLiteral>): QueryRunner | undefined =>
  (query as unknown as { queryRunner?: QueryRunner }).queryRunner;

/**
 * The rows of a read (`sql` with positional parameters: the builder's SQL, or SQL built around
 * it) where `query` would run. In a transaction or on a replica view it goes through TypeORM's
 * query runner, as `dataSource.query` does. Otherwise it runs on a connection of the primary's
 * pg pool directly: TypeORM's runner around a single statement (a runner object, its connect and
 * release, the query events broadcast to no subscriber, a QueryResult) was about 5% of a read by
 * id's CPU (docs/decisions/0052). Callers see the same: the rows, or a QueryFailedError wrapping
 * PostgreSQL's error, both logged through TypeORM's logger as its runner does; a failure to get
 * a connection is thrown as is, as TypeORM does. A connection that failed below SQL (a socket
 * error) is discarded rather than pooled again.
 */
export async function readRows<R>(
  query: SelectQueryBuilder<ObjectLiteral>,
  sql: string,
  parameters: unknown[],
): Promise<R[]> {
  const { connection: dataSource } = query;
  const runner = runnerOf(query);
  if (runner || readsReplicas(dataSource)) return dataSource.query<R[]>(sql, parameters, runner);
  const pool = (dataSource.driver as unknown as { master: Pool }).master;
  const client = await pool.connect();
  // TypeORM's logger sees the statement as from its runner (`logging` options, the benchmark's capture).
  dataSource.logger.logQuery(sql, parameters);
  try {
    const { rows } = await client.query(sql, parameters);
    client.release();
    return rows as R[];
  } catch (error) {
    client.release(error instanceof DatabaseError ? undefined : (error as Error));
    dataSource.logger.logQueryError(error as Error, sql, parameters);
    throw new QueryFailedError(sql, parameters, error as Error);
  }
}
