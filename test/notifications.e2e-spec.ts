import { as, expectError, register, type Session } from './support/api';
import {
  addMember,
  API,
  createDeal,
  eventIdOf,
  registerNamed,
  sendsOf,
  settled,
} from './support/notifications';
import { CaptureSmtp } from './support/smtp';
import { createTestApp, type TestApp } from './support/test-app';
import { Notifier } from '../src/modules/notifications/notifier';
import { systemActor } from '../src/tenancy/actor';
import { UnitOfWork } from '../src/tenancy/unit-of-work';

/**
 * Notifications (API.md section 14) over a capture SMTP server: who gets which email for which
 * event, rendered and escaped; in-app notifications (list, read, read-all) per user and
 * organization; preferences; templates (override, restore, validation); roles and isolation.
 * Delivery (retries, circuit breaker, SMS, exactly once, .eml files): notifications-delivery.
 */

const HTML_NAME = '<b>Ann & Co</b>';
const HTML_NAME_ESCAPED = '&lt;b&gt;Ann &amp; Co&lt;/b&gt;';
const PUBLIC_URL = 'https://crm.example';

interface NotificationBody {
  id: string;
  kind: string;
  title: string;
  body: string;
  eventId: string | null;
  readAt: string | null;
  createdAt: string;
}

interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

interface KeysetPage<T> {
  items: T[];
  nextCursor: string | null;
}

interface TemplateBody {
  kind: string;
  channel: string;
  subject: string | null;
  body: string;
  isDefault: boolean;
}

const DEFAULTS = {
  email: {
    'user.registered': true,
    'member.added': true,
    'lead.created': true,
    'deal.won': true,
    'deal.lost': true,
    'task.created': false,
    'webhook.disabled': true,
    'password.reset': true,
  },
  inApp: {
    'user.registered': false,
    'member.added': true,
    'lead.created': true,
    'deal.won': true,
    'deal.lost': true,
    'task.created': true,
    'webhook.disabled': true,
    'password.reset': false,
  },
  sms: {
    'user.registered': false,
    'member.added': false,
    'lead.created': false,
    'deal.won': false,
    'deal.lost': false,
    'task.created': false,
    'webhook.disabled': false,
    'password.reset': false,
  },
};

