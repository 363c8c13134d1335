import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Response } from 'supertest';
import { TokenService } from '../src/modules/auth/token.service';
import { as, expectError, PASSWORD, register, Session, uniqueEmail } from './support/api';
import {
  createTestApp,
  TEST_ACCESS_SECRET,
  TEST_REFRESH_SECRET,
  TestApp,
} from './support/test-app';

/** End-to-end tests of API.md section 2 (auth), plus the X-Request-Id rule of section 1. */

const AUTH = '/api/v1/auth';
const ME = '/api/v1/users/me';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ISO_ = expect.stringMatching(ISO);
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;
const ACCESS_TTL = 900;

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: { field: string; message: string }[];
  requestId: string;
}
interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}
interface AuditRow {
  action: string;
  actor_user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  created_at: Date;
}

const b64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const claimsOf = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
/** A token's own claims, without those jsonwebtoken sets when signing (iat, exp, iss). */
const unsignedClaims = (token: string): Record<string, unknown> => {
  const claims = claimsOf(token);
  delete claims.iat;
  delete claims.exp;
  delete claims.iss;
  return claims;
};
const pairOf = (res: Response): TokenPair => res.body as TokenPair;
const errorOf = (res: Response): ErrorBody => res.body as ErrorBody;

/** The distinct `details[].field` of a validation error. */
const detailFields = (res: Response): string[] => [
  ...new Set((errorOf(res).details ?? []).map((d) => d.field)),
];

function expectValidation(res: Response, field: string): void {
  expectError(res, 400, 'VALIDATION_FAILED');
  expect(detailFields(res)).toEqual([field]);
}

/** Error bodies carry exactly these keys (no stack, no internals). */
function expectPlainError(res: Response): void {
  expect(Object.keys(res.body as object).sort()).toEqual(
    ['code', 'message', 'requestId', 'statusCode'].sort(),
  );
}

