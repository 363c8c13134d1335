import { as, register, type Session } from './api';
import type { TestApp } from './test-app';

/** Helpers of the notification suites (test/notifications*.e2e-spec.ts). */

export const API = '/api/v1';

export async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Registers a user named `name` with an organization of their own. */
export function registerNamed(
  t: TestApp,
  name: string,
  organizationName: string,
): Promise<Session> {
  return register(t, 'n', organizationName, name);
}

export async function addMember(
  t: TestApp,
  owner: Session,
  organizationId: string,
  who: Session,
  role: string,
): Promise<void> {
  const res = await t
    .http()
    .post(`${API}/organizations/current/members`)
    .set(as(owner, organizationId))
    .send({ email: who.email, role });
  expect(res.status).toBe(201);
}

/** A contact and an in-progress deal owned by `who` (the caller). */
export async function createDeal(
  t: TestApp,
  who: Session,
  organizationId: string,
  title: string,
  amount = '1500',
): Promise<string> {
  const contact = await t
    .http()
    .post(`${API}/contacts`)
    .set(as(who, organizationId))
    .send({ name: `Contact of ${title}`.slice(0, 200) });
  expect(contact.status).toBe(201);
  const deal = await t
    .http()
    .post(`${API}/deals`)
    .set(as(who, organizationId))
    .send({
      contactId: (contact.body as { id: string }).id,
      title,
      amount,
      currency: 'USD',
      status: 'in_progress',
    });
  expect(deal.status).toBe(201);
  return (deal.body as { id: string }).id;
}

/** The id of the stored event of this type and subject (in this organization, when given). */
export async function eventIdOf(
  t: TestApp,
  type: string,
  subject: string,
  organizationId?: string,
): Promise<string> {
  const rows = await until(`the event ${type} ${subject}`, async () => {
    const found = await t.db.query<{ id: string }[]>(
      'SELECT id FROM events WHERE type = $1 AND subject = $2 AND ($3::uuid IS NULL OR organization_id = $3)',
      [type, subject, organizationId ?? null],
    );
    return found.length ? found : null;
  });
  expect(rows).toHaveLength(1);
  return rows[0].id;
}

/** Waits until the notifications consumer has handled every event given to it so far. */
export async function settled(t: TestApp): Promise<void> {
  await until('the notifications consumer to be idle', async () => {
    const [{ n }] = await t.db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM consumer_messages WHERE consumer = 'notifications'`,
    );
    return n === 0;
  });
}

export interface SendRow {
  userId: string;
  kind: string;
  channel: string;
  recipient: string;
  status: string;
  attempts: number;
  lastError: string | null;
  eventId: string | null;
  requestId: string | null;
}

/** The send rows of an occasion (an event id, or a dedupe key prefix). */
export function sendsOf(t: TestApp, eventId: string): Promise<SendRow[]> {
  return t.db.query<SendRow[]>(
    `SELECT user_id AS "userId", kind, channel, recipient, status, attempts,
            last_error AS "lastError", event_id AS "eventId", request_id AS "requestId"
       FROM notification_sends WHERE event_id = $1 ORDER BY user_id, channel`,
    [eventId],
  );
}
