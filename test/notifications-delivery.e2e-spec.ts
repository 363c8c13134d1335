import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser, type AddressObject } from 'mailparser';
import type { EventEnvelope } from '../src/events/envelope';
import { NotificationsConsumer } from '../src/modules/notifications/notifications.consumer';
import { Notifier } from '../src/modules/notifications/notifier';
import { NotificationMetrics } from '../src/modules/notifications/sending/notification-metrics';
import {
  BREAKER_FAILURES,
  NotificationSender,
} from '../src/modules/notifications/sending/notification-sender';
import { systemActor } from '../src/tenancy/actor';
import { UnitOfWork } from '../src/tenancy/unit-of-work';
import { as, expectError, register, type Session } from './support/api';
import { freePort } from './support/database';
import {
  addMember,
  API,
  createDeal,
  eventIdOf,
  registerNamed,
  sendsOf,
  settled,
  until,
} from './support/notifications';
import { CaptureSmtp } from './support/smtp';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Delivery of notifications (API.md section 14): send rows retried with backoff and given up
 * after NOTIFY_MAX_ATTEMPTS, the email channel's circuit breaker while the SMTP server is down
 * (nothing lost), SMS through a gateway started here, exactly once per event, recipient and
 * channel, the webhooks module's `webhookDisabled`, structured log lines, and `.eml` files when
 * no SMTP_URL is set.
 */

type LogLine = Record<string, unknown>;

