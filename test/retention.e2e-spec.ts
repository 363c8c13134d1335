import { randomUUID } from 'node:crypto';
import { EVENTS_RETENTION_JOB } from '../src/events/event-retention';
import {
  RETENTION_BATCH,
  RetentionRunner,
  type RetentionRun,
} from '../src/events/retention/retention-runner';
import { RETENTION_JOBS } from '../src/modules/audit/retention-jobs';
import { as, createTeam, type Team } from './support/api';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Retention (API.md section 16): each job deletes what is past its limit and keeps the rest
 * (pending work above all), in batches, in one copy at a time; every run is logged and counted
 * in /metrics.
 */

const API = '/api/v1';

/** The value of one sample (`name{labels} value`) of the Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('Retention jobs (API.md section 16)', () => {
  let t: TestApp;
  let team: Team;
  let runner: RetentionRunner;
  const logs: Record<string, unknown>[] = [];

  const count = async (sql: string, params: unknown[] = []): Promise<number> => {
    const [{ n }] = await t.db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM ${sql}`,
      params,
    );
    return n;
  };
  const scrape = async (): Promise<string> => (await t.http().get('/metrics').expect(200)).text;
  const expectRan = (run: RetentionRun, deleted: number): void =>
    expect({ outcome: run.outcome, deleted: run.deleted, error: run.error }).toEqual({
      outcome: 'ran',
      deleted,
      error: undefined,
    });

  beforeAll(async () => {
    t = await createTestApp({ LOG_LEVEL: 'info', AUDIT_RETENTION_DAYS: '90' }, logs);
    team = await createTeam(t);
    runner = t.app.get(RetentionRunner);
    // The round every copy runs at start is over (it found nothing to delete).
    await runner.settled();
  });
  afterAll(() => t.close());

  it('registers every job of the contract', () => {
    expect(runner.names().sort()).toEqual(
      [EVENTS_RETENTION_JOB, ...Object.values(RETENTION_JOBS)].sort(),
    );
  });

  it('audit entries: older than AUDIT_RETENTION_DAYS go, newer stay; the run is logged and counted', async () => {
    const before = await scrape();
    await t.db.query(
      `INSERT INTO audit_logs (action, organization_id, created_at, details)
       SELECT 'export_started', $1, now() - make_interval(days => d), jsonb_build_object('d', d)
         FROM unnest(ARRAY[91, 120, 400, 89, 1]) AS d`,
      [team.organizationId],
    );
    const run = await runner.run(RETENTION_JOBS.audit);
    expectRan(run, 3);
    expect(await count(`audit_logs WHERE action = 'export_started' AND details ? 'd'`)).toBe(2);
    expect(await count(`audit_logs WHERE created_at < now() - interval '90 days'`)).toBe(0);
    // Today's entries (the team's sign-ups) are kept.
    expect(await count(`audit_logs WHERE action = 'member_added'`)).toBe(3);

    const line = logs.find(
      (l) => l.msg === 'retention run' && l.job === RETENTION_JOBS.audit && l.deleted === 3,
    );
    expect(line).toMatchObject({ outcome: 'ran', skipped: false, durationMs: expect.any(Number) });

    const after = await scrape();
    const job = `job="${RETENTION_JOBS.audit}"`;
    expect(
      sample(after, 'crm_retention_deleted_rows_total', job) -
        sample(before, 'crm_retention_deleted_rows_total', job),
    ).toBe(3);
    expect(
      sample(after, 'crm_retention_runs_total', `${job},outcome="ran"`) -
        sample(before, 'crm_retention_runs_total', `${job},outcome="ran"`),
    ).toBe(1);
    const last = sample(after, 'crm_retention_last_success_timestamp_seconds', job);
    expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(60);
  });

  it('one copy at a time: a run whose lock another copy holds skips, deletes nothing, and says so', async () => {
    await t.db.query(
      `INSERT INTO audit_logs (action, created_at) VALUES ('login_failed', now() - interval '100 days')`,
    );
    const before = await scrape();
    // Another copy running the job: it holds the job's lock for its transaction.
    const other = t.db.createQueryRunner();
    await other.startTransaction();
    try {
      await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `${RETENTION_JOBS.audit}:retention`,
      ]);
      const [skipped, concurrent] = await Promise.all([
        runner.run(RETENTION_JOBS.audit),
        runner.run(RETENTION_JOBS.audit),
      ]);
      expect(skipped).toMatchObject({ outcome: 'skipped', deleted: 0 });
      expect(concurrent).toMatchObject({ outcome: 'skipped', deleted: 0 });
      // Other jobs are not held back.
      expect((await runner.run(RETENTION_JOBS.refreshTokens)).outcome).toBe('ran');
      expect(await count(`audit_logs WHERE created_at < now() - interval '90 days'`)).toBe(1);
    } finally {
      await other.rollbackTransaction();
      await other.release();
    }
    const after = await scrape();
    const labels = `job="${RETENTION_JOBS.audit}",outcome="skipped"`;
    expect(
      sample(after, 'crm_retention_runs_total', labels) -
        sample(before, 'crm_retention_runs_total', labels),
    ).toBe(2);
    expect(
      logs.some(
        (l) => l.job === RETENTION_JOBS.audit && l.outcome === 'skipped' && l.skipped === true,
      ),
    ).toBe(true);
    // Released: the next run deletes it.
    expectRan(await runner.run(RETENTION_JOBS.audit), 1);
  });

  it('two runners on one database (two app copies): of two runs at once, one runs and one skips', async () => {
    // A second copy's runner: its own connections, the same database.
    const second = new RetentionRunner(t.db, t.config);
    second.register({
      name: RETENTION_JOBS.audit,
      table: 'audit_logs',
      condition: 'created_at < $1',
      cutoff: (now) => new Date(now.getTime() - 90 * 86_400_000),
    });
    await t.db.query(
      `INSERT INTO audit_logs (action, created_at)
       SELECT 'login_failed', now() - interval '100 days' FROM generate_series(1, 20000)`,
    );
    const runs = await Promise.all([
      runner.run(RETENTION_JOBS.audit),
      second.run(RETENTION_JOBS.audit),
    ]);
    const outcomes = runs.map((r) => r.outcome).sort();
    if (outcomes[0] === 'ran' && outcomes[1] === 'ran') {
      // Only when one had finished before the other began: the later one found nothing.
      expect(runs.map((r) => r.deleted).sort((a, b) => a - b)).toEqual([0, 20000]);
    } else {
      expect(outcomes).toEqual(['ran', 'skipped']);
      expect(runs.find((r) => r.outcome === 'ran')!.deleted).toBe(20000);
    }
    expect(await count(`audit_logs WHERE created_at < now() - interval '90 days'`)).toBe(0);
  });

  it('deletes in batches until done', async () => {
    const table = `retention_probe_${randomUUID().slice(0, 8)}`;
    const name = `probe-${table.slice(-8)}`;
    runner.register({
      name,
      table,
      condition: 'expires_at < $1',
      cutoff: (now) => now,
      optional: true,
    });
    // Not there yet: skipped quietly.
    const missing = await runner.run(name);
    expect(missing).toMatchObject({ outcome: 'ran', deleted: 0, missingTable: true });
    await t.db.query(
      `CREATE TABLE ${table} (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL)`,
    );
    await t.db.query(
      `INSERT INTO ${table}
       SELECT i, now() + CASE WHEN i % 1000 = 0 THEN interval '1 day' ELSE interval '-1 second' END
         FROM generate_series(1, ${RETENTION_BATCH * 2 + 500}) AS i`,
    );
    const run = await runner.run(name);
    // 20,500 rows, 20 of them still valid: three statements.
    expectRan(run, RETENTION_BATCH * 2 + 500 - 20);
    expect(await count(table)).toBe(20);
    await t.db.query(`DROP TABLE ${table}`);
  });

  it('events: older than EVENTS_RETENTION_DAYS and published go; unpublished ones stay', async () => {
    const ids: string[] = [];
    for (const name of ['Old published', 'Old unpublished', 'Recent']) {
      const res = await t
        .http()
        .post(`${API}/contacts`)
        .set(as(team.owner, team.organizationId))
        .send({ name })
        .expect(201);
      ids.push((res.body as { id: string }).id);
    }
    const subject = (i: number) => `contacts/${ids[i]}`;
    await t.db.query(
      `UPDATE events SET created_at = now() - interval '31 days', published_at = now() WHERE subject = $1`,
      [subject(0)],
    );
    await t.db.query(
      `UPDATE events SET created_at = now() - interval '31 days', published_at = NULL WHERE subject = $1`,
      [subject(1)],
    );
    expectRan(await runner.run(EVENTS_RETENTION_JOB), 1);
    expect(await count('events WHERE subject = $1', [subject(0)])).toBe(0);
    expect(await count('events WHERE subject = $1', [subject(1)])).toBe(1);
    expect(await count('events WHERE subject = $1', [subject(2)])).toBe(1);
  });

  it('webhook deliveries: finished ones older than 30 days go with their attempts; pending and recent ones stay', async () => {
    const res = await t
      .http()
      .post(`${API}/webhooks`)
      .set(as(team.owner, team.organizationId))
      .send({ url: 'https://93.184.215.14/hook', events: ['*'], enabled: false })
      .expect(201);
    const webhookId = (res.body as { id: string }).id;
    const rows = await t.db.query<{ id: string }[]>(
      `INSERT INTO webhook_deliveries
              (organization_id, webhook_id, event_id, event_seq, event_type, payload, status,
               attempts, max_attempts, next_attempt_at, created_at)
       SELECT $1, $2, gen_random_uuid(), 0, 'crm.contact.created.v1', '{}', x.status, 1, 8,
              CASE WHEN x.status = 'pending' THEN now() + interval '1 day' END,
              now() - make_interval(days => x.age)
         FROM (VALUES ('succeeded', 31, 'old succeeded'), ('failed', 45, 'old failed'),
                      ('pending', 40, 'old pending'), ('succeeded', 29, 'recent')) AS x(status, age, label)
       RETURNING id`,
      [team.organizationId, webhookId],
    );
    expect(rows).toHaveLength(4);
    const ids = rows.map((r) => r.id);
    await t.db.query(
      `INSERT INTO webhook_delivery_attempts (delivery_id, at, status_code, duration_ms)
       SELECT id, now() - interval '31 days', 500, 10 FROM unnest($1::uuid[]) AS id`,
      [ids],
    );
    expectRan(await runner.run(RETENTION_JOBS.webhookDeliveries), 2);
    const left = await t.db.query<{ status: string }[]>(
      'SELECT status FROM webhook_deliveries WHERE id = ANY($1::uuid[]) ORDER BY created_at',
      [ids],
    );
    expect(left.map((r) => r.status)).toEqual(['pending', 'succeeded']);
    expect(
      await count('webhook_delivery_attempts WHERE delivery_id = ANY($1::uuid[])', [ids]),
    ).toBe(2);
  });

  it('notifications: sends sent or failed and read in-app notifications older than 30 days go; pending and unread stay', async () => {
    const user = team.member.userId;
    const org = team.organizationId;
    await t.db.query(
      `INSERT INTO notification_sends
              (organization_id, user_id, kind, channel, dedupe_key, recipient, body, status,
               next_attempt_at, created_at)
       SELECT $1, $2, 'deal.won', 'email', 'retention:' || x.key, 'member@example.com', 'Hi',
              x.status::notification_send_status,
              now() + interval '1 day', now() - make_interval(days => x.age)
         FROM (VALUES ('sent-old', 'sent', 31), ('failed-old', 'failed', 60),
                      ('pending-old', 'pending', 90), ('sent-new', 'sent', 2)) AS x(key, status, age)`,
      [org, user],
    );
    await t.db.query(
      `INSERT INTO notifications (organization_id, user_id, kind, title, body, dedupe_key, read_at, created_at)
       SELECT $1, $2, 'deal.won', 'Won', 'Won', 'retention:' || x.key,
              CASE WHEN x.read THEN now() END, now() - make_interval(days => x.age)
         FROM (VALUES ('read-old', true, 31), ('unread-old', false, 90), ('read-new', true, 1))
              AS x(key, read, age)`,
      [org, user],
    );
    expectRan(await runner.run(RETENTION_JOBS.notificationSends), 2);
    expectRan(await runner.run(RETENTION_JOBS.notifications), 1);
    const sends = await t.db.query<{ key: string }[]>(
      `SELECT dedupe_key AS key FROM notification_sends WHERE dedupe_key LIKE 'retention:%' ORDER BY 1`,
    );
    expect(sends.map((r) => r.key)).toEqual(['retention:pending-old', 'retention:sent-new']);
    const inApp = await t.db.query<{ key: string }[]>(
      `SELECT dedupe_key AS key FROM notifications WHERE dedupe_key LIKE 'retention:%' ORDER BY 1`,
    );
    expect(inApp.map((r) => r.key)).toEqual(['retention:read-new', 'retention:unread-old']);
  });

  it('refresh tokens: past their expiry go (used or revoked too); valid ones stay and still work', async () => {
    const user = team.admin.userId;
    await t.db.query(
      `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, used_at, revoked_at)
       SELECT gen_random_uuid(), $1, gen_random_uuid(), repeat('0', 64), now() + x.expires,
              CASE WHEN x.used THEN now() END, CASE WHEN x.revoked THEN now() END
         FROM (VALUES (interval '-1 hour', false, false), (interval '-1 day', true, false),
                      (interval '-2 days', false, true), (interval '1 day', false, true))
              AS x(expires, used, revoked)`,
      [user],
    );
    const valid = await count('refresh_tokens WHERE expires_at > now()');
    expectRan(await runner.run(RETENTION_JOBS.refreshTokens), 3);
    expect(await count('refresh_tokens WHERE expires_at <= now()')).toBe(0);
    expect(await count('refresh_tokens WHERE expires_at > now()')).toBe(valid);
    // The admin's session still refreshes.
    await t
      .http()
      .post(`${API}/auth/refresh`)
      .send({ refreshToken: team.admin.refreshToken })
      .expect(200);
  });

  it('password reset tokens and idempotency keys: past expires_at go, the others stay (skipped quietly while a table does not exist)', async () => {
    const exists = async (table: string): Promise<boolean> => {
      const [{ present }] = await t.db.query<{ present: boolean }[]>(
        'SELECT to_regclass($1) IS NOT NULL AS present',
        [table],
      );
      return present;
    };
    const hex = () => randomUUID().replace(/-/g, '').repeat(2);
    if (await exists('password_reset_tokens')) {
      await t.db.query(
        `INSERT INTO password_reset_tokens (user_id, token_hash, expires_at)
         VALUES ($1, $2, now() - interval '1 minute'), ($1, $3, now() - interval '2 days'),
                ($1, $4, now() + interval '1 hour')`,
        [team.member.userId, hex(), hex(), hex()],
      );
    }
    if (await exists('idempotency_keys')) {
      await t.db.query(
        `INSERT INTO idempotency_keys (scope, key, fingerprint, state, token, expires_at)
         SELECT $1, 'retention-' || x.n, $1, 'completed', gen_random_uuid(), now() + x.expires
           FROM (VALUES (1, interval '-1 hour'), (2, interval '1 hour')) AS x(n, expires)`,
        [hex()],
      );
    }
    for (const [name, table, expired] of [
      [RETENTION_JOBS.passwordResetTokens, 'password_reset_tokens', 2],
      [RETENTION_JOBS.idempotencyKeys, 'idempotency_keys', 1],
    ] as const) {
      const present = await exists(table);
      const run = await runner.run(name);
      expect({ name, outcome: run.outcome, error: run.error, missing: run.missingTable }).toEqual({
        name,
        outcome: 'ran',
        error: undefined,
        missing: present ? undefined : true,
      });
      if (present) {
        expect({ name, deleted: run.deleted }).toEqual({ name, deleted: expired });
        expect(await count(`${table} WHERE expires_at <= now()`)).toBe(0);
        expect(await count(`${table} WHERE expires_at > now()`)).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('a job that fails is counted as failed and logged, and the others still run', async () => {
    runner.register({
      name: 'broken-probe',
      table: 'audit_logs',
      condition: 'no_such_column < $1',
      cutoff: (now) => now,
    });
    const before = await scrape();
    const runs = await runner.runAll();
    expect(runs.find((r) => r.job === 'broken-probe')).toMatchObject({
      outcome: 'failed',
      error: expect.stringContaining('no_such_column'),
    });
    expect(runs.filter((r) => r.outcome === 'ran').length).toBe(runs.length - 1);
    const labels = 'job="broken-probe",outcome="failed"';
    expect(
      sample(await scrape(), 'crm_retention_runs_total', labels) -
        sample(before, 'crm_retention_runs_total', labels),
    ).toBe(1);
    expect(logs.some((l) => l.job === 'broken-probe' && l.outcome === 'failed')).toBe(true);
  });
});
