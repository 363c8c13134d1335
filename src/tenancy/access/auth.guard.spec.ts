import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Authenticated, Can, Public } from './access.decorator';
import type { ApiKeyAuthenticator } from '../api-keys';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { AuthGuard, VerifiedTokens } from './auth.guard';

class Routes {
  @Public() open(): void {}
  @Authenticated() signedIn(): void {}
  @Can() tenant(): void {}
  undeclared(): void {}
}

@Public()
class PublicRoutes {
  health(): void {}
}

function contextFor(handler: () => void, cls: object): ExecutionContext {
  return {
    getHandler: () => handler,
    getClass: () => cls,
    switchToHttp: () => ({ getRequest: () => ({ headers: {} }), getResponse: () => ({}) }),
  } as unknown as ExecutionContext;
}

/** No API key is known (the key path is covered end to end in test/api-keys.e2e-spec.ts). */
const noKeys = { authenticate: () => Promise.resolve(null) } as unknown as ApiKeyAuthenticator;

describe('AuthGuard', () => {
  const guard = new AuthGuard(new Reflector(), noKeys);
  /** The passport guard AuthGuard extends: its canActivate runs the jwt strategy. */
  const passportGuard = Object.getPrototypeOf(AuthGuard.prototype) as {
    canActivate(context: ExecutionContext): Promise<boolean>;
  };

  afterEach(() => jest.restoreAllMocks());

  describe('canActivate', () => {
    it('returns true for a @Public() route without calling passport', async () => {
      const passport = jest.spyOn(passportGuard, 'canActivate');
      await expect(
        Promise.resolve(guard.canActivate(contextFor(Routes.prototype.open, Routes))),
      ).resolves.toBe(true);
      expect(passport).not.toHaveBeenCalled();
    });

    it('returns true for a method of a @Public() class without calling passport', async () => {
      const passport = jest.spyOn(passportGuard, 'canActivate');
      await expect(
        Promise.resolve(guard.canActivate(contextFor(PublicRoutes.prototype.health, PublicRoutes))),
      ).resolves.toBe(true);
      expect(passport).not.toHaveBeenCalled();
    });

    it.each<keyof Routes>(['signedIn', 'tenant', 'undeclared'])(
      'delegates the %s route to passport',
      async (method) => {
        const passport = jest.spyOn(passportGuard, 'canActivate').mockResolvedValue(true);
        const context = contextFor(Routes.prototype[method], Routes);
        await expect(Promise.resolve(guard.canActivate(context))).resolves.toBe(true);
        expect(passport).toHaveBeenCalledTimes(1);
        expect(passport).toHaveBeenCalledWith(context);
      },
    );

    it('propagates a passport failure on a protected route', async () => {
      jest
        .spyOn(passportGuard, 'canActivate')
        .mockRejectedValue(AppException.unauthenticated('no token'));
      await expect(
        Promise.resolve(guard.canActivate(contextFor(Routes.prototype.signedIn, Routes))),
      ).rejects.toBeInstanceOf(AppException);
    });
  });

  describe('verified tokens', () => {
    const user = { id: 'a0b1c2d3-0000-4000-8000-000000000002' };
    const tokenExpiringAt = (exp: number | undefined): string =>
      `h.${Buffer.from(JSON.stringify({ sub: user.id, exp })).toString('base64url')}.sig`;
    const signedIn = (token: string): [ExecutionContext, { user?: unknown }] => {
      const request: { headers: Record<string, string>; user?: unknown } = {
        headers: { authorization: `Bearer ${token}` },
      };
      const context = {
        getHandler: () => Routes.prototype.signedIn,
        getClass: () => Routes,
        switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}) }),
      } as unknown as ExecutionContext;
      return [context, request];
    };

    it('a token verified once is not verified again until it expires', async () => {
      const fresh = new AuthGuard(new Reflector(), noKeys);
      const passport = jest
        .spyOn(passportGuard, 'canActivate')
        .mockImplementation((context: ExecutionContext) => {
          context.switchToHttp().getRequest<{ user?: unknown }>().user = user;
          return Promise.resolve(true);
        });
      const token = tokenExpiringAt(Math.floor(Date.now() / 1000) + 900);
      for (let i = 0; i < 3; i += 1) {
        const [context, request] = signedIn(token);
        await expect(Promise.resolve(fresh.canActivate(context))).resolves.toBe(true);
        expect(request.user).toBe(user);
      }
      expect(passport).toHaveBeenCalledTimes(1);
      // Another token is verified on its own.
      await fresh.canActivate(signedIn(tokenExpiringAt(Math.floor(Date.now() / 1000) + 60))[0]);
      expect(passport).toHaveBeenCalledTimes(2);
    });

    it('a refused token is never remembered', async () => {
      const fresh = new AuthGuard(new Reflector(), noKeys);
      const passport = jest
        .spyOn(passportGuard, 'canActivate')
        .mockRejectedValue(AppException.unauthenticated('bad'));
      const token = tokenExpiringAt(Math.floor(Date.now() / 1000) + 900);
      for (let i = 0; i < 2; i += 1) {
        await expect(Promise.resolve(fresh.canActivate(signedIn(token)[0]))).rejects.toBeInstanceOf(
          AppException,
        );
      }
      expect(passport).toHaveBeenCalledTimes(2);
    });

    it('honours exp on a hit, keeps no token without exp, and stays bounded', () => {
      const tokens = new VerifiedTokens(2);
      const now = Date.now();
      const soon = tokenExpiringAt(Math.floor(now / 1000) + 10);
      tokens.add(soon, user);
      expect(tokens.get(soon, now)).toBe(user);
      expect(tokens.get(soon, now + 11_000)).toBeUndefined();
      expect(tokens.get(soon, now)).toBeUndefined(); // dropped on the expired hit
      const noExp = tokenExpiringAt(undefined);
      tokens.add(noExp, user);
      expect(tokens.get(noExp, now)).toBeUndefined();
      const [a, b, c] = [1, 2, 3].map((n) => tokenExpiringAt(Math.floor(now / 1000) + 100 + n));
      tokens.add(a, user);
      tokens.add(b, user);
      tokens.add(c, user);
      expect([a, b, c].map((t) => tokens.get(t, now) !== undefined)).toEqual([false, true, true]);
    });
  });

  describe('handleRequest', () => {
    const user = { id: 'a0b1c2d3-0000-4000-8000-000000000001' };

    it('returns the user', () => {
      expect(guard.handleRequest(null, user)).toBe(user);
    });

    it.each<[string, unknown, unknown]>([
      ['an error', new Error('jwt expired'), user],
      ['an error and no user', new Error('invalid signature'), false],
      ['no user', null, false],
      ['an undefined user', undefined, undefined],
    ])('throws 401 UNAUTHENTICATED on %s', (_, err, candidate) => {
      let thrown: unknown;
      try {
        guard.handleRequest(err, candidate as false);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(AppException);
      expect((thrown as AppException).status).toBe(401);
      expect((thrown as AppException).code).toBe(ErrorCode.UNAUTHENTICATED);
      expect((thrown as AppException).message).not.toContain('jwt expired');
      expect((thrown as AppException).message).not.toContain('invalid signature');
    });
  });
});
