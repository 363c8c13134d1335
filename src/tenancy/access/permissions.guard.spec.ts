import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppException } from '../../common/errors/app.exception';
import { Grants } from '../permissions';
import { Role } from '../role';
import { Authenticated, Can, Public } from './access.decorator';
import { PermissionsGuard } from './permissions.guard';

class Routes {
  @Public() open(): void {}
  @Authenticated() signedIn(): void {}
  @Can('organization:update') settings(): void {}
  @Can('contacts:read', 'export:read') exportContacts(): void {}
  @Can('api_keys:read') keys(): void {}
  @Can() anyMember(): void {}
  undeclared(): void {}
}

function run(method: keyof Routes, req: Record<string, unknown>): boolean {
  const context = {
    getHandler: () => Routes.prototype[method],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req }),
  } as unknown as ExecutionContext;
  return new PermissionsGuard(new Reflector()).canActivate(context);
}

const as = (role: Role, apiKeyId?: string): Record<string, unknown> => ({
  membership: { organizationId: 'o', role, grants: Grants.of(role), apiKeyId },
});

describe('PermissionsGuard', () => {
  it('lets public and signed-in routes through, refuses a route without a rule', () => {
    expect(run('open', {})).toBe(true);
    expect(run('signedIn', {})).toBe(true);
    expect(() => run('undeclared', {})).toThrow(AppException);
  });

  it('requires every permission the route names, and records the first', () => {
    const admin = as(Role.ADMIN);
    expect(run('settings', admin)).toBe(true);
    expect(admin.requirement).toEqual({ resource: 'organization', action: 'update' });
    expect(() => run('settings', as(Role.MANAGER))).toThrow(AppException);
    expect(run('exportContacts', as(Role.MEMBER))).toBe(true);
    expect(run('anyMember', as(Role.MEMBER))).toBe(true);
    expect(() => run('anyMember', {})).toThrow(AppException);
  });

  it('never lets an API key manage API keys', () => {
    expect(run('keys', as(Role.OWNER))).toBe(true);
    expect(() => run('keys', as(Role.OWNER, 'key-id'))).toThrow(AppException);
  });
});