/** A local SMS gateway: records each JSON POST, answers the next queued status (else 200). */
class SmsGateway {
  readonly received: { to: string; body: string }[] = [];
  readonly statuses: number[] = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        this.received.push(JSON.parse(body) as { to: string; body: string });
        res.statusCode = this.statuses.shift() ?? 200;
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/sms`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const lines = (logs: LogLine[], match: (l: LogLine) => boolean): LogLine[] => logs.filter(match);

/**
 * Waits for a log line: the sender writes its row first and logs (and counts) after, so a
 * row seen in its final state does not mean the line is written yet.
 */
const logged = (logs: LogLine[], what: string, match: (l: LogLine) => boolean) =>
  until(what, () => Promise.resolve(lines(logs, match).length > 0));

describe('Notification delivery over SMTP and an SMS gateway', () => {
  let smtp: CaptureSmtp;
  let sms: SmsGateway;
  let t: TestApp;
  const logs: LogLine[] = [];
  let owner: Session;

  beforeAll(async () => {
    smtp = await CaptureSmtp.start();
    sms = new SmsGateway();
    await sms.start();
    t = await createTestApp(
      {
        SMTP_URL: smtp.url,
        SMS_WEBHOOK_URL: sms.url,
        NOTIFY_RETRY_BASE_MS: '50',
        NOTIFY_MAX_ATTEMPTS: '5',
        RELAY_POLL_MS: '50',
        LOG_LEVEL: 'info',
      },
      logs,
    );
    owner = await register(t, 'owner', 'Delivery Org');
    await smtp.message(owner.email, 'Welcome to the CRM, owner');
  });

  afterAll(async () => {
    await t?.close();
    await smtp?.stop();
    await sms?.stop();
  });

  it('takes a phone on PATCH /users/me (the phone rules of contacts; null removes it)', async () => {
    const res = await t
      .http()
      .patch(`${API}/users/me`)
      .set(as(owner))
      .send({ phone: ' +1 (555) 010-2030 ' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: owner.userId,
      email: owner.email,
      name: 'owner',
      phone: '+1 (555) 010-2030',
      createdAt: expect.any(String),
    });
    expect((await t.http().get(`${API}/users/me`).set(as(owner))).body).toEqual(res.body);
    for (const body of [
      { phone: 'call me' },
      { phone: '12' },
      { phone: 5550102030 },
      { name: '' },
      { email: 'x@y.z' },
    ]) {
      expectError(
        await t.http().patch(`${API}/users/me`).set(as(owner)).send(body),
        400,
        'VALIDATION_FAILED',
      );
    }
    const renamed = await t
      .http()
      .patch(`${API}/users/me`)
      .set(as(owner))
      .send({ name: 'Olga Owner' });
    expect(renamed.body).toEqual(
      expect.objectContaining({ name: 'Olga Owner', phone: '+1 (555) 010-2030' }),
    );
    expectError(
      await t.http().patch(`${API}/users/me`).send({ name: 'x' }),
      401,
      'UNAUTHENTICATED',
    );
    const cleared = await t.http().patch(`${API}/users/me`).set(as(owner)).send({ phone: null });
    expect(cleared.body).toEqual(expect.objectContaining({ name: 'Olga Owner', phone: null }));
    const again = await t
      .http()
      .patch(`${API}/users/me`)
      .set(as(owner))
      .send({ phone: '+1 (555) 010-2030' });
    expect((again.body as { phone: string }).phone).toBe('+1 (555) 010-2030');
  });

  it('sends SMS to the gateway; a non-2xx answer is a failed attempt, retried with backoff, logged with the event and request ids', async () => {
    const prefs = await t
      .http()
      .put(`${API}/users/me/notification-preferences`)
      .set(as(owner))
      .send({ sms: { 'deal.won': true, 'deal.lost': true } });
    expect(prefs.status).toBe(200);
    sms.statuses.push(503);
    const dealId = await createDeal(t, owner, owner.organizationId, 'SMS deal');
    const won = await t
      .http()
      .post(`${API}/deals/${dealId}/win`)
      .set({ ...as(owner, owner.organizationId), 'x-request-id': 'win-sms-1' });
    expect(won.status).toBe(200);
    await until('two SMS requests', () => Promise.resolve(sms.received.length >= 2));
    expect(sms.received.slice(0, 2)).toEqual([
      { to: '+15550102030', body: 'Deal won: SMS deal (1500.00 USD)' },
      { to: '+15550102030', body: 'Deal won: SMS deal (1500.00 USD)' },
    ]);
    const eventId = await eventIdOf(t, 'crm.deal.won.v1', `deals/${dealId}`);
    const row = await until('the SMS marked sent', async () => {
      const found = (await sendsOf(t, eventId)).find((s) => s.channel === 'sms');
      return found?.status === 'sent' ? found : null;
    });
    expect(row).toEqual(
      expect.objectContaining({
        attempts: 2,
        recipient: '+1 (555) 010-2030',
        requestId: 'win-sms-1',
      }),
    );
    const about = { channel: 'sms', eventId, requestId: 'win-sms-1', kind: 'deal.won' };
    await logged(
      logs,
      'the SMS logged as sent',
      (l) => l.outcome === 'sent' && l.eventId === eventId,
    );
    expect(lines(logs, (l) => l.outcome === 'retry' && l.eventId === eventId)).toEqual([
      expect.objectContaining({
        ...about,
        attempt: 1,
        nextAttemptInMs: 50,
        error: 'SMS gateway answered 503',
      }),
    ]);
    expect(lines(logs, (l) => l.outcome === 'sent' && l.eventId === eventId)).toEqual(
      expect.arrayContaining([expect.objectContaining({ ...about, attempt: 2 })]),
    );
    expect(t.app.get(NotificationMetrics).total('sms', 'retry')).toBeGreaterThanOrEqual(1);
  });

  it('gives a message the gateway keeps refusing up after NOTIFY_MAX_ATTEMPTS, without opening the breaker', async () => {
    sms.statuses.push(422, 422, 422, 422, 422);
    const before = sms.received.length;
    const dealId = await createDeal(t, owner, owner.organizationId, 'Refused SMS');
    const lost = await t
      .http()
      .post(`${API}/deals/${dealId}/lose`)
      .set(as(owner, owner.organizationId))
      .send({ reason: 'No budget' });
    expect(lost.status).toBe(200);
    const eventId = await eventIdOf(t, 'crm.deal.lost.v1', `deals/${dealId}`);
    const row = await until('the SMS given up', async () => {
      const found = (await sendsOf(t, eventId)).find((s) => s.channel === 'sms');
      return found?.status === 'failed' ? found : null;
    });
    expect(row).toEqual(
      expect.objectContaining({ attempts: 5, lastError: 'SMS gateway answered 422' }),
    );
    expect(sms.received.length - before).toBe(5);
    await logged(
      logs,
      'the SMS logged as failed',
      (l) => l.outcome === 'failed' && l.eventId === eventId,
    );
    expect(t.app.get(NotificationSender).breakerState('sms')).toBe('closed');
    expect(lines(logs, (l) => l.outcome === 'failed' && l.eventId === eventId)).toEqual([
      expect.objectContaining({ level: 50, attempt: 5, channel: 'sms' }),
    ]);
    expect(t.app.get(NotificationMetrics).total('sms', 'failed')).toBe(1);
  });

  it('while the SMTP server is down: attempts fail, the breaker opens, rows wait uncharged; when it is back everything is sent', async () => {
    const metrics = t.app.get(NotificationMetrics);
    const sender = t.app.get(NotificationSender);
    await smtp.stop();
    const users = await Promise.all(
      ['down-1', 'down-2', 'down-3', 'down-4'].map((name) => register(t, name)),
    );
    const ids = users.map((u) => u.userId);
    const rows = () =>
      t.db.query<{ status: string; attempts: number }[]>(
        `SELECT status, attempts FROM notification_sends WHERE kind = 'user.registered' AND user_id = ANY($1::uuid[])`,
        [ids],
      );
    await until('the email breaker to open', () =>
      Promise.resolve(lines(logs, (l) => l.channel === 'email' && l.breaker === 'open').length > 0),
    );
    expect(metrics.isOpen('email')).toBe(1);
    expect(sender.breakerState('email')).not.toBe('closed');
    await until('four welcome rows', async () => (await rows()).length === 4);
    const charged = (await rows()).reduce((sum, r) => sum + r.attempts, 0);
    // Exactly the consecutive failures that opened it were charged (all of them attempts).
    expect(charged).toBe(BREAKER_FAILURES);
    // Open: probes (every 250 ms here) fail and charge nothing; the rows stay pending.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const waiting = await rows();
    expect(waiting.every((r) => r.status === 'pending')).toBe(true);
    expect(waiting.reduce((sum, r) => sum + r.attempts, 0)).toBe(charged);
    expect(
      lines(logs, (l) => l.outcome === 'probe-failed' && l.channel === 'email').length,
    ).toBeGreaterThan(0);
    expect(metrics.total('email', 'retry')).toBeGreaterThanOrEqual(1);

    await smtp.start();
    await smtp.waitFor('the four welcome emails', () =>
      users.every((u) => smtp.to(u.email).some((m) => m.subject.startsWith('Welcome to the CRM'))),
    );
    await until('the rows marked sent', async () =>
      (await rows()).every((r) => r.status === 'sent'),
    );
    await until('the breaker closed', () => Promise.resolve(metrics.isOpen('email') === 0));
    expect(sender.breakerState('email')).toBe('closed');
    expect(
      lines(logs, (l) => l.channel === 'email' && l.breaker === 'closed').length,
    ).toBeGreaterThan(0);
    for (const u of users) expect(smtp.to(u.email)).toHaveLength(1);
  });

  it('writes each notification once per event, recipient and channel, however often (and concurrently) the event is handled', async () => {
    const member = await register(t, 'twice');
    await addMember(t, owner, owner.organizationId, member, 'member');
    const dealId = await createDeal(t, member, owner.organizationId, 'Twice');
    expect(
      (await t.http().post(`${API}/deals/${dealId}/win`).set(as(member, owner.organizationId)))
        .status,
    ).toBe(200);
    const eventId = await eventIdOf(t, 'crm.deal.won.v1', `deals/${dealId}`);
    await settled(t);
    const count = async (): Promise<[number, number]> => {
      const [{ n }] = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM notifications WHERE event_id = $1',
        [eventId],
      );
      return [n, (await sendsOf(t, eventId)).length];
    };
    const first = await count();
    // deal owner + organization owner in-app; their emails; the owner's SMS.
    expect(first).toEqual([2, 3]);
    const [{ envelope }] = await t.db.query<{ envelope: EventEnvelope }[]>(
      'SELECT envelope FROM events WHERE id = $1',
      [eventId],
    );
    const consumer = t.app.get(NotificationsConsumer);
    await consumer.handle(envelope);
    await Promise.all([consumer.handle(envelope), consumer.handle(envelope)]);
    expect(await count()).toEqual(first);
    await smtp.message(member.email, 'Deal won: Twice (1500.00 USD)');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(
      smtp.to(member.email).filter((m) => m.subject.startsWith('Deal won: Twice')),
    ).toHaveLength(1);
  });

  it("webhookDisabled tells the organization's owners (in-app and email), once per key, only if the caller's transaction commits", async () => {
    const second = await registerNamed(t, 'Second Owner', 'Elsewhere');
    const bystander = await register(t, 'bystander');
    await addMember(t, owner, owner.organizationId, second, 'owner');
    await addMember(t, owner, owner.organizationId, bystander, 'admin');
    const uow = t.app.get(UnitOfWork);
    const notifier = t.app.get(Notifier);
    const disable = (key: string, fail = false) =>
      uow.run(systemActor(owner.organizationId, 'wh-req-1'), async (tx) => {
        await notifier.webhookDisabled(tx, {
          key,
          webhookId: '6a1c2b3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d',
          url: 'https://hooks.example/dead',
          reason: 'every delivery failed for 5 days',
        });
        if (fail) throw new Error('the disabling rolled back');
      });
    await disable('k1');
    await disable('k1');
    await expect(disable('k2', true)).rejects.toThrow('rolled back');
    const rows = await t.db.query<{ userId: string; channel: string; requestId: string }[]>(
      `SELECT user_id AS "userId", channel, request_id AS "requestId" FROM notification_sends
        WHERE kind = 'webhook.disabled' AND organization_id = $1 ORDER BY user_id, channel`,
      [owner.organizationId],
    );
    expect(rows.map((r) => [r.userId, r.channel]).sort()).toEqual(
      [
        [owner.userId, 'email'],
        [second.userId, 'email'],
      ].sort(),
    );
    expect(rows.every((r) => r.requestId === 'wh-req-1')).toBe(true);
    const mail = await smtp.message(second.email, 'Webhook disabled: https://hooks.example/dead');
    expect(mail.text).toContain(
      'The webhook endpoint https://hooks.example/dead of Delivery Org was disabled: every delivery failed for 5 days.',
    );
    const list = await t.http().get(`${API}/notifications`).set(as(second, owner.organizationId));
    const disabled = (body: unknown) =>
      (body as { items: { kind: string }[] }).items.filter((n) => n.kind === 'webhook.disabled');
    expect(disabled(list.body)).toEqual([
      expect.objectContaining({
        kind: 'webhook.disabled',
        title: 'Webhook disabled',
        body: 'https://hooks.example/dead was disabled: every delivery failed for 5 days.',
        eventId: null,
      }),
    ]);
    const none = await t
      .http()
      .get(`${API}/notifications`)
      .set(as(bystander, owner.organizationId));
    expect(none.status).toBe(200);
    expect(disabled(none.body)).toEqual([]);
    await expect(
      uow.run(systemActor(owner.organizationId), (tx) =>
        notifier.webhookDisabled(tx, { key: '', webhookId: 'x', url: 'y', reason: 'z' }),
      ),
    ).rejects.toThrow('key');
  });
});

describe('Notification delivery without SMTP_URL and SMS_WEBHOOK_URL', () => {
  let t: TestApp;
  let dataDir: string;
  const logs: LogLine[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'crm-notify-'));
    t = await createTestApp({ DATA_DIR: dataDir, LOG_LEVEL: 'info', RELAY_POLL_MS: '50' }, logs);
  });

  afterAll(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes each email as an .eml file in DATA_DIR/mail/ and each text message to the log', async () => {
    const user = await registerNamed(t, 'Eve <Dev>', 'Eml Org');
    const mailDir = join(dataDir, 'mail');
    const file = await until('an .eml file', () => {
      try {
        return Promise.resolve(readdirSync(mailDir).find((f) => f.endsWith('.eml')));
      } catch {
        return Promise.resolve(undefined);
      }
    });
    expect(file).toMatch(/^\d{8}T\d{9}Z-[0-9a-f-]{36}\.eml$/);
    const mail = await simpleParser(readFileSync(join(mailDir, file)));
    expect(mail.subject).toBe('Welcome to the CRM, Eve <Dev>');
    expect(mail.from?.value[0]).toEqual(
      expect.objectContaining({ name: 'CRM', address: 'no-reply@crm.localhost' }),
    );
    expect((mail.to as AddressObject).value[0].address).toBe(user.email);
    expect(mail.html).toContain('Hello Eve &lt;Dev&gt;,');
    expect(mail.text).toContain('Hello Eve <Dev>,');
    expect(readdirSync(mailDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // A text message without a gateway: a log line.
    const other = await register(t, 'texter');
    expect(
      (await t.http().patch(`${API}/users/me`).set(as(other)).send({ phone: '+44 20 7946 0000' }))
        .status,
    ).toBe(200);
    expect(
      (
        await t
          .http()
          .put(`${API}/users/me/notification-preferences`)
          .set(as(other))
          .send({ sms: { 'member.added': true } })
      ).status,
    ).toBe(200);
    await addMember(t, user, user.organizationId, other, 'member');
    const line = await until('the SMS log line', () =>
      Promise.resolve(lines(logs, (l) => l.channel === 'sms' && l.to === '+442079460000')[0]),
    );
    expect(line).toEqual(
      expect.objectContaining({
        body: 'You were added to Eml Org as member.',
        msg: 'sms (not sent: SMS_WEBHOOK_URL is not set)',
      }),
    );
    await until('the member.added email file', () =>
      Promise.resolve(readdirSync(mailDir).filter((f) => f.endsWith('.eml')).length >= 3),
    );
  });
});
