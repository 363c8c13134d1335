import { createHash, randomUUID } from 'node:crypto';
import type { Response } from 'supertest';
import { expectError, PASSWORD, register, uniqueEmail } from './support/api';
import { startOidcProvider, type TestOidcProvider } from './support/oidc-provider';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * Single sign-on with OpenID Connect (API.md section 16), against a real provider
 * (oidc-provider) started in this process: authorization code flow with PKCE, state and nonce.
 */

const AUTHORIZE = '/api/v1/auth/oidc/authorize';
const CALLBACK = '/api/v1/auth/oidc/callback';
const ALLOWED = 'https://app.example.com/sso, http://localhost:5173';

interface LoginBody {
  user: { id: string; email: string; name: string; createdAt: string };
  organizations: { id: string; role: string }[];
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

const stateHash = (state: string): string => createHash('sha256').update(state).digest('hex');

describe('Single sign-on (API.md section 16)', () => {
  let idp: TestOidcProvider;
  let t: TestApp;

  beforeAll(async () => {
    idp = await startOidcProvider();
    t = await createTestApp({
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: idp.clientId,
      OIDC_CLIENT_SECRET: idp.clientSecret,
      OIDC_REDIRECT_URI: idp.redirectUri,
      OIDC_ALLOWED_REDIRECTS: ALLOWED,
    });
  });
  afterAll(async () => {
    await t?.close();
    await idp?.close();
  });

  /** A provider account with a verified email (fresh unless given). */
  function account(claims: { email?: string; email_verified?: boolean; name?: string } = {}): {
    sub: string;
    email: string;
  } {
    const sub = `acct-${randomUUID()}`;
    const email = claims.email ?? uniqueEmail('sso');
    idp.accounts.set(sub, { email, email_verified: true, name: 'Grace Hopper', ...claims });
    return { sub, email };
  }

  /** GET /authorize; answers the provider URL it redirects to. */
  async function authorize(redirectTo?: string): Promise<URL> {
    const req = t.http().get(AUTHORIZE);
    const res = await (redirectTo === undefined ? req : req.query({ redirectTo }));
    expect(res.status).toBe(302);
    return new URL(res.headers.location);
  }

  /** The app's callback with the query of the provider's redirect (`url`). */
  const callback = (url: URL | string): Promise<Response> => {
    const search = typeof url === 'string' ? url : url.search;
    return t
      .http()
      .get(`${CALLBACK}${search}`)
      .then((res) => res);
  };

  /** The whole flow as `sub`: authorize, the provider's login and consent, the callback. */
  async function ssoLogin(sub: string, redirectTo?: string): Promise<Response> {
    const providerRedirect = await idp.signIn((await authorize(redirectTo)).toString(), sub);
    return callback(providerRedirect);
  }

  const me = (accessToken: string) =>
    t.http().get('/api/v1/users/me').set('authorization', `Bearer ${accessToken}`);

  async function auditOf(userId: string): Promise<{ action: string; details: object }[]> {
    return t.db.query(
      `SELECT action, details FROM audit_logs WHERE actor_user_id = $1 ORDER BY created_at, id`,
      [userId],
    );
  }

  /** The details of the login_failed audit entry of a refused callback. */
  async function refusal(
    res: Response,
  ): Promise<{ method: string; reason: string; error?: string }> {
    const rows = await t.db.query<
      { action: string; details: { method: string; reason: string } }[]
    >('SELECT action, details FROM audit_logs WHERE request_id = $1', [
      res.headers['x-request-id'],
    ]);
    expect(rows.map((r) => r.action)).toEqual(['login_failed']);
    return rows[0].details;
  }

  describe('GET /auth/oidc/authorize', () => {
    it("redirects to the provider's authorization endpoint with code flow, PKCE S256, state, nonce and the scopes", async () => {
      const res = await t.http().get(AUTHORIZE);
      expect(res.status).toBe(302);
      expect(res.headers['cache-control']).toBe('no-store');
      const url = new URL(res.headers.location);
      expect(`${url.origin}${url.pathname}`).toBe(`${idp.issuer}/auth`);
      const q = Object.fromEntries(url.searchParams);
      expect(q).toEqual({
        client_id: idp.clientId,
        redirect_uri: idp.redirectUri,
        response_type: 'code',
        scope: 'openid email profile',
        state: expect.stringMatching(/^[\w-]{32,}$/),
        nonce: expect.stringMatching(/^[\w-]{32,}$/),
        code_challenge: expect.stringMatching(/^[\w-]{43}$/),
        code_challenge_method: 'S256',
      });
      // The pending sign-in is stored (by the hash of its state) for 10 minutes; the verifier
      // is the one whose S256 challenge was sent.
      const [row] = await t.db.query<
        { code_verifier: string; nonce: string; redirect_to: string | null; ttl: number }[]
      >(
        `SELECT code_verifier, nonce, redirect_to,
                extract(epoch FROM expires_at - created_at)::int AS ttl
           FROM sso_logins WHERE state_hash = $1`,
        [stateHash(q.state)],
      );
      expect(row).toEqual({
        code_verifier: expect.any(String),
        nonce: q.nonce,
        redirect_to: null,
        ttl: 600,
      });
      expect(createHash('sha256').update(row.code_verifier).digest('base64url')).toBe(
        q.code_challenge,
      );
      // Two flows never share a state, nonce or verifier.
      const other = Object.fromEntries((await authorize()).searchParams);
      expect(other.state).not.toBe(q.state);
      expect(other.nonce).not.toBe(q.nonce);
      expect(other.code_challenge).not.toBe(q.code_challenge);
    });

    it.each([
      ['another origin', 'https://evil.example.com/sso'],
      ['a host that only starts like an allowed one', 'https://app.example.com.evil.test/sso'],
      ['credentials before the host', 'https://app.example.com@evil.test/sso'],
      ['another scheme', 'http://app.example.com/sso'],
      ['another port', 'http://localhost:5174/'],
      ['a path beside the allowed one', 'https://app.example.com/ssox'],
      ['a path outside by dot segments', 'https://app.example.com/sso/../admin'],
      ['a relative URL', '/sso'],
      ['a javascript: URL', 'javascript:alert(1)'],
      ['a fragment', 'https://app.example.com/sso#x'],
    ])('refuses a redirectTo not on OIDC_ALLOWED_REDIRECTS (%s): 400', async (_, redirectTo) => {
      const before = await t.db.query<{ n: number }[]>('SELECT count(*)::int AS n FROM sso_logins');
      const res = await t.http().get(AUTHORIZE).query({ redirectTo });
      expectError(res, 400, 'VALIDATION_FAILED');
      const after = await t.db.query<{ n: number }[]>('SELECT count(*)::int AS n FROM sso_logins');
      expect(after[0].n).toBe(before[0].n);
    });

    it('accepts a redirectTo at or below an allowed prefix, and on an allowed origin', async () => {
      for (const redirectTo of [
        'https://app.example.com/sso',
        'https://app.example.com/sso/done?x=1',
        'http://localhost:5173/',
        'http://localhost:5173/any/page',
      ]) {
        const q = Object.fromEntries((await authorize(redirectTo)).searchParams);
        const [row] = await t.db.query<{ redirect_to: string }[]>(
          'SELECT redirect_to FROM sso_logins WHERE state_hash = $1',
          [stateHash(q.state)],
        );
        expect(row.redirect_to).toBe(redirectTo);
      }
    });

    it('refuses unknown query parameters (400)', async () => {
      const res = await t.http().get(AUTHORIZE).query({ redirect: 'https://app.example.com/sso' });
      expectError(res, 400, 'VALIDATION_FAILED');
    });
  });

  describe('GET /auth/oidc/callback', () => {
    it('signs in a new user: the login body of POST /auth/login; the tokens work; created without a password and linked to the subject', async () => {
      const { sub, email } = account({ email: `  ${uniqueEmail('New').toUpperCase()}` });
      const expectedEmail = email.trim().toLowerCase();
      const res = await ssoLogin(sub);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const body = res.body as LoginBody;
      expect(Object.keys(body).sort()).toEqual(
        ['accessToken', 'expiresIn', 'organizations', 'refreshToken', 'tokenType', 'user'].sort(),
      );
      expect(body).toEqual({
        user: {
          id: expect.any(String),
          email: expectedEmail,
          name: 'Grace Hopper',
          phone: null,
          createdAt: expect.any(String),
        },
        organizations: [],
        accessToken: expect.any(String),
        refreshToken: expect.any(String),
        tokenType: 'Bearer',
        expiresIn: 900,
      });
      const meRes = await me(body.accessToken);
      expect(meRes.status).toBe(200);
      expect((meRes.body as { id: string }).id).toBe(body.user.id);
      const refreshed = await t
        .http()
        .post('/api/v1/auth/refresh')
        .send({ refreshToken: body.refreshToken });
      expect(refreshed.status).toBe(200);

      const [user] = await t.db.query<{ password_hash: string | null }[]>(
        'SELECT password_hash FROM users WHERE id = $1',
        [body.user.id],
      );
      expect(user.password_hash).toBeNull();
      const identities = await t.db.query<{ issuer: string; subject: string; email: string }[]>(
        'SELECT issuer, subject, email FROM user_identities WHERE user_id = $1',
        [body.user.id],
      );
      expect(identities).toEqual([{ issuer: idp.issuer, subject: sub, email: expectedEmail }]);
      // No password: password login answers exactly like a wrong password.
      for (const password of [PASSWORD, 'dummy-password-0', '']) {
        const login = await t
          .http()
          .post('/api/v1/auth/login')
          .send({ email: expectedEmail, password });
        expect(login.status).toBe(password === '' ? 400 : 401);
        if (password) expectError(login, 401, 'INVALID_CREDENTIALS');
      }
      const audit = await auditOf(body.user.id);
      expect(audit).toEqual(
        expect.arrayContaining([
          { action: 'user_registered', details: { method: 'oidc', issuer: idp.issuer } },
          {
            action: 'login_succeeded',
            details: { method: 'oidc', issuer: idp.issuer, created: true },
          },
        ]),
      );
    });

    it("names a new user after the email's local part when the provider gives no name", async () => {
      const { sub, email } = account({ name: '' });
      const res = await ssoLogin(sub);
      expect(res.status).toBe(200);
      expect((res.body as LoginBody).user.name).toBe(email.split('@')[0]);
    });

    it('signs in the same user again on a second sign-in (no second user)', async () => {
      const { sub, email } = account();
      const first = (await ssoLogin(sub)).body as LoginBody;
      const second = await ssoLogin(sub);
      expect(second.status).toBe(200);
      expect((second.body as LoginBody).user.id).toBe(first.user.id);
      const [{ n }] = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM users WHERE email = $1',
        [email],
      );
      expect(n).toBe(1);
      expect((await auditOf(first.user.id)).filter((a) => a.action === 'login_succeeded')).toEqual([
        {
          action: 'login_succeeded',
          details: { method: 'oidc', issuer: idp.issuer, created: true },
        },
        { action: 'login_succeeded', details: { method: 'oidc', issuer: idp.issuer } },
      ]);
    });

    it('signs in an existing password user with the same email as themselves (password kept)', async () => {
      const session = await register(t, 'pw');
      const { sub } = account({ email: session.email.toUpperCase() });
      const res = await ssoLogin(sub);
      expect(res.status).toBe(200);
      const body = res.body as LoginBody;
      expect(body.user.id).toBe(session.userId);
      expect(body.organizations).toEqual([
        expect.objectContaining({ id: session.organizationId, role: 'owner' }),
      ]);
      const login = await t
        .http()
        .post('/api/v1/auth/login')
        .send({ email: session.email, password: PASSWORD });
      expect(login.status).toBe(200);
    });

    it("finds the user by the provider's subject after an email change at the provider; another account with the old email is refused", async () => {
      const { sub, email } = account();
      const first = (await ssoLogin(sub)).body as LoginBody;
      const changed = uniqueEmail('changed');
      idp.accounts.set(sub, { email: changed, email_verified: true, name: 'Grace Hopper' });
      const again = await ssoLogin(sub);
      expect(again.status).toBe(200);
      expect((again.body as LoginBody).user.id).toBe(first.user.id);
      // The old email now belongs to someone else at the provider: no takeover.
      const { sub: other } = account({ email });
      const res = await ssoLogin(other);
      expectError(res, 401, 'UNAUTHENTICATED');
      const [{ n }] = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM user_identities WHERE subject = $1',
        [other],
      );
      expect(n).toBe(0);
    });

    it.each([
      ['an unverified email', { email_verified: false }, /not verified/],
      ['no email at all', { email: undefined }, /no email/],
    ])(
      'refuses %s: 401 UNAUTHENTICATED, no user, audited as login_failed',
      async (_, claims, message) => {
        const email = uniqueEmail('unverified');
        const sub = `acct-${randomUUID()}`;
        idp.accounts.set(sub, { email, email_verified: true, name: 'N', ...claims });
        const res = await ssoLogin(sub);
        expectError(res, 401, 'UNAUTHENTICATED');
        expect((res.body as { message: string }).message).toMatch(message);
        const [{ n }] = await t.db.query<{ n: number }[]>(
          'SELECT count(*)::int AS n FROM users WHERE email = $1',
          [email],
        );
        expect(n).toBe(0);
        const [row] = await t.db.query<{ action: string; details: Record<string, unknown> }[]>(
          `SELECT action, details FROM audit_logs WHERE request_id = $1`,
          [res.headers['x-request-id']],
        );
        expect(row).toEqual({
          action: 'login_failed',
          details: expect.objectContaining({
            method: 'oidc',
            reason: expect.stringMatching(/^email_/),
          }),
        });
      },
    );

    it('refuses an unverified email of an already linked user too', async () => {
      const { sub, email } = account();
      expect((await ssoLogin(sub)).status).toBe(200);
      idp.accounts.set(sub, { email, email_verified: false });
      expectError(await ssoLogin(sub), 401, 'UNAUTHENTICATED');
    });

    it('refuses a missing, unknown or tampered state: 401', async () => {
      const { sub } = account();
      const providerRedirect = await idp.signIn((await authorize()).toString(), sub);
      const state = providerRedirect.searchParams.get('state')!;
      const tampered = new URL(providerRedirect);
      tampered.searchParams.set('state', `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
      const missing = new URL(providerRedirect);
      missing.searchParams.delete('state');
      const unknown = new URL(providerRedirect);
      unknown.searchParams.set('state', 'not-a-state-we-sent');
      for (const url of [tampered, missing, unknown]) {
        expectError(await callback(url), 401, 'UNAUTHENTICATED');
      }
      expectError(await callback('?'), 401, 'UNAUTHENTICATED');
      // The genuine answer still works: the refusals above spent nothing of this flow.
      expect((await callback(providerRedirect)).status).toBe(200);
    });

    it('uses a state once: the same callback a second time is 401', async () => {
      const { sub } = account();
      const providerRedirect = await idp.signIn((await authorize()).toString(), sub);
      expect((await callback(providerRedirect)).status).toBe(200);
      const again = await callback(providerRedirect);
      expectError(again, 401, 'UNAUTHENTICATED');
      expect((again.body as { message: string }).message).toMatch(
        /unknown, expired or already used/,
      );
    });

    it('of two concurrent callbacks with one state, exactly one signs in', async () => {
      const { sub } = account();
      const providerRedirect = await idp.signIn((await authorize()).toString(), sub);
      const answers = await Promise.all([callback(providerRedirect), callback(providerRedirect)]);
      expect(answers.map((r) => r.status).sort()).toEqual([200, 401]);
      // Refused for its spent state, before any code exchange.
      const refused = answers.find((r) => r.status === 401)!;
      expect((refused.body as { message: string }).message).toMatch(/already used/);
      expect((await refusal(refused)).reason).toBe('invalid_state');
    });

    it('two concurrent first sign-ins of one new user make one user, both signed in', async () => {
      const { sub, email } = account();
      const redirects = await Promise.all([
        idp.signIn((await authorize()).toString(), sub),
        idp.signIn((await authorize()).toString(), sub),
      ]);
      const answers = await Promise.all(redirects.map((r) => callback(r)));
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      const ids = answers.map((r) => (r.body as LoginBody).user.id);
      expect(ids[0]).toBe(ids[1]);
      const [{ users, identities }] = await t.db.query<{ users: number; identities: number }[]>(
        `SELECT (SELECT count(*)::int FROM users WHERE email = $1) AS users,
                (SELECT count(*)::int FROM user_identities WHERE subject = $2) AS identities`,
        [email, sub],
      );
      expect({ users, identities }).toEqual({ users: 1, identities: 1 });
    });

    it('refuses a state older than 10 minutes: 401, and deletes expired sign-ins', async () => {
      const { sub } = account();
      const providerRedirect = await idp.signIn((await authorize()).toString(), sub);
      const hash = stateHash(providerRedirect.searchParams.get('state')!);
      await t.db.query(
        `UPDATE sso_logins SET expires_at = now() - interval '1 second' WHERE state_hash = $1`,
        [hash],
      );
      expectError(await callback(providerRedirect), 401, 'UNAUTHENTICATED');
      // Another flow's expired row goes when any flow starts or ends.
      const stale = Object.fromEntries((await authorize()).searchParams).state;
      await t.db.query(
        `UPDATE sso_logins SET expires_at = now() - interval '1 second' WHERE state_hash = $1`,
        [stateHash(stale)],
      );
      await authorize();
      const rows = await t.db.query('SELECT 1 FROM sso_logins WHERE state_hash IN ($1, $2)', [
        hash,
        stateHash(stale),
      ]);
      expect(rows).toEqual([]);
    });

    it("refuses a code with another sign-in's state (its PKCE verifier does not match): 401", async () => {
      const { sub } = account();
      const first = await idp.signIn((await authorize()).toString(), sub);
      const otherState = Object.fromEntries((await authorize()).searchParams).state;
      const replay = new URL(first);
      replay.searchParams.set('state', otherState);
      const res = await callback(replay);
      expectError(res, 401, 'UNAUTHENTICATED');
      expect((res.body as { message: string }).message).toMatch(/could not be verified/);
      expect(await refusal(res)).toEqual({
        method: 'oidc',
        reason: 'exchange_failed',
        error: expect.stringMatching(/invalid_grant/),
      });
      expect(idp.grantErrors.at(-1)).toBe('code_verifier does not match code_challenge');
    });

    it('refuses a wrong PKCE verifier: 401', async () => {
      const { sub } = account();
      const providerRedirect = await idp.signIn((await authorize()).toString(), sub);
      await t.db.query(`UPDATE sso_logins SET code_verifier = $2 WHERE state_hash = $1`, [
        stateHash(providerRedirect.searchParams.get('state')!),
        'x'.repeat(43) + randomUUID().replace(/-/g, ''),
      ]);
      const res = await callback(providerRedirect);
      expectError(res, 401, 'UNAUTHENTICATED');
      expect((await refusal(res)).error).toMatch(/invalid_grant/);
      expect(idp.grantErrors.at(-1)).toBe('code_verifier does not match code_challenge');
    });

    it('refuses an ID token whose nonce is not the one sent: 401', async () => {
      const { sub } = account();
      const providerRedirect = await idp.signIn((await authorize()).toString(), sub);
      await t.db.query(`UPDATE sso_logins SET nonce = $2 WHERE state_hash = $1`, [
        stateHash(providerRedirect.searchParams.get('state')!),
        'another-nonce-0123456789abcdefghijklmnop',
      ]);
      const res = await callback(providerRedirect);
      expectError(res, 401, 'UNAUTHENTICATED');
      const details = await refusal(res);
      expect(details.reason).toBe('exchange_failed');
      expect(details.error).toMatch(/"nonce"/);
    });

    it('refuses an error answer of the provider (the user canceled): 401, never 500', async () => {
      const { sub } = account();
      const providerRedirect = await idp.signIn((await authorize()).toString(), sub, {
        abort: true,
      });
      expect(providerRedirect.searchParams.get('error')).toBe('access_denied');
      const res = await callback(providerRedirect);
      expectError(res, 401, 'UNAUTHENTICATED');
      expect(await refusal(res)).toEqual({
        method: 'oidc',
        reason: 'provider_error',
        error: 'access_denied',
      });
      // Its state is spent too.
      expectError(await callback(providerRedirect), 401, 'UNAUTHENTICATED');
    });

    it('refuses an error answer with control characters: 401, never 500', async () => {
      const state = Object.fromEntries((await authorize()).searchParams).state;
      const res = await callback(`?error=access%00_denied%ED&state=${state}`);
      expectError(res, 401, 'UNAUTHENTICATED');
      expect(await refusal(res)).toEqual({
        method: 'oidc',
        reason: 'provider_error',
        error: 'access_denied\ufffd',
      });
    });

    it('refuses a forged code: 401, never 500', async () => {
      const state = Object.fromEntries((await authorize()).searchParams).state;
      const res = await callback(
        `?code=forged&state=${state}&iss=${encodeURIComponent(idp.issuer)}`,
      );
      expectError(res, 401, 'UNAUTHENTICATED');
    });

    it('redirects to an allowed redirectTo with the tokens in the fragment', async () => {
      const { sub, email } = account();
      const res = await ssoLogin(sub, 'https://app.example.com/sso/done?from=crm');
      expect(res.status).toBe(302);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      const location = new URL(res.headers.location);
      expect(`${location.origin}${location.pathname}${location.search}`).toBe(
        'https://app.example.com/sso/done?from=crm',
      );
      const fragment = Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
      expect(fragment).toEqual({
        accessToken: expect.any(String),
        refreshToken: expect.any(String),
        tokenType: 'Bearer',
        expiresIn: '900',
      });
      const meRes = await me(fragment.accessToken);
      expect(meRes.status).toBe(200);
      expect((meRes.body as { email: string }).email).toBe(email);
    });
  });

  describe('provider unreachable', () => {
    let down: TestApp;
    beforeAll(async () => {
      down = await createTestApp({
        OIDC_ISSUER: 'http://127.0.0.1:1',
        OIDC_CLIENT_ID: 'crm-api',
        OIDC_REDIRECT_URI: idp.redirectUri,
      });
    });
    afterAll(() => down?.close());

    it('answers 503 NOT_READY (never 500) and stores no sign-in', async () => {
      const res = await down.http().get(AUTHORIZE);
      expectError(res, 503, 'NOT_READY');
      const rows = await down.db.query('SELECT 1 FROM sso_logins');
      expect(rows).toEqual([]);
    });
  });

  describe('not configured', () => {
    let bare: TestApp;
    beforeAll(async () => {
      bare = await createTestApp();
    });
    afterAll(() => bare?.close());

    it('answers 404 NOT_FOUND on both routes', async () => {
      for (const path of [
        AUTHORIZE,
        `${AUTHORIZE}?redirectTo=https%3A%2F%2Fapp.example.com%2Fsso`,
        `${CALLBACK}?code=x&state=y`,
      ]) {
        const res = await bare.http().get(path);
        expectError(res, 404, 'NOT_FOUND');
        expect((res.body as { message: string }).message).toBe('Single sign-on is not configured');
      }
    });
  });
});
