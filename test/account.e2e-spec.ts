import { createHash } from 'node:crypto';
import { as, expectError, PASSWORD, register, uniqueEmail, type Session } from './support/api';
import { CaptureSmtp, type CapturedMail } from './support/smtp';
import { createTestApp, type TestApp } from './support/test-app';

/*
 * Password reset and account self-service (API.md section 16): POST /auth/password/forgot and
 * /auth/password/reset (the email read from a real SMTP server), POST /users/me/password and
 * DELETE /users/me.
 */

const API = '/api/v1';
const PUBLIC_URL = 'https://crm.example.test';
const NEW_PASSWORD = 'brand-new-horse-77';

let smtp: CaptureSmtp;
let t: TestApp;

beforeAll(async () => {
  smtp = await CaptureSmtp.start();
  // TRUST_PROXY: the tests name client addresses with X-Forwarded-For (rate limits).
  t = await createTestApp({ SMTP_URL: smtp.url, PUBLIC_URL, TRUST_PROXY: 'true' });
});

afterAll(async () => {
  await t?.close();
  await smtp?.stop();
});

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function forgot(email: string, ip = '198.51.100.1'): Promise<import('supertest').Response> {
  return t
    .http()
    .post(`${API}/auth/password/forgot`)
    .set('x-forwarded-for', ip)
    .send({ email })
    .then((res) => res);
}

function resetWith(token: string, password: string): Promise<import('supertest').Response> {
  return t
    .http()
    .post(`${API}/auth/password/reset`)
    .send({ token, password })
    .then((res) => res);
}

function login(email: string, password: string): Promise<import('supertest').Response> {
  return t
    .http()
    .post(`${API}/auth/login`)
    .send({ email, password })
    .then((res) => res);
}

function refresh(refreshToken: string): Promise<import('supertest').Response> {
  return t
    .http()
    .post(`${API}/auth/refresh`)
    .send({ refreshToken })
    .then((res) => res);
}

async function loginSession(
  session: Session,
): Promise<{ accessToken: string; refreshToken: string }> {
  const res = await login(session.email, PASSWORD);
  expect(res.status).toBe(200);
  return res.body as { accessToken: string; refreshToken: string };
}

/** The token of a reset email (from the link in its text part). */
function tokenOf(mail: CapturedMail): string {
  const match = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(mail.text);
  expect(match).not.toBeNull();
  return match![1];
}

