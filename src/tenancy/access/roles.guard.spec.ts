import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Role } from '../role';
import { Authenticated, Public, Roles } from './access.decorator';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { RolesGuard } from './roles.guard';

class Routes {
  @Public() open(): void {}
  @Authenticated() signedIn(): void {}
  @Roles(Role.OWNER, Role.ADMIN) adminOnly(): void {}
  @Roles() anyRole(): void {}
  undeclared(): void {}
}

@Roles(Role.MANAGER)
class ManagerRoutes {
  inherited(): void {}
  @Public() overridden(): void {}
}

type Handler<T> = { [K in keyof T]: T[K] extends () => void ? K : never }[keyof T];

function contextFor<T>(
  cls: new () => T,
  method: Handler<T>,
  req: Record<string, unknown> = {},
): ExecutionContext {
  return {
    getHandler: () => cls.prototype[method] as () => void,
    getClass: () => cls,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({}) }),
  } as unknown as ExecutionContext;
}

const member = (role: Role) => ({
  membership: { organizationId: '6f1c1c1e-1111-4222-8333-944455556666', role },
});

function thrownBy(fn: () => unknown): AppException {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppException);
    return e as AppException;
  }
  throw new Error('expected an AppException');
}

describe('RolesGuard', () => {
  const guard = new RolesGuard(new Reflector());

  it('lets @Public() routes through without a membership', () => {
    expect(guard.canActivate(contextFor(Routes, 'open'))).toBe(true);
  });

  it('lets @Authenticated() routes through without a membership', () => {
    expect(guard.canActivate(contextFor(Routes, 'signedIn'))).toBe(true);
  });

  it.each([Role.OWNER, Role.ADMIN])('admits the allowed role %s', (role) => {
    expect(guard.canActivate(contextFor(Routes, 'adminOnly', member(role)))).toBe(true);
  });

  it.each([Role.MANAGER, Role.MEMBER])('refuses the disallowed role %s with FORBIDDEN', (role) => {
    const error = thrownBy(() => guard.canActivate(contextFor(Routes, 'adminOnly', member(role))));
    expect(error.status).toBe(403);
    expect(error.code).toBe(ErrorCode.FORBIDDEN);
  });

  it('refuses a tenant route when no membership was loaded', () => {
    const error = thrownBy(() => guard.canActivate(contextFor(Routes, 'adminOnly')));
    expect(error.status).toBe(403);
    expect(error.code).toBe(ErrorCode.FORBIDDEN);
  });

  it.each([Role.OWNER, Role.ADMIN, Role.MANAGER, Role.MEMBER])(
    '@Roles() with no argument admits %s',
    (role) => {
      expect(guard.canActivate(contextFor(Routes, 'anyRole', member(role)))).toBe(true);
    },
  );

  it('fails closed on a route without an access rule', () => {
    const error = thrownBy(() =>
      guard.canActivate(contextFor(Routes, 'undeclared', member(Role.OWNER))),
    );
    expect(error.status).toBe(403);
    expect(error.code).toBe(ErrorCode.FORBIDDEN);
    expect(error.message).toBe('This route declares no access rule');
  });

  it('applies a class-level rule to undecorated methods', () => {
    expect(guard.canActivate(contextFor(ManagerRoutes, 'inherited', member(Role.MANAGER)))).toBe(
      true,
    );
    const error = thrownBy(() =>
      guard.canActivate(contextFor(ManagerRoutes, 'inherited', member(Role.OWNER))),
    );
    expect(error.code).toBe(ErrorCode.FORBIDDEN);
  });

  it('lets a method rule override the class rule', () => {
    expect(guard.canActivate(contextFor(ManagerRoutes, 'overridden'))).toBe(true);
  });
});
