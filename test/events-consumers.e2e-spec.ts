import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect as amqpConnect } from 'amqplib';
import { AmqpNames } from '../src/events/broker';
import { as, register, type Session } from './support/api';
import { AMQP_URL, describeOnRabbitMq, dropNamespace, queuesOf } from './support/rabbitmq';
import {
  createTestApp,
  TEST_ACCESS_SECRET,
  TEST_REFRESH_SECRET,
  type TestApp,
} from './support/test-app';

/**
 * The in-app consumers of domain events (API.md section 12, docs/decisions/0031) and the
 * command-line tools `events:replay` and `events:dlq`, without RabbitMQ (from PostgreSQL) and
 * with it (from the consumers' own queues): the audit consumer writes one entry per delete and
 * import, in the right organization, once however often the event arrives; a failing consumer is
 * retried with backoff, dead-lettered with its last error, and requeued.
 */

const API = '/api/v1';
const FAST = {
  RELAY_POLL_MS: '50',
  EVENT_MAX_ATTEMPTS: '3',
  EVENT_RETRY_BASE_MS: '100',
};

interface AuditRow {
  action: string;
  organizationId: string;
  actorUserId: string | null;
  targetType: string;
  targetId: string;
  requestId: string | null;
  details: Record<string, unknown>;
  eventId: string;
  createdAt: Date;
}

const auditRows = (t: TestApp): Promise<AuditRow[]> =>
  t.db.query(
    `SELECT action, organization_id AS "organizationId", actor_user_id AS "actorUserId",
            target_type AS "targetType", target_id AS "targetId", request_id AS "requestId",
            details, event_id AS "eventId", created_at AS "createdAt"
       FROM audit_logs WHERE event_id IS NOT NULL ORDER BY created_at`,
  );

async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function createContact(t: TestApp, owner: Session, name: string): Promise<string> {
  const res = await t
    .http()
    .post(`${API}/contacts`)
    .set(as(owner, owner.organizationId))
    .send({ name });
  expect(res.status).toBe(201);
  return (res.body as { id: string }).id;
}

async function deleteContact(t: TestApp, owner: Session, id: string): Promise<string> {
  const res = await t.http().delete(`${API}/contacts/${id}`).set(as(owner, owner.organizationId));
  expect(res.status).toBe(204);
  return res.headers['x-request-id'];
}

/** The stored event of a subject and type. */
async function eventOf(
  t: TestApp,
  type: string,
  subject: string,
): Promise<{ id: string; time: string; requestid: string; organizationid: string }> {
  const [row] = await t.db.query<{ envelope: never }[]>(
    'SELECT envelope FROM events WHERE type = $1 AND subject = $2',
    [type, subject],
  );
  return row.envelope;
}