/** The `count`th reset email to `email` (sign-up also sends a welcome email). */
async function resetEmail(email: string, count = 1): Promise<CapturedMail> {
  const resets = (): CapturedMail[] =>
    smtp.to(email).filter((m) => m.subject === 'Reset your password');
  await smtp.waitFor(`${count} reset email(s) to ${email}`, () => resets().length >= count);
  return resets()[count - 1];
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

describe('POST /auth/password/forgot and /auth/password/reset', () => {
  it('emails a single-use token that resets the password and revokes every refresh token', async () => {
    const user = await register(t, 'forgetful');
    const other = await loginSession(user); // a second session of the same user

    const res = await forgot(user.email);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ message: expect.any(String) });

    const mail = await resetEmail(user.email);
    expect(mail.subject).toBe('Reset your password');
    const token = tokenOf(mail);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    // The link and the token itself, in the HTML and the text.
    expect(mail.html).toContain(`href="${PUBLIC_URL}/reset-password?token&#x3D;${token}"`);
    expect(mail.text).toContain(`${PUBLIC_URL}/reset-password?token=${token}`);
    expect(mail.text.split(token).length).toBeGreaterThanOrEqual(3); // link + the token alone
    // Only the hash is stored, valid one hour.
    const rows = await t.db.query<{ token_hash: string; valid: string }[]>(
      `SELECT token_hash, extract(epoch FROM expires_at - created_at)::int AS valid
         FROM password_reset_tokens WHERE user_id = $1`,
      [user.userId],
    );
    expect(rows).toEqual([{ token_hash: sha256(token), valid: 3600 }]);

    const done = await resetWith(token, NEW_PASSWORD);
    expect(done.status).toBe(204);

    expect((await login(user.email, NEW_PASSWORD)).status).toBe(200);
    expectError(await login(user.email, PASSWORD), 401, 'INVALID_CREDENTIALS');
    for (const earlier of [user.refreshToken, other.refreshToken]) {
      expectError(await refresh(earlier), 401, 'INVALID_REFRESH_TOKEN');
    }
    const [audit] = await t.db.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM audit_logs WHERE action = 'password_reset' AND actor_user_id = $1`,
      [user.userId],
    );
    expect(audit.count).toBe(1);

    // Single use.
    const again = await resetWith(token, 'yet-another-horse-88');
    expectError(again, 400, 'VALIDATION_FAILED');
    expect(again.body.details).toEqual([{ field: 'token', message: expect.any(String) }]);
    expect((await login(user.email, NEW_PASSWORD)).status).toBe(200);
  });

  it('refuses an expired token and an unknown one', async () => {
    const user = await register(t, 'late');
    expect((await forgot(user.email)).status).toBe(202);
    const token = tokenOf(await resetEmail(user.email));
    await t.db.query(
      `UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`,
      [sha256(token)],
    );
    const expired = await resetWith(token, NEW_PASSWORD);
    expectError(expired, 400, 'VALIDATION_FAILED');
    expect(expired.body.details).toEqual([{ field: 'token', message: expect.any(String) }]);
    expectError(await resetWith('not-a-token', NEW_PASSWORD), 400, 'VALIDATION_FAILED');
    expect((await login(user.email, PASSWORD)).status).toBe(200);
  });

  it('applies the password rules of registration to the new password', async () => {
    const user = await register(t, 'rules');
    expect((await forgot(user.email)).status).toBe(202);
    const token = tokenOf(await resetEmail(user.email));
    for (const password of ['short1', 'no-digits-here', '12345678901', user.email]) {
      const res = await resetWith(token, password);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: 'password' })]),
      );
    }
    // The token was not spent by the refusals.
    expect((await resetWith(token, NEW_PASSWORD)).status).toBe(204);
  });

  it('a new request does not invalidate an earlier token; a reset spends them all', async () => {
    const user = await register(t, 'twice');
    expect((await forgot(user.email)).status).toBe(202);
    const first = tokenOf(await resetEmail(user.email, 1));
    expect((await forgot(user.email)).status).toBe(202);
    const second = tokenOf(await resetEmail(user.email, 2));
    expect(second).not.toBe(first);
    expect((await resetWith(first, NEW_PASSWORD)).status).toBe(204);
    expectError(await resetWith(second, 'other-horse-55'), 400, 'VALIDATION_FAILED');
  });

  it('answers an unknown email the same way and sends nothing', async () => {
    const unknown = uniqueEmail('nobody');
    const user = await register(t, 'somebody');
    const [a, b] = [await forgot(unknown), await forgot(user.email)];
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(a.body).toEqual(b.body);
    expect(Object.keys(a.headers).sort()).toEqual(Object.keys(b.headers).sort());
    await resetEmail(user.email);
    // The unknown email's request was worked on (audited) and wrote no token and no email.
    await until(async () => {
      const [row] = await t.db.query<{ count: number }[]>(
        `SELECT count(*)::int AS count FROM audit_logs
          WHERE action = 'password_reset_requested' AND details->>'email' = $1`,
        [unknown],
      );
      return row.count === 1;
    });
    const [sends] = await t.db.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM notification_sends WHERE recipient = $1`,
      [unknown],
    );
    expect(sends.count).toBe(0);
    expect(smtp.to(unknown)).toEqual([]);
  });

  it('is rate-limited like login, per email and client address, apart from login', async () => {
    const email = uniqueEmail('limited');
    const ip = '203.0.113.77';
    for (let i = 0; i < 5; i++) expect((await forgot(email, ip)).status).toBe(202);
    const limited = await forgot(email, ip);
    expectError(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another email from the same address, and the same email from another address: not limited.
    expect((await forgot(uniqueEmail('other'), ip)).status).toBe(202);
    expect((await forgot(email, '203.0.113.78')).status).toBe(202);
    // Login attempts for that email are counted apart.
    const res = await t
      .http()
      .post(`${API}/auth/login`)
      .set('x-forwarded-for', ip)
      .send({ email, password: PASSWORD });
    expectError(res, 401, 'INVALID_CREDENTIALS');
  });

  it('escapes HTML in the email', async () => {
    const name = '<b>Ann & "Co"</b>';
    const user = await register(t, 'html', 'Org', name);
    expect((await forgot(user.email)).status).toBe(202);
    const mail = await resetEmail(user.email);
    expect(mail.html).toContain('&lt;b&gt;Ann &amp; &quot;Co&quot;&lt;/b&gt;');
    expect(mail.html).not.toContain('<b>Ann');
    expect(mail.text).toContain(`Hello ${name},`);
  });

  it('validates the bodies', async () => {
    expectError(
      await t.http().post(`${API}/auth/password/forgot`).send({ email: 'nope' }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await t.http().post(`${API}/auth/password/reset`).send({ token: 'x' }),
      400,
      'VALIDATION_FAILED',
    );
  });
});

