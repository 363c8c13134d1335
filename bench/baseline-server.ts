/**
 * BASELINE for the benchmark (never shipped): a bare node:http + pg server answering
 *   GET /api/v1/contacts          (page 1, pageSize 20: the list query + its count)
 *   GET /api/v1/deals             (page 1, pageSize 20: the list query + its count)
 *   GET /api/v1/tasks             (page 1, pageSize 20: the list query + its count)
 *   GET /api/v1/deals/{id}
 * with exactly the SQL the app runs (captured at start-up from the app's own services, see
 * lib/app-queries.ts), the same pool size, and authentication reduced to an HS256 JWT verify
 * (jsonwebtoken with a KeyObject, as the app's JwtStrategy; same secret, issuer and `typ` check).
 * A list's count runs once per organization and is then answered from memory, as the app's
 * total cache does while nothing is written. No framework, no guards, no validation, no
 * membership lookup, no logging: the floor the app is compared with. Query strings are ignored
 * (every list answers its default page 1).
 *
 * Env: DATABASE_URL, JWT_ACCESS_SECRET, PORT (0 = any), HOST (127.0.0.1), DB_POOL_MAX (20),
 *      BENCH_OWNER_EMAIL (whose organization's queries are captured).
 * Prints one JSON line {"listening": port} on stdout when ready.
 */
import { createSecretKey } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as jwt from 'jsonwebtoken';
import { Pool, types } from 'pg';
import { AppQueries, benchContext, type CapturedQuery } from './lib/app-queries';
import { BENCH_LOGIN_EMAIL } from './lib/common';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFIX = '/api/v1';

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
}

/** A captured query with its parameters re-bound: sample values are replaced by request values. */
function binder(query: CapturedQuery, samples: Record<string, string>) {
  const slots = query.params.map((p) => Object.keys(samples).find((name) => samples[name] === p));
  return (values: Record<string, string>): unknown[] =>
    query.params.map((p, i) => (slots[i] ? values[slots[i]] : p));
}

const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Raw row to the API's JSON shape: `d_created_at` -> `createdAt`, dates as ISO strings. */
function toItem(row: Record<string, unknown>, alias?: string): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    const name = alias && key.startsWith(`${alias}_`) ? camel(key.slice(alias.length + 1)) : key;
    item[name] = value instanceof Date ? value.toISOString() : value;
  }
  return item;
}

const DATE_OID = 1082;
const textOf = (value: string): string => value;
/** pg's type parsers, except a `date` read as its text (as the app's DTOs answer it). */
const dateAsText = ((oid: number, format?: 'text' | 'binary'): ((value: string) => unknown) =>
  oid === DATE_OID && format !== 'binary'
    ? textOf
    : (types.getTypeParser(oid, format ?? 'text') as (
        value: string,
      ) => unknown)) as typeof types.getTypeParser;

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