/** Fails audit entries about records named "Poison" (the consumer's write is refused). */
async function poison(t: TestApp, on: boolean): Promise<void> {
  if (!on) {
    await t.db.query('DROP TRIGGER IF EXISTS poison ON audit_logs');
    return;
  }
  await t.db.query(`
    CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$
    BEGIN
      IF NEW.details->>'name' = 'Poison' THEN RAISE EXCEPTION 'poisoned entry refused'; END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql`);
  await t.db.query(
    'CREATE TRIGGER poison BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION refuse_poison()',
  );
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `npm run events:<tool>` as the user would (same entry point), against `t`'s database. */
function cli(
  t: TestApp,
  tool: 'replay' | 'dlq',
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult> {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: t.config.databaseUrl!,
    JWT_ACCESS_SECRET: TEST_ACCESS_SECRET,
    JWT_REFRESH_SECRET: TEST_REFRESH_SECRET,
    ...env,
  };
  if (!env.AMQP_URL) delete childEnv.AMQP_URL;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', 'ts-node/register/transpile-only', `src/cli/events-${tool}.ts`, ...args],
      { cwd: process.cwd(), env: childEnv, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface Letter {
  eventId: string;
  consumer: string;
  attempts: number;
  lastError: string;
  organizationId: string;
  type: string;
}

/** The dead letter of the audit consumer's poisoned contact deletion (3 attempts). */
const poisonedLetter = (eventId: string, organizationId: string): unknown =>
  expect.objectContaining({
    eventId,
    type: 'crm.contact.deleted.v1',
    organizationId,
    consumer: 'audit',
    attempts: 3,
    lastError: expect.stringContaining('poisoned entry refused') as string,
  });

const letters = (result: CliResult): Letter[] => {
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Letter[];
};

describe('In-app event consumers without RabbitMQ (from PostgreSQL)', () => {
  let t: TestApp;
  let a: Session;
  let b: Session;
  const logs: Record<string, unknown>[] = [];
  beforeAll(async () => {
    t = await createTestApp({ ...FAST, LOG_LEVEL: 'info' }, logs);
    [a, b] = [await register(t, 'a', 'Org A'), await register(t, 'b', 'Org B')];
  });
  afterAll(() => t.close());

  it('the audit consumer writes one entry per delete and import, in its organization, with the actor, request id and time of the event', async () => {
    const contact = await createContact(t, a, 'Ada');
    const buyer = await createContact(t, a, 'Buyer');
    const deal = await t
      .http()
      .post(`${API}/deals`)
      .set(as(a, a.organizationId))
      .send({ title: 'Big one', amount: 10, contactId: buyer });
    expect(deal.status).toBe(201);
    const dealId = (deal.body as { id: string }).id;
    await t.http().delete(`${API}/deals/${dealId}`).set(as(a, a.organizationId)).expect(204);
    const requestId = await deleteContact(t, a, contact);
    await t
      .http()
      .post(`${API}/contacts/import`)
      .set(as(a, a.organizationId))
      .attach(
        'file',
        Buffer.from('name,email,phone,companyName\nGrace,grace@example.com,,\n'),
        'c.csv',
      )
      .expect(200);
    const theirs = await createContact(t, b, 'Bob');
    await deleteContact(t, b, theirs);

    const rows = await until('four audit entries', async () => {
      const found = await auditRows(t);
      return found.length >= 4 && found;
    });
    const ofA = rows.filter((r) => r.organizationId === a.organizationId);
    expect(ofA.map((r) => r.action).sort()).toEqual([
      'contact_deleted',
      'deal_deleted',
      'import_completed',
    ]);
    const deleted = ofA.find((r) => r.action === 'contact_deleted')!;
    const event = await eventOf(t, 'crm.contact.deleted.v1', `contacts/${contact}`);
    expect(deleted).toMatchObject({
      actorUserId: a.userId,
      targetType: 'contact',
      targetId: contact,
      requestId,
      eventId: event.id,
      details: { name: 'Ada' },
    });
    expect(deleted.createdAt.toISOString()).toBe(event.time);
    expect(ofA.find((r) => r.action === 'deal_deleted')).toMatchObject({
      targetId: dealId,
      details: { name: 'Big one' },
    });
    expect(ofA.find((r) => r.action === 'import_completed')?.details).toEqual({
      kind: 'contacts',
      created: 1,
      updated: 0,
      skipped: 0,
      failed: 0,
    });
    // Cross-organization: each entry is in the organization of its event, B's only its own.
    const ofB = rows.filter((r) => r.organizationId === b.organizationId);
    expect(ofB.map((r) => [r.action, r.targetId])).toEqual([['contact_deleted', theirs]]);
    const [{ mismatched }] = await t.db.query<{ mismatched: number }[]>(
      `SELECT count(*)::int AS mismatched FROM audit_logs l JOIN events e ON e.id = l.event_id
        WHERE e.organization_id IS DISTINCT FROM l.organization_id`,
    );
    expect(mismatched).toBe(0);
    // Handled messages leave nothing behind.
    await until('the consumer queue to drain', async () => {
      const [{ n }] = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM consumer_messages',
      );
      return n === 0;
    });
  });

  it('an event delivered again (replayed) writes nothing twice', async () => {
    const contact = await createContact(t, a, 'Twice');
    await deleteContact(t, a, contact);
    const event = await eventOf(t, 'crm.contact.deleted.v1', `contacts/${contact}`);
    const entries = async (): Promise<number> =>
      (await auditRows(t)).filter((r) => r.eventId === event.id).length;
    await until('the entry', async () => (await entries()) === 1);
    const [before] = await t.db.query<{ published_at: Date }[]>(
      'SELECT published_at FROM events WHERE id = $1',
      [event.id],
    );

    const replay = await cli(t, 'replay', [
      '--since',
      new Date(Date.parse(event.time) - 1).toISOString(),
      '--type',
      'crm.contact.deleted.v1',
      '--organization',
      a.organizationId,
    ]);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('1 events match; replaying them to the in-app consumers');
    expect(replay.stdout).toContain('marked 1 / 1 for redelivery');
    expect(replay.stdout).toContain('delivered 1 / 1');
    const [after] = await t.db.query<{ published_at: Date }[]>(
      'SELECT published_at FROM events WHERE id = $1',
      [event.id],
    );
    expect(after.published_at.getTime()).toBeGreaterThan(before.published_at.getTime());
    // Delivered again to the consumer, which wrote nothing the second time.
    await until('the consumer queue to drain', async () => {
      const [{ n }] = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM consumer_messages',
      );
      return n === 0;
    });
    expect(await entries()).toBe(1);
  });

  it('the replay refuses what it cannot do, with its usage', async () => {
    const cases: [string[], string][] = [
      [[], '--since is required'],
      [['--since', 'yesterday'], '--since must be an ISO 8601 time'],
      [['--since', '2026-01-01', '--type', 'crm.nope.*'], 'no event type of the catalog'],
      [['--since', '2026-01-01', '--organization', 'x'], '--organization must be'],
      [['--since', '2026-01-01', '--bogus'], "Unknown option '--bogus'"],
    ];
    for (const [args, message] of cases) {
      const result = await cli(t, 'replay', args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain('usage: npm run events:replay');
    }
  });

  it('a failing consumer is retried with backoff, then dead-lettered with its last error; requeue delivers it, and others were never held up', async () => {
    await poison(t, true);
    try {
      const bad = await createContact(t, a, 'Poison');
      await deleteContact(t, a, bad);
      const event = await eventOf(t, 'crm.contact.deleted.v1', `contacts/${bad}`);
      // A healthy event behind it is handled while the poisoned one waits for its retries.
      const good = await createContact(t, a, 'Healthy');
      await deleteContact(t, a, good);
      await until('the healthy entry', async () =>
        (await auditRows(t)).some((r) => r.targetId === good),
      );

      const dead = await until('the dead letter', async () => {
        const [row] = await t.db.query<{ attempts: number; last_error: string }[]>(
          'SELECT attempts, last_error FROM consumer_messages WHERE event_id = $1 AND dead_at IS NOT NULL',
          [event.id],
        );
        return row;
      });
      expect(dead.attempts).toBe(3);
      expect(dead.last_error).toContain('poisoned entry refused');
      // The row is written before the line is logged: wait for the line too.
      const attempts = await until('the dead-letter log line', () => {
        const found = logs.filter(
          (l) => typeof l.msg === 'string' && l.msg.includes(`event ${event.id}`),
        );
        return Promise.resolve(found.length >= 3 && found);
      });
      expect(attempts.map((l) => [l.level, /attempt (\d)\/3/.exec(l.msg as string)?.[1]])).toEqual([
        [40, '1'],
        [40, '2'],
        [50, '3'],
      ]);
      expect(attempts[0].msg).toContain('next attempt in 100 ms');
      expect(attempts[1].msg).toContain('next attempt in 400 ms');
      expect(attempts[2].msg).toContain('dead-lettered');

      const listed = letters(await cli(t, 'dlq', ['list', '--json']));
      expect(listed).toEqual([poisonedLetter(event.id, a.organizationId)]);
      // Repaired: requeued, it is delivered; an unknown id is reported, nothing else moves.
      await poison(t, false);
      const unknown = randomUUID();
      const requeue = await cli(t, 'dlq', ['requeue', '--id', event.id, '--id', unknown]);
      expect(requeue.code).toBe(0);
      expect(requeue.stdout).toContain(event.id);
      expect(requeue.stderr).toContain('1 dead letter(s) requeued');
      expect(requeue.stderr).toContain(`not found among the dead letters: ${unknown}`);
      await until('the requeued entry', async () =>
        (await auditRows(t)).some((r) => r.eventId === event.id),
      );
      expect(letters(await cli(t, 'dlq', ['list', '--json']))).toEqual([]);
    } finally {
      await poison(t, false);
    }
  });

  it('the dead-letter tool refuses what it cannot do', async () => {
    for (const [args, message] of [
      [[], 'no command'],
      [['purge'], 'unknown command: purge'],
      [['requeue', '--id', 'x'], '--id x: an event id is a UUID'],
    ] as [string[], string][]) {
      const result = await cli(t, 'dlq', args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
    }
  });
});

describeOnRabbitMq('In-app event consumers with RabbitMQ (their own queues)', () => {
  const names = new AmqpNames(`test-${randomUUID().slice(0, 8)}`);
  const env = { ...FAST, AMQP_URL, AMQP_NAMESPACE: names.namespace };
  let t: TestApp;
  let a: Session;
  let b: Session;
  beforeAll(async () => {
    t = await createTestApp(env);
    [a, b] = [await register(t, 'a', 'Org A'), await register(t, 'b', 'Org B')];
  });
  afterAll(async () => {
    const queues = queuesOf(t, names);
    await t.close();
    // The namespace's exchanges and queues are this test's own: leave the broker as it was.
    await dropNamespace(names, queues);
  });

  it('the audit consumer reads its durable queue, bound to its event types only', async () => {
    const connection = await amqpConnect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      // The consumers subscribe while the app starts, each on its own channel: wait for it.
      let queue = await channel.checkQueue(names.consumerQueue('audit'));
      for (let i = 0; i < 100 && queue.consumerCount === 0; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        queue = await channel.checkQueue(names.consumerQueue('audit'));
      }
      expect(queue.consumerCount).toBe(1);
    } finally {
      await connection.close();
    }
    const ours = await createContact(t, a, 'Ada');
    await deleteContact(t, a, ours);
    const theirs = await createContact(t, b, 'Bob');
    await deleteContact(t, b, theirs);
    const rows = await until('two entries', async () => {
      const found = await auditRows(t);
      return found.length >= 2 && found;
    });
    expect(rows.map((r) => [r.organizationId, r.action, r.targetId]).sort()).toEqual(
      [
        [a.organizationId, 'contact_deleted', ours],
        [b.organizationId, 'contact_deleted', theirs],
      ].sort(),
    );
  });

  it('a failing message goes through the retry queues to crm.events.dlq with its last error; requeue delivers it', async () => {
    await poison(t, true);
    try {
      const bad = await createContact(t, a, 'Poison');
      await deleteContact(t, a, bad);
      const event = await eventOf(t, 'crm.contact.deleted.v1', `contacts/${bad}`);
      const amqpEnv = { AMQP_URL, AMQP_NAMESPACE: names.namespace };
      const listed = await until('the dead letter', async () => {
        const found = letters(await cli(t, 'dlq', ['list', '--json'], amqpEnv));
        return found.length > 0 && found;
      });
      expect(listed).toEqual([poisonedLetter(event.id, a.organizationId)]);
      expect((await auditRows(t)).some((r) => r.eventId === event.id)).toBe(false);
      // Listing leaves it in the queue.
      expect(letters(await cli(t, 'dlq', ['list', '--json'], amqpEnv))).toHaveLength(1);

      await poison(t, false);
      const requeue = await cli(t, 'dlq', ['requeue'], amqpEnv);
      expect(requeue.code).toBe(0);
      expect(requeue.stderr).toContain(`1 dead letter(s) requeued from ${names.deadLetterQueue}`);
      await until('the requeued entry', async () =>
        (await auditRows(t)).some((r) => r.eventId === event.id),
      );
      expect(letters(await cli(t, 'dlq', ['list', '--json'], amqpEnv))).toEqual([]);
    } finally {
      await poison(t, false);
    }
    // Four runs of the CLI (each loads the app's modules through ts-node): on 2 busy cores that
    // alone took most of the default minute.
  }, 180_000);
});
