/**
 * `npm run events:replay -- --since <ISO time> [--until <ISO time>] [--type crm.deal.*]...
 *  [--organization <id>] [--no-wait]` (API.md section 12, docs/decisions/0031).
 *
 * Re-publishes stored events: the matching events are marked unpublished again, in `seq` order
 * and in batches, and the relay of the running app publishes them once more, in order, with
 * confirms (to RabbitMQ when AMQP_URL is set, else to the in-app consumers). Consumers receive
 * them again with their original ids, so idempotent ones ignore what they already handled.
 * Progress is printed while marking and, unless --no-wait, while the relay catches up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENT_TYPES } from '../events/catalog';
import { likePattern } from '../events/consumers/consumer';
import { RELAY_CHANNEL } from '../events/outbox.recorder';
import { loadCliConfig, openDatabase, parse, runCli, UsageError } from './cli-context';

const USAGE = `usage: npm run events:replay -- --since <ISO time> [--until <ISO time>]
         [--type <type or prefix*>]... [--organization <id>] [--no-wait]
  e.g.   npm run events:replay -- --since 2026-12-01T00:00:00Z --type 'crm.deal.*'`;

const BATCH = 10_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Stop waiting when the relay delivered nothing for this long. */
const STALL_MS = 15_000;

const count = (n: number): string => n.toLocaleString('en-US');

function time(name: string, value: string | undefined): Date | null {
  if (value === undefined) return null;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new UsageError(`--${name} must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z`);
  }
  return date;
}

function typePatterns(types: string[] | undefined): string[] {
  if (!types?.length) return ['%'];
  for (const type of types) {
    const known = type.endsWith('*')
      ? EVENT_TYPES.some((t) => t.startsWith(type.slice(0, -1)))
      : (EVENT_TYPES as readonly string[]).includes(type);
    if (!known) throw new UsageError(`--type ${type}: no event type of the catalog matches it`);
  }
  return types.map(likePattern);
}

async function replay(args: string[]): Promise<void> {
  const { values } = parse(args, {
    since: { type: 'string' },
    until: { type: 'string' },
    type: { type: 'string', multiple: true },
    organization: { type: 'string' },
    'no-wait': { type: 'boolean' },
  });
  const since = time('since', values.since);
  if (!since) throw new UsageError('--since is required');
  const until = time('until', values.until);
  const organization = values.organization ?? null;
  if (organization !== null && !UUID.test(organization)) {
    throw new UsageError('--organization must be an organization id (a UUID)');
  }
  const patterns = typePatterns(values.type);

  const config = loadCliConfig();
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const db = await openDatabase(config, log);
  try {
    const filter = `created_at >= $1 AND ($2::timestamptz IS NULL OR created_at < $2)
      AND type LIKE ANY($3::text[]) AND ($4::uuid IS NULL OR organization_id = $4)`;
    const params = [since, until, patterns, organization];
    const {
      rows: [{ total }],
    } = await db.client.query<{ total: string }>(
      `SELECT count(*) AS total FROM events WHERE ${filter}`,
      params,
    );
    const matching = Number(total);
    const target = config.amqpUrl
      ? `the exchange ${config.amqpNamespace}.events`
      : 'the in-app consumers';
    log(`${count(matching)} events match; replaying them to ${target}`);
    if (!matching) return;

    let marked = 0;
    let after = '0';
    let first: string | null = null;
    for (;;) {
      const { rows } = await db.client.query<{ seq: string }>(
        `UPDATE events e SET published_at = NULL
           FROM (SELECT seq FROM events WHERE ${filter} AND seq > $5 ORDER BY seq LIMIT ${BATCH}) b
          WHERE e.seq = b.seq
        RETURNING e.seq`,
        [...params, after],
      );
      if (!rows.length) break;
      const seqs = rows.map((r) => BigInt(r.seq)).sort((a, b) => (a < b ? -1 : 1));
      first ??= String(seqs[0]);
      after = String(seqs[seqs.length - 1]);
      marked += rows.length;
      await db.client.query(`SELECT pg_notify('${RELAY_CHANNEL}', '')`);
      log(`marked ${count(marked)} / ${count(matching)} for redelivery`);
    }
    if (values['no-wait'] || first === null) return;

    let left = marked;
    let lastMove = Date.now();
    while (left > 0) {
      await sleep(1000);
      const {
        rows: [row],
      } = await db.client.query<{ left: string }>(
        `SELECT count(*) AS left FROM events
          WHERE published_at IS NULL AND seq BETWEEN $5 AND $6 AND ${filter}`,
        [...params, first, after],
      );
      const now = Number(row.left);
      if (now < left) lastMove = Date.now();
      left = now;
      log(`delivered ${count(marked - left)} / ${count(marked)}`);
      if (left && Date.now() - lastMove > STALL_MS) {
        log(
          `no relay is delivering them now (is the app running, with the same AMQP_URL?): the ${count(left)} left go out, in order, when it runs`,
        );
        return;
      }
    }
    log('done');
  } finally {
    await db.close();
  }
}

runCli(USAGE, replay);
