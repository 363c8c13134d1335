/**
 * EXPLAIN (ANALYZE, BUFFERS) of the hot queries, as the app sends them (captured from its own
 * services, see lib/app-queries.ts), one .txt per endpoint under docs/query-plans/.
 *
 *   node --require ts-node/register/transpile-only bench/explain.ts [--database-url URL]
 *        [--out docs/query-plans] [--search mart] [--min-amount 100000] [--depth 800000]
 *
 * `npm run bench` runs it at its end (warm caches, like the measured runs). Each query is run
 * once before it is explained, so the plans show the steady state rather than a cold cache.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Client } from 'pg';
import {
  AppQueries,
  benchContext,
  type AppQueryContext,
  type CapturedQuery,
} from './lib/app-queries';
import { Args, BENCH_LOGIN_EMAIL, openBenchDatabase, thousands, withClient } from './lib/common';

export interface PlanOptions {
  outDir: string;
  search: string;
  minAmount: string;
  /** Rows skipped by the deep page / keyset plans (rounded to a multiple of 20). */
  depth: number;
}

export interface PlanSummary {
  file: string;
  queries: { label: string; executionMs: number; planningMs: number }[];
}

const ms = (text: string, what: 'Execution' | 'Planning'): number =>
  Number(new RegExp(`${what} Time: ([\\d.]+) ms`).exec(text)?.[1] ?? NaN);

export async function dumpPlans(url: string, options: PlanOptions): Promise<PlanSummary[]> {
  return withClient(url, async (db) => {
    await db.query(`SET track_io_timing = on`).catch(() => undefined);
    const context = await benchContext((sql, params) => db.query(sql, params), BENCH_LOGIN_EMAIL);
    const header = await describe(db, context);
    const app = await new AppQueries(url, context).open();
    const summaries: PlanSummary[] = [];
    try {
      const sampleDeal = await db.query<{ id: string }>(
        `SELECT id FROM deals WHERE organization_id = $1 ORDER BY id LIMIT 1 OFFSET 1000`,
        [context.organizationId],
      );
      const contactCount = await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM contacts WHERE organization_id = $1`,
        [context.organizationId],
      );
      const depth = Math.max(20, Math.min(options.depth, Number(contactCount.rows[0].n) - 20));
      const deepPage = Math.max(1, Math.floor(depth / 20));
      const keyset = await deepKeysetQuery(db, app, context, deepPage * 20 - 20);

      const plans: { file: string; title: string; endpoint: string; queries: CapturedQuery[] }[] = [
        {
          file: 'contacts-page1.txt',
          title: 'Contact list, page 1 (the page and its total)',
          endpoint: 'GET /contacts',
          queries: (await app.contactList({ page: 1, pageSize: 20 })).queries,
        },
        {
          file: 'contacts-search.txt',
          title: `Contact search for a fragment ("${options.search}")`,
          endpoint: `GET /contacts?search=${options.search}`,
          queries: (await app.contactList({ search: options.search })).queries,
        },
        {
          file: 'contacts-deep-page.txt',
          title: `Contact list, offset page ${deepPage} (rows ${thousands(deepPage * 20 - 19)}..${thousands(deepPage * 20)})`,
          endpoint: `GET /contacts?page=${deepPage}&pageSize=20`,
          queries: (await app.contactList({ page: deepPage, pageSize: 20 })).queries,
        },
        {
          file: 'contacts-keyset-deep.txt',
          title: `Contact list, keyset page after row ${thousands(deepPage * 20 - 20)} (same rows as the offset page)`,
          endpoint: 'GET /contacts?limit=20&cursor=<cursor at that row>',
          queries: [keyset],
        },
        {
          file: 'deals-filter.txt',
          title: `Deal list filtered by status in_progress and minAmount ${options.minAmount}`,
          endpoint: `GET /deals?status=in_progress&minAmount=${options.minAmount}`,
          queries: (await app.dealList({ status: ['in_progress'], minAmount: options.minAmount }))
            .queries,
        },
        {
          file: 'deal-by-id.txt',
          title: 'One deal by id (also the first read of PATCH /deals/{id}, with FOR UPDATE)',
          endpoint: 'GET /deals/{id}',
          queries: (await app.dealById(sampleDeal.rows[0].id)).queries,
        },
        {
          file: 'tasks-overdue.txt',
          title: 'Overdue tasks (open, due before today UTC)',
          endpoint: 'GET /tasks?overdue=true',
          queries: (await app.taskList({ overdue: true })).queries,
        },
        {
          file: 'analytics-summary.txt',
          title: 'Deal summary, computed (cache miss or ANALYTICS_CACHE_TTL_SECONDS=0)',
          endpoint: 'GET /analytics/deals/summary',
          queries: (await app.summary()).queries,
        },
        {
          file: 'analytics-funnel.txt',
          title: 'Deal funnel of the default pipeline, computed (cache miss)',
          endpoint: 'GET /analytics/deals/funnel',
          queries: (await app.funnel()).queries,
        },
      ];

      mkdirSync(options.outDir, { recursive: true });
      for (const plan of plans) {
        const parts: string[] = [
          `# ${plan.title}`,
          `# Endpoint: ${plan.endpoint} (as the organization's owner: no owner filter)`,
          ...header,
          '',
        ];
        const summary: PlanSummary = { file: plan.file, queries: [] };
        for (const [i, query] of plan.queries.entries()) {
          const label = labelOf(query.sql, i);
          await db.query(query.sql, query.params); // warm: the plan shows the steady state
          const { rows } = await db.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN (ANALYZE, BUFFERS) ${query.sql}`,
            query.params,
          );
          const text = rows.map((r) => r['QUERY PLAN']).join('\n');
          summary.queries.push({
            label,
            executionMs: ms(text, 'Execution'),
            planningMs: ms(text, 'Planning'),
          });
          parts.push(
            `## Query ${i + 1} of ${plan.queries.length}: ${label}`,
            '',
            query.sql,
            `-- parameters: ${JSON.stringify(query.params)}`,
            '',
            text,
            '',
          );
        }
        writeFileSync(join(options.outDir, plan.file), parts.join('\n'));
        summaries.push(summary);
      }
    } finally {
      await app.close();
    }
    return summaries;
  });
}