describe('Auth (API.md section 2)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const registerBody = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    email: uniqueEmail('reg'),
    password: PASSWORD,
    name: 'Ada Lovelace',
    organizationName: 'Analytical Engines',
    ...overrides,
  });
  const postRegister = (body: unknown, headers: Record<string, string> = {}) =>
    t
      .http()
      .post(`${AUTH}/register`)
      .set(headers)
      .send(body as object);
  const login = (email: string, password = PASSWORD, headers: Record<string, string> = {}) =>
    t.http().post(`${AUTH}/login`).set(headers).send({ email, password });
  const refresh = (refreshToken: unknown, headers: Record<string, string> = {}) =>
    t.http().post(`${AUTH}/refresh`).set(headers).send({ refreshToken });
  const logout = (
    session: Pick<Session, 'accessToken'>,
    refreshToken: unknown,
    headers: Record<string, string> = {},
  ) =>
    t
      .http()
      .post(`${AUTH}/logout`)
      .set({ ...as(session), ...headers })
      .send({ refreshToken });
  const me = (authorization?: string) => {
    const req = t.http().get(ME);
    return authorization === undefined ? req : req.set('Authorization', authorization);
  };

  async function counts(): Promise<{ users: number; organizations: number; members: number }> {
    const [row] = await t.db.query<{ users: number; organizations: number; members: number }[]>(
      `SELECT (SELECT count(*) FROM users)::int AS users,
              (SELECT count(*) FROM organizations)::int AS organizations,
              (SELECT count(*) FROM organization_members)::int AS members`,
    );
    return row;
  }

  /** Every refresh token row of the family `refreshToken` belongs to. */
  async function familyRows(
    refreshToken: string,
  ): Promise<{ used_at: Date | null; revoked_at: Date | null }[]> {
    return await t.db.query<{ used_at: Date | null; revoked_at: Date | null }[]>(
      'SELECT used_at, revoked_at FROM refresh_tokens WHERE family_id = $1 ORDER BY created_at',
      [claimsOf(refreshToken).fam],
    );
  }

  describe('POST /auth/register', () => {
    it('answers 201 with exactly the user, the organization (role owner) and a Bearer pair', async () => {
      const email = uniqueEmail('shape');
      const res = await postRegister(registerBody({ email, organizationName: 'Shape Org' }));
      expect(res.status).toBe(201);
      expect(res.body).toStrictEqual({
        user: {
          id: expect.stringMatching(UUID),
          email,
          name: 'Ada Lovelace',
          phone: null,
          createdAt: ISO_,
        },
        organization: {
          id: expect.stringMatching(UUID),
          name: 'Shape Org',
          defaultCurrency: null,
          role: 'owner',
          createdAt: ISO_,
        },
        accessToken: expect.stringMatching(JWT_SHAPE),
        refreshToken: expect.stringMatching(JWT_SHAPE),
        tokenType: 'Bearer',
        expiresIn: ACCESS_TTL,
      });
      const body = res.body as { user: { id: string }; organization: { id: string } } & TokenPair;
      expect(body.accessToken).not.toBe(body.refreshToken);

      // The access token lives 15 minutes and works; the organization is the user's, as owner.
      const claims = claimsOf(body.accessToken);
      expect(Number(claims.exp) - Number(claims.iat)).toBe(ACCESS_TTL);
      const meRes = await me(`Bearer ${body.accessToken}`);
      expect(meRes.status).toBe(200);
      expect(meRes.body).toEqual(body.user);
      const [membership] = await t.db.query<{ organization_id: string; role: string }[]>(
        'SELECT organization_id, role FROM organization_members WHERE user_id = $1',
        [body.user.id],
      );
      expect(membership).toEqual({ organization_id: body.organization.id, role: 'owner' });
    });

    it('trims and lower-cases the email before storing it', async () => {
      const email = uniqueEmail('case');
      const res = await postRegister(registerBody({ email: `  ${email.toUpperCase()}\t` }));
      expect(res.status).toBe(201);
      expect((res.body as { user: { email: string } }).user.email).toBe(email);
      const rows = await t.db.query<{ email: string }[]>(
        'SELECT email FROM users WHERE lower(email) = $1',
        [email],
      );
      expect(rows).toEqual([{ email }]);
      expect((await login(email)).status).toBe(200);
    });

    it('stores the password only as a bcrypt hash', async () => {
      const email = uniqueEmail('hash');
      const res = await postRegister(registerBody({ email }));
      expect(res.status).toBe(201);
      const [row] = await t.db.query<{ password_hash: string }[]>(
        'SELECT password_hash FROM users WHERE email = $1',
        [email],
      );
      expect(row.password_hash).toMatch(/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/);
      expect(row.password_hash).not.toContain(PASSWORD);
      expect(JSON.stringify(res.body)).not.toContain(row.password_hash);
      expect(JSON.stringify(res.body)).not.toMatch(/password/i);
    });

    it('answers 409 EMAIL_TAKEN for an email already registered, whatever its case, and writes nothing', async () => {
      const email = uniqueEmail('dup');
      expect((await postRegister(registerBody({ email }))).status).toBe(201);
      const before = await counts();
      const res = await postRegister(
        registerBody({ email: ` ${email.toUpperCase()} `, organizationName: 'Second' }),
      );
      expectError(res, 409, 'EMAIL_TAKEN');
      expect(await counts()).toEqual(before);
    });

    it('accepts the boundaries: an 8- and a 72-character password, a 1- and a 200-character name', async () => {
      for (const [password, name] of [
        ['abcdef12', 'A'],
        [`a1${'x'.repeat(70)}`, 'n'.repeat(200)],
      ]) {
        const res = await postRegister(registerBody({ password, name }));
        expect(res.status).toBe(201);
        expect((res.body as { user: { name: string } }).user.name).toBe(name);
      }
    });

    const invalid: [string, () => unknown, string][] = [
      ['a malformed email', () => registerBody({ email: 'not-an-email' }), 'email'],
      ['a missing email', () => registerBody({ email: undefined }), 'email'],
      ['a password of 7 characters', () => registerBody({ password: 'abcde12' }), 'password'],
      [
        'a password of 73 characters',
        () => registerBody({ password: `a1${'x'.repeat(71)}` }),
        'password',
      ],
      ['a password without a digit', () => registerBody({ password: 'abcdefghij' }), 'password'],
      ['a password without a letter', () => registerBody({ password: '1234567890' }), 'password'],
      [
        'a password equal to the email (case-insensitive)',
        () => {
          const email = uniqueEmail('same1');
          return registerBody({ email, password: email.toUpperCase() });
        },
        'password',
      ],
      ['an empty name', () => registerBody({ name: '' }), 'name'],
      ['a blank name', () => registerBody({ name: '   ' }), 'name'],
      ['a name of 201 characters', () => registerBody({ name: 'n'.repeat(201) }), 'name'],
      [
        'a missing organizationName',
        () => registerBody({ organizationName: undefined }),
        'organizationName',
      ],
      ['an unknown property (mass assignment)', () => registerBody({ role: 'admin' }), 'role'],
      ['a non-string name', () => registerBody({ name: 42 }), 'name'],
    ];

    it.each(invalid)(
      'answers 400 VALIDATION_FAILED naming the field for %s, and writes nothing',
      async (_case, body, field) => {
        const before = await counts();
        const res = await postRegister(body());
        expectValidation(res, field);
        expect(await counts()).toEqual(before);
      },
    );

    it('answers 400 VALIDATION_FAILED for malformed JSON, and writes nothing', async () => {
      const before = await counts();
      const res = await t
        .http()
        .post(`${AUTH}/register`)
        .set('Content-Type', 'application/json')
        .send('{"email": "x@example.com", "password": ');
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(await counts()).toEqual(before);
    });

    it('rolls everything back when a later step of the registration fails', async () => {
      // The last step (issuing the token pair) fails after the user, the organization, the
      // membership and the audit rows were written inside the transaction.
      const tokens = t.app.get(TokenService);
      const original = tokens.issue.bind(tokens);
      tokens.issue = () => Promise.reject(new Error('token store unavailable'));
      const email = uniqueEmail('atomic');
      const before = await counts();
      let res: Response;
      try {
        res = await postRegister(registerBody({ email }));
      } finally {
        tokens.issue = original;
      }
      expectError(res, 500, 'INTERNAL_ERROR');
      expect(JSON.stringify(res.body)).not.toContain('token store unavailable');
      expect(await counts()).toEqual(before);
      const audit = await t.db.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM audit_logs WHERE request_id = $1',
        [res.headers['x-request-id']],
      );
      expect(audit[0].n).toBe(0);
      // Nothing was left behind: the same email registers fine afterwards.
      expect((await postRegister(registerBody({ email }))).status).toBe(201);
    });

    it('of concurrent registrations of one email exactly one succeeds; the others get 409', async () => {
      const email = uniqueEmail('race');
      const before = await counts();
      const results = await Promise.all(
        [email, email.toUpperCase(), email, ` ${email}`].map((e) =>
          postRegister(registerBody({ email: e })),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
      for (const r of results.filter((x) => x.status === 409)) expectError(r, 409, 'EMAIL_TAKEN');
      expect(await counts()).toEqual({
        users: before.users + 1,
        organizations: before.organizations + 1,
        members: before.members + 1,
      });
    });
  });

  describe('POST /auth/login', () => {
    it('answers 200 with the user, all their organizations with role, and a Bearer pair', async () => {
      const s = await register(t, 'login', 'First Org');
      const second = await t
        .http()
        .post('/api/v1/organizations')
        .set(as(s))
        .send({ name: 'Second Org' });
      expect(second.status).toBe(201);
      const res = await login(s.email);
      expect(res.status).toBe(200);
      expect(res.body).toStrictEqual({
        user: { id: s.userId, email: s.email, name: 'login', phone: null, createdAt: ISO_ },
        organizations: expect.any(Array),
        accessToken: expect.stringMatching(JWT_SHAPE),
        refreshToken: expect.stringMatching(JWT_SHAPE),
        tokenType: 'Bearer',
        expiresIn: ACCESS_TTL,
      });
      const orgs = (res.body as { organizations: unknown[] }).organizations;
      expect(orgs).toHaveLength(2);
      expect(orgs).toEqual(
        expect.arrayContaining([
          {
            id: s.organizationId,
            name: 'First Org',
            defaultCurrency: null,
            role: 'owner',
            createdAt: ISO_,
          },
          {
            id: (second.body as { id: string }).id,
            name: 'Second Org',
            defaultCurrency: null,
            role: 'owner',
            createdAt: ISO_,
          },
        ]),
      );
      const pair = pairOf(res);
      expect(pair.refreshToken).not.toBe(s.refreshToken);
      expect((await me(`Bearer ${pair.accessToken}`)).status).toBe(200);
    });

    it('treats the email case-insensitively (and trims it)', async () => {
      const s = await register(t, 'logincase');
      const res = await login(`  ${s.email.toUpperCase()} `);
      expect(res.status).toBe(200);
      expect((res.body as { user: { id: string } }).user.id).toBe(s.userId);
    });

    it('gives the same 401 INVALID_CREDENTIALS for a wrong password and an unknown email', async () => {
      const s = await register(t, 'badpw');
      const wrong = await login(s.email, 'wrong-password-1');
      const unknown = await login(uniqueEmail('nobody'), PASSWORD);
      expectError(wrong, 401, 'INVALID_CREDENTIALS');
      expectError(unknown, 401, 'INVALID_CREDENTIALS');
      expectPlainError(wrong);
      // Identical but for the request id.
      expect({ ...errorOf(wrong), requestId: null }).toStrictEqual({
        ...errorOf(unknown),
        requestId: null,
      });
      expect(wrong.headers['www-authenticate']).toBe(unknown.headers['www-authenticate']);
      // The right password still works: the failure was about the password.
      expect((await login(s.email)).status).toBe(200);
    });

    it('answers 400 VALIDATION_FAILED for a missing password or an unknown property', async () => {
      const email = uniqueEmail('loginval');
      expectValidation(await t.http().post(`${AUTH}/login`).send({ email }), 'password');
      expectValidation(
        await t.http().post(`${AUTH}/login`).send({ email, password: PASSWORD, admin: true }),
        'admin',
      );
    });
  });

  describe('login rate limit', () => {
    const expectRateLimited = (res: Response): void => {
      expectError(res, 429, 'RATE_LIMITED');
      const retryAfter = String(res.headers['retry-after']);
      expect(retryAfter).toMatch(/^\d+$/);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    };

    it('answers the 6th attempt within a minute for one email with 429 RATE_LIMITED and Retry-After', async () => {
      const s = await register(t, 'limit');
      for (let i = 0; i < 5; i++) {
        const email = i % 2 ? s.email.toUpperCase() : s.email; // one email, whatever its case
        expectError(await login(email, `wrong-password-${i}`), 401, 'INVALID_CREDENTIALS');
      }
      // Even with the right password: the limit applies before the credentials are checked.
      expectRateLimited(await login(s.email));
      expectRateLimited(await login(s.email.toUpperCase(), 'wrong-password-6'));
    });

    it('counts successful logins too', async () => {
      const s = await register(t, 'limitok');
      for (let i = 0; i < 5; i++) expect((await login(s.email)).status).toBe(200);
      expectRateLimited(await login(s.email));
    });

    it('does not affect another email from the same address', async () => {
      const limited = await register(t, 'limited');
      const other = await register(t, 'other');
      for (let i = 0; i < 5; i++) await login(limited.email, 'wrong-password-1');
      expectRateLimited(await login(limited.email));
      expect((await login(other.email)).status).toBe(200);
      expectError(await login(other.email, 'wrong-password-1'), 401, 'INVALID_CREDENTIALS');
      // Nor the refresh of the limited user's existing session.
      expect((await refresh(limited.refreshToken)).status).toBe(200);
    });
  });

  describe('POST /auth/refresh', () => {
    it('returns a new pair and spends the old refresh token', async () => {
      const s = await register(t, 'refresh');
      const res = await refresh(s.refreshToken);
      expect(res.status).toBe(200);
      expect(res.body).toStrictEqual({
        accessToken: expect.stringMatching(JWT_SHAPE),
        refreshToken: expect.stringMatching(JWT_SHAPE),
        tokenType: 'Bearer',
        expiresIn: ACCESS_TTL,
      });
      const pair = pairOf(res);
      expect(pair.refreshToken).not.toBe(s.refreshToken);
      expect(pair.accessToken).not.toBe(s.accessToken);
      const meRes = await me(`Bearer ${pair.accessToken}`);
      expect(meRes.status).toBe(200);
      expect((meRes.body as { id: string }).id).toBe(s.userId);

      expectError(await refresh(s.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
    });

    it('revokes the whole family when a used refresh token is presented again', async () => {
      const s = await register(t, 'reuse');
      const otherLogin = pairOf(await login(s.email)); // another family of the same user
      const rotated = pairOf(await refresh(s.refreshToken));
      expect(rotated.refreshToken).toEqual(expect.any(String));

      // The attacker (or the victim) presents the spent token again.
      expectError(await refresh(s.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
      // The token obtained from the legitimate rotation is revoked with it.
      expectError(await refresh(rotated.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
      expect((await familyRows(s.refreshToken)).every((r) => r.revoked_at !== null)).toBe(true);

      // The other login of the same user is not affected.
      const other = await refresh(otherLogin.refreshToken);
      expect(other.status).toBe(200);
      expect((await refresh(pairOf(other).refreshToken)).status).toBe(200);
    });

    it('keeps a chain alive across several rotations', async () => {
      const s = await register(t, 'chain');
      let token = s.refreshToken;
      for (let i = 0; i < 3; i++) {
        const res = await refresh(token);
        expect(res.status).toBe(200);
        token = pairOf(res).refreshToken;
      }
      const rows = await familyRows(token);
      expect(rows).toHaveLength(4);
      expect(rows.filter((r) => r.used_at === null)).toHaveLength(1);
      expect(rows.every((r) => r.revoked_at === null)).toBe(true);
    });

    describe('answers 401 INVALID_REFRESH_TOKEN for tokens that are not a live refresh token', () => {
      let s: Session;
      beforeAll(async () => {
        s = await register(t, 'badrefresh');
      });

      const forge = (overrides: Record<string, unknown>, secret = TEST_REFRESH_SECRET): string => {
        const claims = unsignedClaims(s.refreshToken);
        return jwt.sign({ ...claims, ...overrides }, secret, {
          algorithm: 'HS256',
          issuer: 'crm-api',
          expiresIn: 3600,
        });
      };
      const cases: [string, () => string][] = [
        ['garbage', () => 'garbage'],
        ['a JWT-shaped garbage string', () => 'aaaa.bbbb.cccc'],
        [
          'a tampered payload',
          () => {
            const [h, , sig] = s.refreshToken.split('.');
            const claims = claimsOf(s.refreshToken);
            return `${h}.${b64url({ ...claims, fam: randomUUID() })}.${sig}`;
          },
        ],
        ['a tampered signature', () => `${s.refreshToken.slice(0, -4)}AAAA`],
        ['an access token', () => s.accessToken],
        [
          'an alg:none token',
          () => `${b64url({ alg: 'none', typ: 'JWT' })}.${s.refreshToken.split('.')[1]}.`,
        ],
        ['a token signed with the access secret', () => forge({}, TEST_ACCESS_SECRET)],
        ['a well-signed token with an unknown jti', () => forge({ jti: randomUUID() })],
        ['a well-signed token whose jti is not a UUID', () => forge({ jti: 'nope' })],
        ['a well-signed token whose sub is not a UUID', () => forge({ sub: 'nope' })],
        [
          'a well-signed token without exp',
          () =>
            jwt.sign(unsignedClaims(s.refreshToken), TEST_REFRESH_SECRET, {
              algorithm: 'HS256',
              issuer: 'crm-api',
            }),
        ],
        [
          'a well-signed but expired token',
          () => {
            const claims = unsignedClaims(s.refreshToken);
            const now = Math.floor(Date.now() / 1000);
            return jwt.sign({ ...claims, iat: now - 100, exp: now - 10 }, TEST_REFRESH_SECRET, {
              algorithm: 'HS256',
              issuer: 'crm-api',
            });
          },
        ],
      ];

      it.each(cases)('%s', async (_case, token) => {
        const res = await refresh(token());
        expectError(res, 401, 'INVALID_REFRESH_TOKEN');
        expectPlainError(res);
      });

      it('and none of these attempts revoked the genuine token', async () => {
        expect((await refresh(s.refreshToken)).status).toBe(200);
      });
    });

    it('answers 400 VALIDATION_FAILED for a missing or non-string refreshToken', async () => {
      expectValidation(await t.http().post(`${AUTH}/refresh`).send({}), 'refreshToken');
      expectValidation(await refresh(12345), 'refreshToken');
    });

    it('of two concurrent refreshes with one token exactly one succeeds', async () => {
      const s = await register(t, 'concurrent');
      const results = await Promise.all([refresh(s.refreshToken), refresh(s.refreshToken)]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
      expectError(
        results.find((r) => r.status === 401)!,
        401,
        'INVALID_REFRESH_TOKEN',
      );
    });
  });

  describe('POST /auth/logout', () => {
    it('needs a Bearer access token (401 UNAUTHENTICATED), and then revokes nothing', async () => {
      const s = await register(t, 'logoutanon');
      const res = await t.http().post(`${AUTH}/logout`).send({ refreshToken: s.refreshToken });
      expectError(res, 401, 'UNAUTHENTICATED');
      const asRefresh = await t
        .http()
        .post(`${AUTH}/logout`)
        .set('Authorization', `Bearer ${s.refreshToken}`)
        .send({ refreshToken: s.refreshToken });
      expectError(asRefresh, 401, 'UNAUTHENTICATED');
      expect((await refresh(s.refreshToken)).status).toBe(200);
    });

    it('answers 204 and revokes the chain of that login; other logins keep working', async () => {
      const s = await register(t, 'logout');
      const otherLogin = pairOf(await login(s.email));
      const rotated = pairOf(await refresh(s.refreshToken));

      const res = await logout(s, rotated.refreshToken);
      expect(res.status).toBe(204);
      expect(res.text).toBe('');

      expectError(await refresh(rotated.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
      expectError(await refresh(s.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
      const rows = await familyRows(rotated.refreshToken);
      expect(rows).toHaveLength(2);
      expect(rows.every((r) => r.revoked_at !== null)).toBe(true);
      // Logging out twice with the same token: it is no longer valid.
      expectError(await logout(s, rotated.refreshToken), 401, 'INVALID_REFRESH_TOKEN');

      expect((await refresh(otherLogin.refreshToken)).status).toBe(200);
    });

    it("answers 401 INVALID_REFRESH_TOKEN for another user's refresh token and leaves it valid", async () => {
      const alice = await register(t, 'alice');
      const bob = await register(t, 'bob');
      expectError(await logout(alice, bob.refreshToken), 401, 'INVALID_REFRESH_TOKEN');
      expect((await refresh(bob.refreshToken)).status).toBe(200);
      expect((await refresh(alice.refreshToken)).status).toBe(200);
    });

    it('answers 400 VALIDATION_FAILED for a missing refreshToken', async () => {
      const s = await register(t, 'logoutval');
      expectValidation(await t.http().post(`${AUTH}/logout`).set(as(s)).send({}), 'refreshToken');
    });
  });

  describe('access tokens on a protected route (GET /users/me)', () => {
    let s: Session;
    let victim: Session;
    const now = (): number => Math.floor(Date.now() / 1000);
    const sign = (
      claims: Record<string, unknown>,
      secret: string,
      options: jwt.SignOptions = {},
    ): string =>
      jwt.sign(claims, secret, {
        algorithm: 'HS256',
        issuer: 'crm-api',
        expiresIn: 900,
        ...options,
      });

    beforeAll(async () => {
      s = await register(t, 'jwt');
      victim = await register(t, 'victim');
    });

    it('a valid access token answers 200 (the control for the cases below)', async () => {
      const res = await me(`Bearer ${s.accessToken}`);
      expect(res.status).toBe(200);
      expect((res.body as { id: string }).id).toBe(s.userId);
      // A token we sign ourselves exactly like the server does is accepted too, so each forged
      // case below fails for the one property it changes.
      const own = await me(`Bearer ${sign({ sub: s.userId, typ: 'access' }, TEST_ACCESS_SECRET)}`);
      expect(own.status).toBe(200);
      expect((own.body as { id: string }).id).toBe(s.userId);
    });

    const cases: [string, () => string | undefined][] = [
      ['no Authorization header', () => undefined],
      ['"Bearer" alone', () => 'Bearer'],
      ['"Bearer " with an empty token', () => 'Bearer '],
      ['a Basic scheme', () => 'Basic dXNlcjpwYXNzd29yZA=='],
      ['the token without a scheme', () => s.accessToken],
      [
        'an alg:none token with real claims and no signature',
        () => `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${s.accessToken.split('.')[1]}.`,
      ],
      [
        'a tampered payload (sub changed, signature kept)',
        () => {
          const [h, , sig] = s.accessToken.split('.');
          return `Bearer ${h}.${b64url({ ...claimsOf(s.accessToken), sub: victim.userId })}.${sig}`;
        },
      ],
      [
        'a token signed with another secret',
        () =>
          `Bearer ${sign({ sub: s.userId, typ: 'access' }, 'another-secret-0123456789-abcdefghijklmn')}`,
      ],
      [
        'a token signed with the refresh secret (typ access)',
        () => `Bearer ${sign({ sub: s.userId, typ: 'access' }, TEST_REFRESH_SECRET)}`,
      ],
      [
        'an expired token',
        () =>
          `Bearer ${sign({ sub: s.userId, typ: 'access', iat: now() - 100 }, TEST_ACCESS_SECRET, { expiresIn: 60 })}`,
      ],
      ['a refresh token', () => `Bearer ${s.refreshToken}`],
      [
        'an HS512 token with the right secret',
        () =>
          `Bearer ${sign({ sub: s.userId, typ: 'access' }, TEST_ACCESS_SECRET, { algorithm: 'HS512' })}`,
      ],
      [
        'a token of another issuer',
        () =>
          `Bearer ${sign({ sub: s.userId, typ: 'access' }, TEST_ACCESS_SECRET, { issuer: 'evil' })}`,
      ],
      [
        'a token with typ refresh signed with the access secret',
        () => `Bearer ${sign({ sub: s.userId, typ: 'refresh' }, TEST_ACCESS_SECRET)}`,
      ],
      ['a token without typ', () => `Bearer ${sign({ sub: s.userId }, TEST_ACCESS_SECRET)}`],
      // Issue 10: claims of the wrong shape, signed with the right secret.
      [
        'a token whose sub is not a UUID',
        () => `Bearer ${sign({ sub: 'not-a-uuid', typ: 'access' }, TEST_ACCESS_SECRET)}`,
      ],
      [
        'a token whose sub is a number',
        () => `Bearer ${sign({ sub: 42, typ: 'access' }, TEST_ACCESS_SECRET)}`,
      ],
      [
        'a token without exp (it would never expire)',
        () =>
          `Bearer ${jwt.sign({ sub: s.userId, typ: 'access' }, TEST_ACCESS_SECRET, { algorithm: 'HS256', issuer: 'crm-api' })}`,
      ],
      [
        'a token without iat',
        () =>
          `Bearer ${jwt.sign({ sub: s.userId, typ: 'access', exp: now() + 900 }, TEST_ACCESS_SECRET, { algorithm: 'HS256', issuer: 'crm-api', noTimestamp: true })}`,
      ],
      [
        'a token without iss',
        () =>
          `Bearer ${jwt.sign({ sub: s.userId, typ: 'access' }, TEST_ACCESS_SECRET, { algorithm: 'HS256', expiresIn: 900 })}`,
      ],
      [
        'a token with a string exp',
        () =>
          // jsonwebtoken refuses to sign a string exp: the payload goes in as a JSON string.
          `Bearer ${jwt.sign(JSON.stringify({ sub: s.userId, typ: 'access', iss: 'crm-api', iat: now(), exp: String(now() + 900) }), TEST_ACCESS_SECRET, { algorithm: 'HS256' })}`,
      ],
    ];

    it.each(cases)('%s -> 401 UNAUTHENTICATED', async (_case, header) => {
      const res = await me(header());
      expectError(res, 401, 'UNAUTHENTICATED');
      expectPlainError(res);
    });

    it('a token with a non-UUID sub on a tenant route is 401, and the server keeps serving', async () => {
      const token = sign({ sub: "x' OR 1=1 --", typ: 'access' }, TEST_ACCESS_SECRET);
      const res = await t
        .http()
        .get('/api/v1/contacts')
        .set({ authorization: `Bearer ${token}`, 'x-organization-id': s.organizationId });
      expectError(res, 401, 'UNAUTHENTICATED');
      expect((await t.http().get('/api/v1/health')).status).toBe(200);
    });
  });

  describe('audit log', () => {
    const USER_AGENT = 'auth-e2e-agent/1.0 (+audit)';
    const ua = { 'User-Agent': USER_AGENT };

    async function rowsFor(res: Response): Promise<AuditRow[]> {
      const requestId: unknown = res.headers['x-request-id'];
      expect(requestId).toEqual(expect.any(String));
      return await t.db.query<AuditRow[]>(
        `SELECT action, actor_user_id, ip, user_agent, request_id, created_at
           FROM audit_logs WHERE request_id = $1 ORDER BY created_at`,
        [requestId],
      );
    }

    it('records every auth event with user, address, user agent, request id and time', async () => {
      const started = Date.now();
      const email = uniqueEmail('audit');
      const unknownEmail = uniqueEmail('ghost');

      const registered = await postRegister(registerBody({ email }), ua);
      expect(registered.status).toBe(201);
      const reg = registered.body as { user: { id: string } } & TokenPair;
      const userId = reg.user.id;

      const loggedIn = await login(email, PASSWORD, ua);
      expect(loggedIn.status).toBe(200);
      const failed = await login(email, 'wrong-password-1', ua);
      expect(failed.status).toBe(401);
      const failedUnknown = await login(unknownEmail, PASSWORD, ua);
      expect(failedUnknown.status).toBe(401);
      const refreshed = await refresh(pairOf(loggedIn).refreshToken, ua);
      expect(refreshed.status).toBe(200);
      const reused = await refresh(pairOf(loggedIn).refreshToken, ua);
      expect(reused.status).toBe(401);
      const loggedOut = await logout(reg, reg.refreshToken, ua);
      expect(loggedOut.status).toBe(204);
      const finished = Date.now();

      const expected: [Response, string, string | null][] = [
        [registered, 'user_registered', userId],
        [loggedIn, 'login_succeeded', userId],
        [failed, 'login_failed', userId],
        [failedUnknown, 'login_failed', null],
        [refreshed, 'token_refreshed', userId],
        [reused, 'refresh_token_reused', userId],
        [loggedOut, 'logged_out', userId],
      ];
      for (const [res, action, actor] of expected) {
        const rows = (await rowsFor(res)).filter((r) => r.action === action);
        expect(rows).toHaveLength(1);
        const [row] = rows;
        expect(row).toEqual({
          action,
          actor_user_id: actor,
          ip: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/),
          user_agent: USER_AGENT,
          request_id: res.headers['x-request-id'],
          created_at: expect.any(Date),
        });
        expect(row.created_at.getTime()).toBeGreaterThanOrEqual(started - 5000);
        expect(row.created_at.getTime()).toBeLessThanOrEqual(finished + 5000);
      }

      // One row per event, and no other auth events for this user.
      const perAction = await t.db.query<{ action: string; n: number }[]>(
        `SELECT action, count(*)::int AS n FROM audit_logs
          WHERE actor_user_id = $1 AND action = ANY($2) GROUP BY action ORDER BY action`,
        [
          userId,
          [
            'user_registered',
            'login_succeeded',
            'login_failed',
            'token_refreshed',
            'refresh_token_reused',
            'logged_out',
          ],
        ],
      );
      expect(perAction).toEqual([
        { action: 'logged_out', n: 1 },
        { action: 'login_failed', n: 1 },
        { action: 'login_succeeded', n: 1 },
        { action: 'refresh_token_reused', n: 1 },
        { action: 'token_refreshed', n: 1 },
        { action: 'user_registered', n: 1 },
      ]);
    });
  });

  describe('X-Request-Id (API.md section 1)', () => {
    it('echoes a valid client value in the header and in error bodies', async () => {
      const id = 'abc-123.x:y_z';
      const ok = await t.http().get('/api/v1/health').set('X-Request-Id', id);
      expect(ok.status).toBe(200);
      expect(ok.headers['x-request-id']).toBe(id);

      const failed = await login(uniqueEmail('reqid'), PASSWORD, { 'X-Request-Id': id });
      expectError(failed, 401, 'INVALID_CREDENTIALS');
      expect(failed.headers['x-request-id']).toBe(id);
      expect(errorOf(failed).requestId).toBe(id);

      const long = 'a'.repeat(128);
      const unauth = await t.http().get(ME).set('X-Request-Id', long);
      expectError(unauth, 401, 'UNAUTHENTICATED');
      expect(errorOf(unauth).requestId).toBe(long);
    });

    it.each([
      ['containing a space', 'abc 123'],
      ['of 129 characters', 'a'.repeat(129)],
      ['containing a slash', 'abc/123'],
      ['that is empty', ''],
    ])('replaces a value %s by a generated UUID', async (_case, id) => {
      const res = await t.http().get(ME).set('X-Request-Id', id);
      expectError(res, 401, 'UNAUTHENTICATED');
      expect(res.headers['x-request-id']).toMatch(UUID);
      expect(errorOf(res).requestId).toBe(res.headers['x-request-id']);
    });

    it('generates a distinct UUID when the client sends none', async () => {
      const [a, b] = await Promise.all([t.http().get(ME), t.http().get(ME)]);
      expect(a.headers['x-request-id']).toMatch(UUID);
      expect(b.headers['x-request-id']).toMatch(UUID);
      expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    });
  });
});
