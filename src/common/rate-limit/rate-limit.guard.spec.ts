import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type AppConfig, loadConfig } from '../../config/app-config';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';
import { LoginRateLimit, RateLimitGuard } from './rate-limit.guard';
import { MemoryRateLimitStore, type RateLimitHit, type RateLimitStore } from './rate-limit.store';

class AuthRoutes {
  @LoginRateLimit() login(): void {}
  register(): void {}
}

interface FakeRequest {
  ip: string;
  user?: { id: string };
  body?: unknown;
}

function fakeReply() {
  const reply = { header: jest.fn<(name: string, value: string) => unknown>() };
  reply.header.mockReturnValue(reply);
  return reply;
}

function contextFor(
  method: keyof AuthRoutes,
  req: FakeRequest,
  reply = fakeReply(),
): ExecutionContext {
  return {
    getHandler: () => AuthRoutes.prototype[method],
    getClass: () => AuthRoutes,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => reply }),
  } as unknown as ExecutionContext;
}

async function rejection(promise: Promise<unknown>): Promise<AppException> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppException);
  return error as AppException;
}

describe('RateLimitGuard', () => {
  let dataDir: string;
  let config: AppConfig;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'crm-rate-limit-spec-'));
    config = loadConfig({
      NODE_ENV: 'test',
      JWT_ACCESS_SECRET: 'access-secret-for-rate-limit-tests',
      JWT_REFRESH_SECRET: 'refresh-secret-for-rate-limit-tests',
      DATA_DIR: dataDir,
      RATE_LIMIT_USER_PER_MINUTE: '3',
      RATE_LIMIT_LOGIN_PER_MINUTE: '2',
    });
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  describe('keys (fake store)', () => {
    let hit: ReturnType<typeof jest.fn<RateLimitStore['hit']>>;
    let guard: RateLimitGuard;

    beforeEach(() => {
      hit = jest.fn<RateLimitStore['hit']>();
      hit.mockResolvedValue({ count: 1, resetInMs: 60_000 });
      guard = new RateLimitGuard(new Reflector(), { hit }, config);
    });

    it('counts an anonymous caller per client address, in one-minute windows', async () => {
      await expect(guard.canActivate(contextFor('register', { ip: '10.0.0.1' }))).resolves.toBe(
        true,
      );
      expect(hit.mock.calls).toEqual([['all:ip:10.0.0.1', 60_000]]);
    });

    it('counts a signed-in caller per user, not per address', async () => {
      await guard.canActivate(contextFor('register', { ip: '10.0.0.1', user: { id: 'u-1' } }));
      expect(hit.mock.calls).toEqual([['all:user:u-1', 60_000]]);
    });

    it('adds a login key of the trimmed, lower-cased email and the address', async () => {
      const req = { ip: '10.0.0.1', body: { email: '  Alice@Example.COM ', password: 'pw' } };
      await expect(guard.canActivate(contextFor('login', req))).resolves.toBe(true);
      expect(hit.mock.calls).toEqual([
        ['all:ip:10.0.0.1', 60_000],
        ['login:alice@example.com|10.0.0.1', 60_000],
      ]);
    });

    it.each<[string, unknown]>([
      ['no body', undefined],
      ['no email', { password: 'pw' }],
      ['a non-string email', { email: ['a@example.com'] }],
    ])('uses an empty email in the login key for %s', async (_, body) => {
      await guard.canActivate(contextFor('login', { ip: '10.0.0.2', body }));
      expect(hit.mock.calls[1]).toEqual(['login:|10.0.0.2', 60_000]);
    });

    it('does not apply the login limit to routes without @LoginRateLimit()', async () => {
      await guard.canActivate(
        contextFor('register', { ip: '10.0.0.1', body: { email: 'alice@example.com' } }),
      );
      expect(hit).toHaveBeenCalledTimes(1);
    });

    it.each<[RateLimitHit, string]>([
      [{ count: 4, resetInMs: 1500 }, '2'],
      [{ count: 4, resetInMs: 60_000 }, '60'],
      [{ count: 100, resetInMs: 0 }, '1'],
    ])('over the limit (%j) answers 429 with Retry-After %s', async (result, retryAfter) => {
      hit.mockResolvedValue(result);
      const reply = fakeReply();
      const error = await rejection(
        guard.canActivate(contextFor('register', { ip: '10.0.0.1' }, reply)),
      );
      expect(error.status).toBe(429);
      expect(error.code).toBe(ErrorCode.RATE_LIMITED);
      expect(reply.header).toHaveBeenCalledWith('Retry-After', retryAfter);
    });

    it('sets no Retry-After at the limit, and the RateLimit-* headers of the tightest limit', async () => {
      hit.mockResolvedValue({ count: 3, resetInMs: 1000 });
      const reply = fakeReply();
      await expect(
        guard.canActivate(contextFor('register', { ip: '10.0.0.1' }, reply)),
      ).resolves.toBe(true);
      expect(reply.header).not.toHaveBeenCalledWith('Retry-After', expect.anything());
      expect(reply.header).toHaveBeenCalledWith('RateLimit-Remaining', '0');
      expect(reply.header).toHaveBeenCalledWith('RateLimit-Reset', '1');
    });
  });

  describe('limits (memory store)', () => {
    let guard: RateLimitGuard;

    // A frozen clock: the one-minute windows cannot end (or Retry-After drift) mid-test.
    beforeEach(() => {
      jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
      guard = new RateLimitGuard(new Reflector(), new MemoryRateLimitStore(), config);
    });

    afterEach(() => {
      jest.useRealTimers();
    });

    it('refuses the request after RATE_LIMIT_USER_PER_MINUTE from one address', async () => {
      for (let i = 0; i < 3; i++) {
        await expect(guard.canActivate(contextFor('register', { ip: '10.0.0.1' }))).resolves.toBe(
          true,
        );
      }
      const reply = fakeReply();
      const error = await rejection(
        guard.canActivate(contextFor('register', { ip: '10.0.0.1' }, reply)),
      );
      expect(error.status).toBe(429);
      expect(error.code).toBe(ErrorCode.RATE_LIMITED);
      expect(reply.header).toHaveBeenCalledWith('Retry-After', '60');

      // Another address, and a signed-in user behind the same address, have their own counters.
      await expect(guard.canActivate(contextFor('register', { ip: '10.0.0.9' }))).resolves.toBe(
        true,
      );
      await expect(
        guard.canActivate(contextFor('register', { ip: '10.0.0.1', user: { id: 'u-1' } })),
      ).resolves.toBe(true);
    });

    it('refuses login attempts after RATE_LIMIT_LOGIN_PER_MINUTE per email and address', async () => {
      const attempt = (email: string, ip = '10.0.0.1', reply = fakeReply()) =>
        guard.canActivate(contextFor('login', { ip, body: { email } }, reply));

      await expect(attempt('bob@example.com')).resolves.toBe(true);
      await expect(attempt(' BOB@example.com')).resolves.toBe(true);
      const reply = fakeReply();
      const error = await rejection(attempt('Bob@Example.com  ', '10.0.0.1', reply));
      expect(error.code).toBe(ErrorCode.RATE_LIMITED);
      expect(error.status).toBe(429);
      expect(reply.header).toHaveBeenCalledWith('Retry-After', '60');

      // The same email from another address is not limited.
      await expect(attempt('bob@example.com', '10.0.0.2')).resolves.toBe(true);
    });

    it('lets login attempts through again once the minute has passed', async () => {
      const attempt = () =>
        guard.canActivate(contextFor('login', { ip: '10.0.0.4', body: { email: 'eve@x.io' } }));
      await attempt();
      await attempt();
      jest.advanceTimersByTime(30_000);
      const reply = fakeReply();
      const error = await rejection(
        guard.canActivate(
          contextFor('login', { ip: '10.0.0.4', body: { email: 'eve@x.io' } }, reply),
        ),
      );
      expect(error.code).toBe(ErrorCode.RATE_LIMITED);
      expect(reply.header).toHaveBeenCalledWith('Retry-After', '30');
      jest.advanceTimersByTime(30_000);
      await expect(attempt()).resolves.toBe(true);
    });

    it('keeps another email from the same address under its own login limit', async () => {
      await guard.canActivate(
        contextFor('login', { ip: '10.0.0.3', body: { email: 'carol@example.com' } }),
      );
      await guard.canActivate(
        contextFor('login', { ip: '10.0.0.3', body: { email: 'carol@example.com' } }),
      );
      await expect(
        guard.canActivate(
          contextFor('login', { ip: '10.0.0.3', body: { email: 'dave@example.com' } }),
        ),
      ).resolves.toBe(true);
    });
  });
});