function labelOf(sql: string, index: number): string {
  if (/^SELECT COUNT\(/i.test(sql)) return 'the total (count)';
  if (/GROUP BY/i.test(sql)) return 'the aggregate';
  if (/FROM "pipelines"/.test(sql)) return 'the pipeline lookup';
  return index === 0 ? 'the rows' : 'the rows';
}

/** The keyset query as the app sends it for a cursor positioned after row `offset`. */
async function deepKeysetQuery(
  db: Client,
  app: AppQueries,
  context: AppQueryContext,
  offset: number,
): Promise<CapturedQuery> {
  const first = await app.contactList({ limit: 20 });
  const cursor = (first.result as { nextCursor?: string | null } | undefined)?.nextCursor;
  const items = (first.result as { items?: { id: string }[] } | undefined)?.items ?? [];
  if (!cursor || !items.length) throw new Error('no second keyset page');
  const second = await app.contactList({ limit: 20, cursor });
  const [query] = second.queries;
  const lastId = items[items.length - 1].id;
  const deep = await db.query<{ key: string; id: string }>(
    `SELECT created_at::text AS key, id FROM contacts WHERE organization_id = $1
      ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1`,
    [context.organizationId, Math.max(0, offset - 1)],
  );
  const position = deep.rows[0];
  return {
    sql: query.sql,
    params: query.params.map((p) =>
      p === context.organizationId ? p : p === lastId ? position.id : position.key,
    ),
  };
}

async function describe(db: Client, context: AppQueryContext): Promise<string[]> {
  const version = await db.query<{ v: string }>(`SELECT version() AS v`);
  const settings = await db.query<{ name: string; setting: string; unit: string | null }>(
    `SELECT name, setting, unit FROM pg_settings
      WHERE name IN ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit', 'max_parallel_workers_per_gather')
      ORDER BY name`,
  );
  const counts = await db.query<{ t: string; org: string; total: string }>(
    `SELECT 'contacts' AS t, count(*) FILTER (WHERE organization_id = $1)::text AS org, count(*)::text AS total FROM contacts
     UNION ALL SELECT 'deals', count(*) FILTER (WHERE organization_id = $1)::text, count(*)::text FROM deals
     UNION ALL SELECT 'tasks', count(*) FILTER (WHERE organization_id = $1)::text, count(*)::text FROM tasks
     UNION ALL SELECT 'activities', count(*) FILTER (WHERE organization_id = $1)::text, count(*)::text FROM activities`,
    [context.organizationId],
  );
  const fmt = (s: { name: string; setting: string; unit: string | null }): string =>
    `${s.name}=${s.setting}${s.unit ?? ''}`;
  return [
    `# Generated by bench/explain.ts (npm run bench) on ${new Date().toISOString()}; SQL captured from the app's services.`,
    `# ${version.rows[0].v}`,
    `# Settings: ${settings.rows.map(fmt).join(', ')}`,
    `# Rows (this organization / all): ${counts.rows.map((r) => `${r.t} ${thousands(Number(r.org))} / ${thousands(Number(r.total))}`).join(', ')}`,
  ];
}

if (require.main === module) {
  const args = new Args();
  args.assertOnly(['database-url', 'out', 'search', 'min-amount', 'depth']);
  openBenchDatabase(args)
    .then(async (database) => {
      try {
        return await dumpPlans(database.url, {
          outDir: resolve(args.string('out', 'docs/query-plans')),
          search: args.string('search', 'mart'),
          minAmount: args.string('min-amount', '100000'),
          depth: args.count('depth', 800_000),
        });
      } finally {
        await database.close();
      }
    })
    .then((summaries) => {
      for (const s of summaries)
        console.log(
          `${s.file}: ${s.queries.map((q) => `${q.label} ${q.executionMs} ms (+${q.planningMs} ms planning)`).join('; ')}`,
        );
    })
    .catch((e: unknown) => {
      console.error('[bench:explain] failed:', e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    });
}