async function main(): Promise<void> {
  const databaseUrl = env('DATABASE_URL');
  const secret = createSecretKey(Buffer.from(env('JWT_ACCESS_SECRET')));
  const ownerEmail = env('BENCH_OWNER_EMAIL', BENCH_LOGIN_EMAIL);
  const pool = new Pool({
    connectionString: databaseUrl,
    max: Number(env('DB_POOL_MAX', '20')),
    min: Number(env('DB_POOL_MIN', '5')),
    idleTimeoutMillis: 30_000,
    application_name: 'crm-bench-baseline',
    // A `date` column as its text (the app's DTOs answer calendar dates, not timestamps).
    types: { getTypeParser: dateAsText },
  });

  // Capture the app's SQL once, with sample values that are re-bound per request.
  const context = await benchContext((sql, params) => pool.query(sql, params), ownerEmail);
  const sampleDeal = await pool.query<{ id: string }>(
    `SELECT id FROM deals WHERE organization_id = $1 LIMIT 1`,
    [context.organizationId],
  );
  const capture = await new AppQueries(databaseUrl, context).open();
  const page1 = { page: 1, pageSize: 20 };
  let captured: Record<'contacts' | 'deals' | 'tasks', CapturedQuery[]>;
  let dealQueries: CapturedQuery[];
  try {
    captured = {
      contacts: (await capture.contactList(page1)).queries,
      deals: (await capture.dealList(page1)).queries,
      tasks: (await capture.taskList(page1)).queries,
    };
    dealQueries = (await capture.dealById(sampleDeal.rows[0]?.id ?? context.userId)).queries;
  } finally {
    await capture.close();
  }
  const samples = { org: context.organizationId, id: sampleDeal.rows[0]?.id ?? '' };
  interface ListEndpoint {
    name: string;
    sql: string;
    params: (values: Record<string, string>) => unknown[];
    countSql: string;
    countParams: (values: Record<string, string>) => unknown[];
    totals: Map<string, Promise<number>>;
  }
  /** A list endpoint: its page query and its count query (told apart by the count). */
  const lists = new Map<string, ListEndpoint>(
    Object.entries(captured).map(([name, queries]) => {
      const count = queries.filter((q) => /\bcount\(\*\)/i.test(q.sql));
      const page = queries.filter((q) => !count.includes(q));
      if (count.length !== 1 || page.length !== 1)
        throw new Error(
          `unexpected app queries for GET /${name}: ${queries.length} (expected a page and a count)`,
        );
      return [
        `/${name}`,
        {
          name,
          sql: page[0].sql,
          params: binder(page[0], samples),
          countSql: count[0].sql,
          countParams: binder(count[0], samples),
          /** The count per organization (computed once: nothing is written during the run). */
          totals: new Map<string, Promise<number>>(),
        },
      ] as [string, ListEndpoint];
    }),
  );
  if (dealQueries.length !== 1) {
    throw new Error(`unexpected app queries: deal ${dealQueries.length} (expected 1)`);
  }
  const dealParams = binder(dealQueries[0], samples);
  const dealAlias = /FROM "deals" "(\w+)"/.exec(dealQueries[0].sql)?.[1] ?? 'd';

  /** The app's access-token check: HS256 only, issuer crm-api, typ access, a subject. */
  function authenticate(req: IncomingMessage): string | null {
    const header = req.headers.authorization;
    if (!header?.startsWith('Bearer ')) return null;
    try {
      const claims = jwt.verify(header.slice(7), secret, {
        algorithms: ['HS256'],
        issuer: 'crm-api',
      }) as jwt.JwtPayload;
      return claims.typ === 'access' && typeof claims.sub === 'string' ? claims.sub : null;
    } catch {
      return null;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') return send(res, 200, { status: 'ok' });
    if (req.method !== 'GET' || !path.startsWith(PREFIX))
      return send(res, 404, { code: 'NOT_FOUND' });
    if (!authenticate(req)) return send(res, 401, { code: 'UNAUTHENTICATED' });
    const org = req.headers['x-organization-id'];
    if (typeof org !== 'string' || !UUID.test(org))
      return send(res, 400, { code: 'INVALID_ORGANIZATION_HEADER' });
    const values = { org: org.toLowerCase(), id: '' };
    const route = path.slice(PREFIX.length);

    const list = lists.get(route);
    if (list) {
      let total = list.totals.get(values.org);
      if (!total) {
        total = pool
          .query<{ total: number }>(list.countSql, list.countParams(values))
          .then((r) => Number(r.rows[0]?.total ?? 0));
        list.totals.set(values.org, total);
      }
      const [rows, count] = await Promise.all([pool.query(list.sql, list.params(values)), total]);
      return send(res, 200, {
        items: rows.rows.map((r: Record<string, unknown>) => toItem(r)),
        total: count,
        page: 1,
        pageSize: 20,
      });
    }
    const deal = /^\/deals\/([^/]+)$/.exec(route);
    if (deal) {
      if (!UUID.test(deal[1])) return send(res, 400, { code: 'VALIDATION_FAILED' });
      values.id = deal[1].toLowerCase();
      const { rows } = await pool.query(dealQueries[0].sql, dealParams(values));
      if (!rows[0]) return send(res, 404, { code: 'NOT_FOUND' });
      return send(res, 200, toItem(rows[0] as Record<string, unknown>, dealAlias));
    }
    return send(res, 404, { code: 'NOT_FOUND' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      console.error(e);
      if (!res.headersSent) send(res, 500, { code: 'INTERNAL' });
    });
  });
  server.keepAliveTimeout = 72_000;
  const port = Number(env('PORT', '0'));
  server.listen(port, env('HOST', '127.0.0.1'), () => {
    const address = server.address();
    console.log(JSON.stringify({ listening: typeof address === 'object' ? address?.port : port }));
  });
  const stop = (): void => {
    server.close();
    void pool.end().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  console.error('baseline-server failed:', e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