/** Polls `check` until it holds (or fails after `timeoutMs`). */
async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('POST /users/me/password', () => {
  function change(
    session: { accessToken: string },
    body: Record<string, unknown>,
  ): Promise<import('supertest').Response> {
    return t
      .http()
      .post(`${API}/users/me/password`)
      .set(as(session))
      .send(body)
      .then((res) => res);
  }

  it('refuses a wrong current password and changes nothing', async () => {
    const user = await register(t, 'wrong');
    const res = await change(user, {
      currentPassword: 'not-my-password-1',
      newPassword: NEW_PASSWORD,
    });
    expectError(res, 401, 'INVALID_CREDENTIALS');
    expect((await login(user.email, PASSWORD)).status).toBe(200);
    expect((await refresh(user.refreshToken)).status).toBe(200);
  });

  it('limits password attempts per user like login attempts', async () => {
    const user = await register(t, 'guesser');
    for (let i = 0; i < 5; i++) {
      const res = await change(user, {
        currentPassword: `guess-${i}-x1`,
        newPassword: NEW_PASSWORD,
      });
      expectError(res, 401, 'INVALID_CREDENTIALS');
    }
    const limited = await change(user, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expectError(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await login(user.email, PASSWORD)).status).toBe(200);
  });

  it('applies the rules of registration to the new password', async () => {
    const user = await register(t, 'weak');
    for (const newPassword of ['short1', 'lettersonly', user.email]) {
      const res = await change(user, { currentPassword: PASSWORD, newPassword });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: 'newPassword' })]),
      );
    }
    expect((await login(user.email, PASSWORD)).status).toBe(200);
  });

  it("keeps the caller's session and revokes the others", async () => {
    const user = await register(t, 'changer');
    const other = await loginSession(user);
    // The access token names its session: the refresh token family.
    expect(claimsOf(user.accessToken).sid).toBe(claimsOf(user.refreshToken).fam);

    const res = await change(user, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expect(res.status).toBe(204);

    expectError(await refresh(other.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
    const kept = await refresh(user.refreshToken);
    expect(kept.status).toBe(200);
    expect(claimsOf((kept.body as { accessToken: string }).accessToken).sid).toBe(
      claimsOf(user.refreshToken).fam,
    );
    expect((await login(user.email, NEW_PASSWORD)).status).toBe(200);
    expectError(await login(user.email, PASSWORD), 401, 'INVALID_CREDENTIALS');
    const [audit] = await t.db.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM audit_logs WHERE action = 'password_changed' AND actor_user_id = $1`,
      [user.userId],
    );
    expect(audit.count).toBe(1);
  });
});

describe('DELETE /users/me', () => {
  function erase(session: { accessToken: string }, password: string) {
    return t
      .http()
      .delete(`${API}/users/me`)
      .set(as(session))
      .send({ password })
      .then((res) => res);
  }

  async function post(
    session: Session,
    organizationId: string,
    path: string,
    body: Record<string, unknown>,
  ): Promise<{ id: string }> {
    const res = await t.http().post(`${API}/${path}`).set(as(session, organizationId)).send(body);
    expect({ path, status: res.status }).toEqual({ path, status: 201 });
    return res.body as { id: string };
  }

  async function addMember(owner: Session, organizationId: string, user: Session, role: string) {
    const res = await t
      .http()
      .post(`${API}/organizations/current/members`)
      .set(as(owner, organizationId))
      .send({ email: user.email, role });
    expect(res.status).toBe(201);
  }

  async function insertLead(ownerId: string, organizationId: string): Promise<string> {
    const [row] = await t.db.query<{ id: string }[]>(
      `INSERT INTO leads (organization_id, owner_id, name, email, company_name, source)
       VALUES ($1, $2, 'Lead', 'lead@lead.example', 'Lead Co', 'web') RETURNING id`,
      [organizationId, ownerId],
    );
    return row.id;
  }

  async function memberIds(organizationId: string): Promise<string[]> {
    const rows = await t.db.query<{ user_id: string }[]>(
      'SELECT user_id FROM organization_members WHERE organization_id = $1 ORDER BY user_id',
      [organizationId],
    );
    return rows.map((r) => r.user_id);
  }

  it('refuses the last owner of an organization with other members, changing nothing', async () => {
    const owner = await register(t, 'lastowner', 'Only Owner Org');
    const member = await register(t, 'stays');
    await addMember(owner, owner.organizationId, member, 'admin');
    const contact = await post(owner, owner.organizationId, 'contacts', { name: 'Kept' });

    const res = await erase(owner, PASSWORD);
    expectError(res, 409, 'LAST_OWNER');

    expect((await login(owner.email, PASSWORD)).status).toBe(200);
    expect(await memberIds(owner.organizationId)).toEqual([owner.userId, member.userId].sort());
    const got = await t
      .http()
      .get(`${API}/contacts/${contact.id}`)
      .set(as(owner, owner.organizationId));
    expect(got.status).toBe(200);
    expect(got.body.ownerId).toBe(owner.userId);
  });

  it('refuses a wrong password, changing nothing', async () => {
    const user = await register(t, 'careful');
    expectError(await erase(user, 'not-my-password-1'), 401, 'INVALID_CREDENTIALS');
    expect((await login(user.email, PASSWORD)).status).toBe(200);
    expect(await memberIds(user.organizationId)).toEqual([user.userId]);
  });

  it("moves the user's records to each organization's first owner and erases the account", async () => {
    // Team org: first owner A, then the leaving user B (owner too), then E (a later owner).
    const a = await register(t, 'first', 'Team Org');
    const b = await register(t, 'leaving', 'Solo Org'); // B is the only member of Solo Org
    const e = await register(t, 'later');
    const team = a.organizationId;
    await addMember(a, team, b, 'owner');
    await addMember(a, team, e, 'owner');
    // Another organization where B is a plain member; its owner is D.
    const d = await register(t, 'other', 'Other Org');
    await addMember(d, d.organizationId, b, 'member');

    const company = await post(b, team, 'companies', { name: 'B Co' });
    const contact = await post(b, team, 'contacts', { name: 'B Contact', companyId: company.id });
    const deal = await post(b, team, 'deals', {
      contactId: contact.id,
      title: 'B Deal',
      amount: '10.00',
    });
    const task = await post(b, team, 'tasks', {
      dealId: deal.id,
      title: 'B Task',
      dueDate: '2999-01-01',
    });
    const lead = await insertLead(b.userId, team);
    const elsewhere = await post(b, d.organizationId, 'contacts', { name: 'B elsewhere' });
    const aContact = await post(a, team, 'contacts', { name: 'A Contact' });

    const res = await erase(b, PASSWORD);
    expect(res.status).toBe(204);

    // As the first owner, A reads them as theirs.
    for (const path of [
      `contacts/${contact.id}`,
      `companies/${company.id}`,
      `deals/${deal.id}`,
      `leads/${lead}`,
    ]) {
      const got = await t.http().get(`${API}/${path}`).set(as(a, team));
      expect({ path, status: got.status, ownerId: got.body.ownerId }).toEqual({
        path,
        status: 200,
        ownerId: a.userId,
      });
    }
    expect((await t.http().get(`${API}/tasks/${task.id}`).set(as(a, team))).status).toBe(200);
    const moved = await t
      .http()
      .get(`${API}/contacts/${elsewhere.id}`)
      .set(as(d, d.organizationId));
    expect(moved.body.ownerId).toBe(d.userId);
    const untouched = await t.http().get(`${API}/contacts/${aContact.id}`).set(as(a, team));
    expect(untouched.body.ownerId).toBe(a.userId);

    // Gone: the account, its memberships, its own organization; it cannot log in.
    expectError(await login(b.email, PASSWORD), 401, 'INVALID_CREDENTIALS');
    expect(await memberIds(team)).toEqual([a.userId, e.userId].sort());
    expect(await memberIds(d.organizationId)).toEqual([d.userId]);
    const orgs = await t.db.query<{ id: string }[]>('SELECT id FROM organizations WHERE id = $1', [
      b.organizationId,
    ]);
    expect(orgs).toEqual([]);
    const users = await t.db.query<{ id: string }[]>('SELECT id FROM users WHERE id = $1', [
      b.userId,
    ]);
    expect(users).toEqual([]);

    // Events for the moved records and the removed memberships.
    const events = await t.db.query<
      { type: string; subject: string; envelope: { data: unknown } }[]
    >(
      `SELECT type, subject, envelope FROM events WHERE organization_id = $1 AND type IN
         ('crm.contact.updated.v1', 'crm.deal.updated.v1', 'crm.member.removed.v1')
        ORDER BY seq`,
      [team],
    );
    const contactEvent = events.find((ev) => ev.subject === `contacts/${contact.id}`);
    expect(contactEvent?.envelope.data).toEqual(
      expect.objectContaining({
        contact: expect.objectContaining({ ownerId: a.userId }),
        previous: expect.objectContaining({ ownerId: b.userId }),
      }),
    );
    expect(events.some((ev) => ev.subject === `deals/${deal.id}`)).toBe(true);
    expect(events.some((ev) => ev.subject === `members/${b.userId}`)).toBe(true);

    // Audited: in the organizations it left, and once for the account.
    const audit = await t.db.query<
      { organization_id: string | null; details: { organizations: unknown[] } }[]
    >(
      `SELECT organization_id, details FROM audit_logs
        WHERE action = 'user_deleted' AND target_id = $1 ORDER BY organization_id NULLS LAST`,
      [b.userId],
    );
    expect(audit.map((row) => row.organization_id)).toEqual(
      expect.arrayContaining([team, d.organizationId, null]),
    );
    expect(audit).toHaveLength(3);
    const summary = audit.find((row) => row.organization_id === null)!;
    expect(summary.details.organizations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          organizationId: team,
          outcome: 'reassigned',
          newOwnerId: a.userId,
          moved: { contacts: 1, companies: 1, leads: 1, deals: 1 },
        }),
        expect.objectContaining({ organizationId: d.organizationId, newOwnerId: d.userId }),
        expect.objectContaining({ organizationId: b.organizationId, outcome: 'deleted' }),
      ]),
    );
  });

  it('also moves records a user kept in an organization they were removed from', async () => {
    const owner = await register(t, 'keeper', 'Keeper Org');
    const gone = await register(t, 'removed');
    await addMember(owner, owner.organizationId, gone, 'member');
    const contact = await post(gone, owner.organizationId, 'contacts', { name: 'Left behind' });
    const removed = await t
      .http()
      .delete(`${API}/organizations/current/members/${gone.userId}`)
      .set(as(owner, owner.organizationId));
    expect(removed.status).toBe(204);

    expect((await erase(gone, PASSWORD)).status).toBe(204);
    const got = await t
      .http()
      .get(`${API}/contacts/${contact.id}`)
      .set(as(owner, owner.organizationId));
    expect(got.body.ownerId).toBe(owner.userId);
  });
});