describe('Notifications (API.md section 14)', () => {
  let smtp: CaptureSmtp;
  let t: TestApp;
  /** Owner of Org A, named with markup. */
  let owner: Session;
  let admin: Session;
  let member: Session;
  /** Owner of an unrelated organization (Org B). */
  let outsider: Session;
  let orgA: string;

  const notifications = async (
    who: Session,
    organizationId: string,
    query = '',
  ): Promise<Page<NotificationBody>> => {
    const res = await t.http().get(`${API}/notifications${query}`).set(as(who, organizationId));
    expect(res.status).toBe(200);
    return res.body as Page<NotificationBody>;
  };

  /** Waits until `who` has a notification of `kind` in the organization and returns it. */
  const notificationOf = async (
    who: Session,
    organizationId: string,
    kind: string,
    eventId?: string,
  ): Promise<NotificationBody> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const page = await notifications(who, organizationId, '?pageSize=100');
      const found = page.items.find(
        (n) => n.kind === kind && (eventId === undefined || n.eventId === eventId),
      );
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${kind} notification`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  beforeAll(async () => {
    smtp = await CaptureSmtp.start();
    t = await createTestApp({
      SMTP_URL: smtp.url,
      MAIL_FROM: 'CRM Test <crm@test.example>',
      PUBLIC_URL,
      NOTIFY_RETRY_BASE_MS: '50',
      RELAY_POLL_MS: '50',
    });
    owner = await registerNamed(t, HTML_NAME, 'Ann Org');
    orgA = owner.organizationId;
    [admin, member, outsider] = await Promise.all([
      register(t, 'admin'),
      registerNamed(t, 'Mia Member', 'Mia Org'),
      register(t, 'outsider', 'Org B'),
    ]);
    await addMember(t, owner, orgA, admin, 'admin');
    await addMember(t, owner, orgA, member, 'member');
  });

  afterAll(async () => {
    await t?.close();
    await smtp?.stop();
  });

  describe('emails', () => {
    it('welcomes a new user, from MAIL_FROM, with values HTML-escaped in the HTML body only', async () => {
      const mail = await smtp.message(owner.email, `Welcome to the CRM, ${HTML_NAME}`);
      expect(mail.from).toBe('crm@test.example');
      expect(mail.messageId).toMatch(/^<[0-9a-f-]{36}@test\.example>$/);
      expect(mail.html).toContain(`Hello ${HTML_NAME_ESCAPED},`);
      expect(mail.html).not.toContain('<b>Ann');
      expect(mail.html).toContain('<strong>Ann Org</strong>');
      // The plain-text alternative: the same words, the name as the text it is.
      expect(mail.text).toContain(`Hello ${HTML_NAME},`);
      expect(mail.text).toContain(
        `Welcome! Your account (${owner.email}) and your organization Ann Org are ready.`,
      );
      expect(mail.text).not.toContain('<strong>');
    });

    it('tells a user added to an organization who added them, by email and in-app; nobody is told about the organization they created', async () => {
      const mail = await smtp.message(member.email, 'You were added to Ann Org');
      expect(mail.html).toContain(
        `${HTML_NAME_ESCAPED} added you to <strong>Ann Org</strong> as member.`,
      );
      expect(mail.text).toContain(`${HTML_NAME} added you to Ann Org as member.`);
      const eventId = await eventIdOf(t, 'crm.member.added.v1', `members/${member.userId}`, orgA);
      const inApp = await notificationOf(member, orgA, 'member.added');
      expect(inApp).toEqual({
        id: expect.any(String),
        kind: 'member.added',
        title: 'Added to Ann Org',
        body: 'You are now member in Ann Org.',
        eventId,
        readAt: null,
        createdAt: expect.any(String),
      });
      await settled(t);
      // The owner's own membership of the organization they registered: no member.added.
      const [{ n }] = await t.db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM notification_sends WHERE user_id = $1 AND kind = 'member.added'`,
        [owner.userId],
      );
      expect(n).toBe(0);
      expect(smtp.to(owner.email).map((m) => m.subject)).not.toContain('You were added to Ann Org');
    });

    it("tells a won deal's owner and the organization's owners, once each, and nobody else", async () => {
      const dealId = await createDeal(t, member, orgA, 'Big <Deal> & more');
      const won = await t.http().post(`${API}/deals/${dealId}/win`).set(as(member, orgA));
      expect(won.status).toBe(200);
      const subject = 'Deal won: Big <Deal> & more (1500.00 USD)';
      const [toMember, toOwner] = await Promise.all([
        smtp.message(member.email, subject),
        smtp.message(owner.email, subject),
      ]);
      expect(toMember.html).toContain(
        '<strong>Big &lt;Deal&gt; &amp; more</strong> of Mia Member was won: 1500.00 USD.',
      );
      expect(toMember.html).toContain('Closed by Mia Member.');
      expect(toOwner.html).toContain(`Hello ${HTML_NAME_ESCAPED},`);
      expect(toOwner.text).toContain(
        'The deal Big <Deal> & more of Mia Member was won: 1500.00 USD.',
      );
      const eventId = await eventIdOf(t, 'crm.deal.won.v1', `deals/${dealId}`);
      await settled(t);
      const sends = await sendsOf(t, eventId);
      expect(sends.map((s) => [s.userId, s.channel]).sort()).toEqual(
        [
          [member.userId, 'email'],
          [owner.userId, 'email'],
        ].sort(),
      );
      expect((await notificationOf(member, orgA, 'deal.won', eventId)).title).toBe(
        'Deal won: Big <Deal> & more',
      );
      await notificationOf(owner, orgA, 'deal.won', eventId);
      const adminList = await notifications(admin, orgA);
      expect(adminList.items.some((n) => n.kind === 'deal.won')).toBe(false);
    });

    it('tells an owner who wins their own deal once, although they are both its owner and an owner of the organization', async () => {
      const dealId = await createDeal(t, owner, orgA, 'Own deal');
      expect((await t.http().post(`${API}/deals/${dealId}/win`).set(as(owner, orgA))).status).toBe(
        200,
      );
      await smtp.message(owner.email, 'Deal won: Own deal (1500.00 USD)');
      const eventId = await eventIdOf(t, 'crm.deal.won.v1', `deals/${dealId}`);
      await settled(t);
      expect((await sendsOf(t, eventId)).map((s) => [s.userId, s.channel])).toEqual([
        [owner.userId, 'email'],
      ]);
    });

    it("sends a lost deal's owner a follow-up survey link built from PUBLIC_URL, and nobody else", async () => {
      const dealId = await createDeal(t, member, orgA, 'Lost one', '99.5');
      const lost = await t
        .http()
        .post(`${API}/deals/${dealId}/lose`)
        .set(as(member, orgA))
        .send({ reason: 'Too expensive & too slow' });
      expect(lost.status).toBe(200);
      const mail = await smtp.message(member.email, 'Deal lost: Lost one');
      const survey = `${PUBLIC_URL}/surveys/deal-lost?organizationId=${orgA}&dealId=${dealId}`;
      expect(mail.text).toContain(survey);
      expect(mail.text).toContain(
        'The deal Lost one (99.50 USD) was lost: Too expensive & too slow.',
      );
      // In the HTML the URL is an attribute value, escaped (& as &amp;, = as &#x3D;).
      expect(mail.html).toContain(
        `<a href="${PUBLIC_URL}/surveys/deal-lost?organizationId&#x3D;${orgA}&amp;dealId&#x3D;${dealId}">`,
      );
      expect(mail.html).toContain('was lost: Too expensive &amp; too slow.');
      const eventId = await eventIdOf(t, 'crm.deal.lost.v1', `deals/${dealId}`);
      await settled(t);
      expect((await sendsOf(t, eventId)).map((s) => [s.userId, s.channel])).toEqual([
        [member.userId, 'email'],
      ]);
      const inApp = await notificationOf(member, orgA, 'deal.lost', eventId);
      expect(inApp.body).toBe('Lost one was lost: Too expensive & too slow.');
    });

    it("tells a lead's owner about a lead someone else created for them; nobody about their own", async () => {
      const created = await t.http().post(`${API}/leads`).set(as(owner, orgA)).send({
        name: 'Lena Lead',
        email: 'lena@lead.example',
        companyName: 'Lead & Co',
        ownerId: member.userId,
      });
      expect(created.status).toBe(201);
      const mail = await smtp.message(member.email, 'New lead for you: Lena Lead');
      expect(mail.text).toContain(
        `${HTML_NAME} created a new lead that you own: Lena Lead (Lead & Co).`,
      );
      const leadId = (created.body as { id: string }).id;
      const eventId = await eventIdOf(t, 'crm.lead.created.v1', `leads/${leadId}`);
      expect((await notificationOf(member, orgA, 'lead.created', eventId)).body).toBe(
        `${HTML_NAME} assigned you the lead Lena Lead.`,
      );
      const own = await t.http().post(`${API}/leads`).set(as(member, orgA)).send({ name: 'Mine' });
      expect(own.status).toBe(201);
      const ownEvent = await eventIdOf(
        t,
        'crm.lead.created.v1',
        `leads/${(own.body as { id: string }).id}`,
      );
      await settled(t);
      expect(await sendsOf(t, ownEvent)).toEqual([]);
      const list = await notifications(member, orgA, '?pageSize=100');
      expect(list.items.filter((n) => n.kind === 'lead.created').map((n) => n.eventId)).toEqual([
        eventId,
      ]);
    });

    it("tells a deal's owner in-app (no email by default) about a task someone else created", async () => {
      const dealId = await createDeal(t, member, orgA, 'Task deal');
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      const task = await t
        .http()
        .post(`${API}/tasks`)
        .set(as(owner, orgA))
        .send({ dealId, title: 'Call back', dueDate: tomorrow });
      expect(task.status).toBe(201);
      const eventId = await eventIdOf(
        t,
        'crm.task.created.v1',
        `tasks/${(task.body as { id: string }).id}`,
      );
      const inApp = await notificationOf(member, orgA, 'task.created', eventId);
      expect(inApp.title).toBe('New task: Call back');
      expect(inApp.body).toBe(`Call back on Task deal, due ${tomorrow}.`);
      const own = await t
        .http()
        .post(`${API}/tasks`)
        .set(as(member, orgA))
        .send({ dealId, title: 'My own', dueDate: tomorrow });
      expect(own.status).toBe(201);
      const ownEvent = await eventIdOf(
        t,
        'crm.task.created.v1',
        `tasks/${(own.body as { id: string }).id}`,
      );
      await settled(t);
      expect(await sendsOf(t, eventId)).toEqual([]);
      const [{ n }] = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM notifications WHERE event_id = $1',
        [ownEvent],
      );
      expect(n).toBe(0);
    });
  });

  describe('in-app notifications', () => {
    let outsiderNotificationId: string;

    beforeAll(async () => {
      // An in-app notification in Org B (the outsider's) and one in the member's own organization,
      // written the way the webhooks module will write them.
      const uow = t.app.get(UnitOfWork);
      const notifier = t.app.get(Notifier);
      for (const [organizationId, key] of [
        [outsider.organizationId, 'b-1'],
        [member.organizationId, 'mine-1'],
      ]) {
        await uow.run(systemActor(organizationId, 'test'), (tx) =>
          notifier.webhookDisabled(tx, {
            key,
            webhookId: '4f0c1a7e-5b3d-4e8f-9a1b-2c3d4e5f6a7b',
            url: 'https://hooks.example/in',
            reason: '50 consecutive failed deliveries',
          }),
        );
      }
      outsiderNotificationId = (
        await notificationOf(outsider, outsider.organizationId, 'webhook.disabled')
      ).id;
      await notificationOf(member, member.organizationId, 'webhook.disabled');
      await settled(t);
    });

    it("lists only the caller's notifications in the organization, newest first, paginated", async () => {
      const page = await notifications(member, orgA, '?pageSize=100');
      expect(page.total).toBe(page.items.length);
      expect(page.items.map((n) => n.kind)).toEqual(
        expect.arrayContaining([
          'member.added',
          'deal.won',
          'deal.lost',
          'lead.created',
          'task.created',
        ]),
      );
      expect(page.items.some((n) => n.kind === 'webhook.disabled')).toBe(false);
      const created = page.items.map((n) => n.createdAt);
      expect([...created].sort().reverse()).toEqual(created);
      const second = await notifications(member, orgA, '?pageSize=2&page=2');
      expect(second.items.map((n) => n.id)).toEqual(page.items.slice(2, 4).map((n) => n.id));
      expect(second.total).toBe(page.total);
      // Keyset pages walk the same list.
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await t
          .http()
          .get(`${API}/notifications`)
          .query(cursor ? { limit: 2, cursor } : { limit: 2 })
          .set(as(member, orgA));
        expect(res.status).toBe(200);
        const body = res.body as KeysetPage<NotificationBody>;
        walked.push(...body.items.map((n) => n.id));
        cursor = body.nextCursor;
      } while (cursor);
      expect(walked).toEqual(page.items.map((n) => n.id));
      // Another user's cursor is refused (cursors are bound to their user).
      const first = await t.http().get(`${API}/notifications?limit=1`).set(as(member, orgA));
      const foreign = await t
        .http()
        .get(`${API}/notifications`)
        .query({ limit: 1, cursor: (first.body as KeysetPage<NotificationBody>).nextCursor })
        .set(as(owner, orgA));
      expectError(foreign, 400, 'VALIDATION_FAILED');
    });

    it("never shows another organization's notifications (org B sees its own only)", async () => {
      const b = await notifications(outsider, outsider.organizationId);
      expect(b.items.map((n) => n.kind)).toEqual(['webhook.disabled']);
      expect(b.items[0]).toEqual(
        expect.objectContaining({
          title: 'Webhook disabled',
          body: 'https://hooks.example/in was disabled: 50 consecutive failed deliveries.',
          eventId: null,
        }),
      );
      const own = await notifications(member, member.organizationId);
      expect(own.items.map((n) => n.kind)).toEqual(['webhook.disabled']);
      expectError(
        await t.http().get(`${API}/notifications`).set(as(outsider, orgA)),
        403,
        'NOT_A_MEMBER',
      );
      expectError(
        await t.http().get(`${API}/notifications`).set(as(member)),
        400,
        'INVALID_ORGANIZATION_HEADER',
      );
    });

    it('marks one notification read (200 with it; again keeps the first time), and unread=true leaves it out', async () => {
      const unread = await notifications(member, orgA, '?unread=true&pageSize=100');
      const target = unread.items[0];
      const res = await t
        .http()
        .post(`${API}/notifications/${target.id}/read`)
        .set(as(member, orgA));
      expect(res.status).toBe(200);
      const read = res.body as NotificationBody;
      expect(read).toEqual({ ...target, readAt: expect.any(String) });
      const again = await t
        .http()
        .post(`${API}/notifications/${target.id}/read`)
        .set(as(member, orgA));
      expect(again.status).toBe(200);
      expect((again.body as NotificationBody).readAt).toBe(read.readAt);
      const after = await notifications(member, orgA, '?unread=true&pageSize=100');
      expect(after.total).toBe(unread.total - 1);
      expect(after.items.map((n) => n.id)).not.toContain(target.id);
      expectError(
        await t.http().get(`${API}/notifications?unread=maybe`).set(as(member, orgA)),
        400,
        'VALIDATION_FAILED',
      );
    });

    it("answers 404 for another user's notification, and for one of another organization", async () => {
      const [mine] = (await notifications(member, orgA)).items;
      expectError(
        await t.http().post(`${API}/notifications/${mine.id}/read`).set(as(owner, orgA)),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t
          .http()
          .post(`${API}/notifications/${mine.id}/read`)
          .set(as(outsider, outsider.organizationId)),
        404,
        'NOT_FOUND',
      );
      // The member's own notification, asked for in another of their organizations.
      expectError(
        await t
          .http()
          .post(`${API}/notifications/${mine.id}/read`)
          .set(as(member, member.organizationId)),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t
          .http()
          .post(`${API}/notifications/${outsiderNotificationId}/read`)
          .set(as(outsider, orgA)),
        403,
        'NOT_A_MEMBER',
      );
      expectError(
        await t.http().post(`${API}/notifications/not-a-uuid/read`).set(as(member, orgA)),
        400,
        'VALIDATION_FAILED',
      );
      // Nothing was marked by the refused calls.
      const still = (await notifications(member, orgA, '?pageSize=100')).items.find(
        (n) => n.id === mine.id,
      );
      expect(still?.readAt).toBe(mine.readAt);
    });

    it("read-all marks the caller's notifications of that organization read (204), nobody else's", async () => {
      const ownerUnread = (await notifications(owner, orgA, '?unread=true')).total;
      expect(ownerUnread).toBeGreaterThan(0);
      const res = await t.http().post(`${API}/notifications/read-all`).set(as(member, orgA));
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect((await notifications(member, orgA, '?unread=true')).total).toBe(0);
      expect((await notifications(member, orgA)).items.every((n) => n.readAt !== null)).toBe(true);
      expect((await notifications(owner, orgA, '?unread=true')).total).toBe(ownerUnread);
      // The member's notification in their own organization stays unread.
      expect((await notifications(member, member.organizationId, '?unread=true')).total).toBe(1);
      expect((await notifications(outsider, outsider.organizationId, '?unread=true')).total).toBe(
        1,
      );
      expectError(
        await t.http().post(`${API}/notifications/read-all`).set(as(outsider, orgA)),
        403,
        'NOT_A_MEMBER',
      );
    });
  });

  describe('preferences', () => {
    const PREFS = `${API}/users/me/notification-preferences`;

    it('answers the defaults of the table, without an organization header', async () => {
      const res = await t.http().get(PREFS).set(as(admin));
      expect(res.status).toBe(200);
      expect(res.body).toEqual(DEFAULTS);
      expectError(await t.http().get(PREFS), 401, 'UNAUTHENTICATED');
    });

    it('stores a PUT (kinds left out take their default) and turning email off stops the emails', async () => {
      const res = await t
        .http()
        .put(PREFS)
        .set(as(member))
        .send({ email: { 'deal.won': false, 'task.created': true }, sms: { 'deal.won': true } });
      expect(res.status).toBe(200);
      const expected = {
        email: { ...DEFAULTS.email, 'deal.won': false, 'task.created': true },
        inApp: DEFAULTS.inApp,
        sms: { ...DEFAULTS.sms, 'deal.won': true },
      };
      expect(res.body).toEqual(expected);
      expect((await t.http().get(PREFS).set(as(member))).body).toEqual(expected);

      const dealId = await createDeal(t, member, orgA, 'Quiet win');
      expect((await t.http().post(`${API}/deals/${dealId}/win`).set(as(member, orgA))).status).toBe(
        200,
      );
      await smtp.message(owner.email, 'Deal won: Quiet win (1500.00 USD)');
      const eventId = await eventIdOf(t, 'crm.deal.won.v1', `deals/${dealId}`);
      await settled(t);
      // The member: in-app only (email off; SMS on but no phone); the owner: email.
      expect((await sendsOf(t, eventId)).map((s) => [s.userId, s.channel])).toEqual([
        [owner.userId, 'email'],
      ]);
      await notificationOf(member, orgA, 'deal.won', eventId);
      expect(smtp.to(member.email).some((m) => m.subject.startsWith('Deal won: Quiet win'))).toBe(
        false,
      );

      // A second PUT replaces the first: what it leaves out is back to the default.
      const reset = await t.http().put(PREFS).set(as(member)).send({});
      expect(reset.status).toBe(200);
      expect(reset.body).toEqual(DEFAULTS);
    });

    it('refuses an unknown kind or channel, a non-boolean, null, and turning off password.reset (400)', async () => {
      for (const body of [
        { email: { 'deal.wonn': true } },
        { push: { 'deal.won': true } },
        { email: { 'deal.won': 'no' } },
        { email: null },
        { inApp: [] },
        { email: { 'password.reset': false } },
      ]) {
        const res = await t.http().put(PREFS).set(as(admin)).send(body);
        expectError(res, 400, 'VALIDATION_FAILED');
        expect((res.body as { details: unknown[] }).details.length).toBeGreaterThan(0);
      }
      const reset = await t
        .http()
        .put(PREFS)
        .set(as(admin))
        .send({ email: { 'password.reset': false } });
      expect((reset.body as { details: { field: string }[] }).details).toEqual([
        expect.objectContaining({ field: 'email.password.reset' }),
      ]);
      expect((await t.http().get(PREFS).set(as(admin))).body).toEqual(DEFAULTS);
      expectError(await t.http().put(PREFS).send({}), 401, 'UNAUTHENTICATED');
    });
  });

  describe('templates', () => {
    const TEMPLATES = `${API}/notification-templates`;
    const put = (who: Session, organizationId: string, path: string, body: object) =>
      t.http().put(`${TEMPLATES}/${path}`).set(as(who, organizationId)).send(body);

    it('lists the 24 effective templates (owner, admin), paginated with offset and keyset pages', async () => {
      const res = await t.http().get(`${TEMPLATES}?pageSize=100`).set(as(owner, orgA));
      expect(res.status).toBe(200);
      const all = res.body as Page<TemplateBody>;
      expect(all.total).toBe(24);
      expect(all.items[0]).toEqual({
        kind: 'user.registered',
        channel: 'email',
        subject: 'Welcome to the CRM, {{userName}}',
        body: expect.stringContaining('<p>Hello {{userName}},</p>'),
        isDefault: true,
      });
      expect(all.items[2]).toEqual(expect.objectContaining({ channel: 'sms', subject: null }));
      expect(all.items.every((i) => i.isDefault)).toBe(true);
      const page2 = (await t.http().get(`${TEMPLATES}?pageSize=10&page=2`).set(as(admin, orgA)))
        .body as Page<TemplateBody>;
      expect(page2.items).toEqual(all.items.slice(10, 20));
      const desc = (await t.http().get(`${TEMPLATES}?order=desc&pageSize=1`).set(as(owner, orgA)))
        .body as Page<TemplateBody>;
      expect(desc.items[0]).toEqual(
        expect.objectContaining({ kind: 'password.reset', channel: 'sms' }),
      );
      const walked: TemplateBody[] = [];
      let cursor: string | null = null;
      do {
        const r = await t
          .http()
          .get(TEMPLATES)
          .query(cursor ? { limit: 10, cursor } : { limit: 10 })
          .set(as(owner, orgA));
        expect(r.status).toBe(200);
        const body = r.body as KeysetPage<TemplateBody>;
        walked.push(...body.items);
        cursor = body.nextCursor;
      } while (cursor);
      expect(walked).toEqual(all.items);
      expectError(
        await t.http().get(`${TEMPLATES}?limit=5&cursor=forged.cursor`).set(as(owner, orgA)),
        400,
        'VALIDATION_FAILED',
      );
      expectError(
        await t.http().get(`${TEMPLATES}?page=1&limit=5`).set(as(owner, orgA)),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('refuses members (403 FORBIDDEN) and non-members (403 NOT_A_MEMBER)', async () => {
      expectError(await t.http().get(TEMPLATES).set(as(member, orgA)), 403, 'FORBIDDEN');
      expectError(
        await put(member, orgA, 'deal.won/email', { subject: 'x', body: 'y' }),
        403,
        'FORBIDDEN',
      );
      expectError(
        await t.http().delete(`${TEMPLATES}/deal.won/email`).set(as(member, orgA)),
        403,
        'FORBIDDEN',
      );
      expectError(await t.http().get(TEMPLATES).set(as(outsider, orgA)), 403, 'NOT_A_MEMBER');
      expectError(
        await put(outsider, orgA, 'deal.won/email', { subject: 'x', body: 'y' }),
        403,
        'NOT_A_MEMBER',
      );
    });

    it('overrides a template for the organization only, renders it escaped, and DELETE restores the default', async () => {
      const body =
        '<h1>{{dealTitle}}</h1><p>{{#if closedByName}}Closed by {{closedByName}}{{else}}Closed{{/if}}</p>';
      const res = await put(admin, orgA, 'deal.won/email', {
        subject: 'Won: {{dealTitle}}!',
        body,
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        kind: 'deal.won',
        channel: 'email',
        subject: 'Won: {{dealTitle}}!',
        body,
        isDefault: false,
      });
      const listed = (await t.http().get(`${TEMPLATES}?pageSize=100`).set(as(owner, orgA)))
        .body as Page<TemplateBody>;
      expect(listed.items.find((i) => i.kind === 'deal.won' && i.channel === 'email')).toEqual(
        res.body,
      );
      // Org B still has the default.
      const other = (
        await t.http().get(`${TEMPLATES}?pageSize=100`).set(as(outsider, outsider.organizationId))
      ).body as Page<TemplateBody>;
      expect(
        other.items.find((i) => i.kind === 'deal.won' && i.channel === 'email')?.isDefault,
      ).toBe(true);

      const dealId = await createDeal(t, owner, orgA, '<i>Tom & Jerry</i>');
      expect((await t.http().post(`${API}/deals/${dealId}/win`).set(as(owner, orgA))).status).toBe(
        200,
      );
      const mail = await smtp.message(owner.email, 'Won: <i>Tom & Jerry</i>!');
      expect(mail.html).toContain(
        `<h1>&lt;i&gt;Tom &amp; Jerry&lt;/i&gt;</h1><p>Closed by ${HTML_NAME_ESCAPED}</p>`,
      );
      expect(mail.text).toContain('<i>Tom & Jerry</i>');

      // An in-app override (plain text: nothing escaped).
      const inApp = await put(owner, orgA, 'deal.won/inApp', {
        subject: '{{dealTitle}} won',
        body: 'By {{closedByName}}',
      });
      expect(inApp.status).toBe(200);
      const second = await createDeal(t, owner, orgA, 'A & B');
      expect((await t.http().post(`${API}/deals/${second}/win`).set(as(owner, orgA))).status).toBe(
        200,
      );
      const eventId = await eventIdOf(t, 'crm.deal.won.v1', `deals/${second}`);
      expect(await notificationOf(owner, orgA, 'deal.won', eventId)).toEqual(
        expect.objectContaining({ title: 'A & B won', body: `By ${HTML_NAME}` }),
      );

      for (const path of ['deal.won/email', 'deal.won/inApp']) {
        const removed = await t.http().delete(`${TEMPLATES}/${path}`).set(as(owner, orgA));
        expect(removed.status).toBe(204);
      }
      const restored = (await t.http().get(`${TEMPLATES}?pageSize=100`).set(as(owner, orgA)))
        .body as Page<TemplateBody>;
      expect(restored.items.every((i) => i.isDefault)).toBe(true);
      expect(
        (await t.http().delete(`${TEMPLATES}/deal.won/email`).set(as(owner, orgA))).status,
      ).toBe(204);
    });

    it('refuses unknown variables, templates that do not compile and unsafe constructs (400), names the variables', async () => {
      const cases: [string, object, string][] = [
        [
          'deal.won/email',
          { subject: 'Won {{dealTitel}}', body: 'x' },
          'unknown variable dealTitel',
        ],
        [
          'deal.won/email',
          { subject: 'Won', body: '{{#if dealTitle}}open' },
          'is not a valid template',
        ],
        ['deal.won/email', { subject: 'Won', body: '{{dealTitle' }, 'is not a valid template'],
        ['deal.won/email', { subject: 'Won', body: '{{{dealTitle}}}' }, 'unescaped output'],
        ['deal.won/email', { subject: 'Won', body: '{{> header}}' }, 'partials are not allowed'],
        [
          'deal.won/email',
          { subject: 'Won', body: '{{#each dealTitle}}x{{/each}}' },
          'only {{#if variable}}',
        ],
        ['deal.won/email', { subject: 'Won', body: '{{lookup . "x"}}' }, 'helpers are not allowed'],
        [
          'deal.won/email',
          { subject: 'Won', body: '{{deal.title}}' },
          'unknown variable deal.title',
        ],
        [
          'lead.created/inApp',
          { subject: 'x', body: '{{dealTitle}}' },
          'unknown variable dealTitle',
        ],
        [
          'deal.won/sms',
          { subject: 'Subject', body: 'x' },
          'subject must be absent or null for sms',
        ],
        ['deal.won/email', { body: 'x' }, 'subject is required for email'],
        ['deal.won/email', { subject: 'x' }, 'body'],
        ['deal.won/email', { subject: 'x', body: 'y', extra: 1 }, 'extra'],
      ];
      for (const [path, body, message] of cases) {
        const res = await put(owner, orgA, path, body);
        expectError(res, 400, 'VALIDATION_FAILED');
        const details = (res.body as { details: { message: string }[] }).details;
        expect({ path, body, messages: details.map((d) => d.message).join(' | ') }).toEqual({
          path,
          body,
          messages: expect.stringContaining(message),
        });
      }
      const unknown = await put(owner, orgA, 'deal.won/email', { subject: '{{nope}}', body: 'x' });
      expect((unknown.body as { message: string }).message).toContain('dealTitle, dealAmount');
      // Nothing was stored.
      const listed = (await t.http().get(`${TEMPLATES}?pageSize=100`).set(as(owner, orgA)))
        .body as Page<TemplateBody>;
      expect(listed.items.every((i) => i.isDefault)).toBe(true);
      // An sms template without a subject is fine.
      const sms = await put(owner, orgA, 'deal.won/sms', {
        subject: null,
        body: 'Won {{dealTitle}}',
      });
      expect(sms.status).toBe(200);
      expect((await t.http().delete(`${TEMPLATES}/deal.won/sms`).set(as(owner, orgA))).status).toBe(
        204,
      );
    });

    it('answers 404 NOT_FOUND for an unknown kind or channel', async () => {
      expectError(
        await put(owner, orgA, 'deal.maybe/email', { subject: 'x', body: 'y' }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await put(owner, orgA, 'deal.won/fax', { subject: 'x', body: 'y' }),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t.http().delete(`${TEMPLATES}/crm.deal.won.v1/email`).set(as(owner, orgA)),
        404,
        'NOT_FOUND',
      );
      expectError(
        await t.http().delete(`${TEMPLATES}/deal.won/in-app`).set(as(owner, orgA)),
        404,
        'NOT_FOUND',
      );
    });
  });
});
