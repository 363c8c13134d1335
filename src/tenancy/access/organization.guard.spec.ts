import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { MembershipService } from '../membership.service';
import { Role } from '../role';
import { Authenticated, Can, Public } from './access.decorator';
import { Grants } from '../permissions';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { OrganizationGuard } from './organization.guard';

class Routes {
  @Public() open(): void {}
  @Authenticated() signedIn(): void {}
  @Can('contacts:read') tenant(): void {}
  undeclared(): void {}
}

interface FakeRequest {
  headers: Record<string, string | string[] | undefined>;
  user?: { id: string };
  membership?: { organizationId: string; role: string; grants: Grants };
}

function contextFor(method: keyof Routes, req: FakeRequest): ExecutionContext {
  return {
    getHandler: () => Routes.prototype[method],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({}) }),
  } as unknown as ExecutionContext;
}

const ORG = '6f1c1c1e-1111-4222-8333-944455556666';
const USER = 'a0b1c2d3-0000-4000-8000-000000000001';

describe('OrganizationGuard', () => {
  let roleOf: ReturnType<typeof newRoleOf>;
  let guard: OrganizationGuard;
  const newRoleOf = () =>
    jest.fn<(userId: string, organizationId: string) => Promise<Role | null>>();

  beforeEach(() => {
    roleOf = newRoleOf();
    const accessOf = async (userId: string, organizationId: string) => {
      const role = await roleOf(userId, organizationId);
      return role ? { role, grants: Grants.of(role) } : null;
    };
    guard = new OrganizationGuard(new Reflector(), { accessOf } as unknown as MembershipService);
  });

  const request = (headers: FakeRequest['headers']): FakeRequest => ({
    headers,
    user: { id: USER },
  });

  it.each<keyof Routes>(['open', 'signedIn', 'undeclared'])(
    'lets the non-tenant route %s through without reading the header or memberships',
    async (method) => {
      const req: FakeRequest = { headers: {} };
      await expect(guard.canActivate(contextFor(method, req))).resolves.toBe(true);
      expect(roleOf).not.toHaveBeenCalled();
      expect(req.membership).toBeUndefined();
    },
  );

  it.each<[string, string | string[] | undefined]>([
    ['missing', undefined],
    ['empty', ''],
    ['not a UUID', 'acme'],
    ['a UUID with extra characters', `${ORG}x`],
    ['a UUID in braces', `{${ORG}}`],
    ['a UUID without dashes', ORG.replace(/-/g, '')],
    ['repeated', [ORG, ORG]],
  ])('refuses a header that is %s with 400 INVALID_ORGANIZATION_HEADER', async (_, header) => {
    const req = request(header === undefined ? {} : { 'x-organization-id': header });
    const error = await guard.canActivate(contextFor('tenant', req)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppException);
    expect((error as AppException).status).toBe(400);
    expect((error as AppException).code).toBe(ErrorCode.INVALID_ORGANIZATION_HEADER);
    expect(roleOf).not.toHaveBeenCalled();
    expect(req.membership).toBeUndefined();
  });

  it('refuses a caller who is not a member with 403 NOT_A_MEMBER', async () => {
    roleOf.mockResolvedValue(null);
    const req = request({ 'x-organization-id': ORG });
    const error = await guard.canActivate(contextFor('tenant', req)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppException);
    expect((error as AppException).status).toBe(403);
    expect((error as AppException).code).toBe(ErrorCode.NOT_A_MEMBER);
    expect(roleOf).toHaveBeenCalledWith(USER, ORG);
    expect(req.membership).toBeUndefined();
  });

  it('sets req.membership with the lower-cased organization id for a member', async () => {
    roleOf.mockResolvedValue(Role.MEMBER);
    const req = request({ 'x-organization-id': ORG.toUpperCase() });
    await expect(guard.canActivate(contextFor('tenant', req))).resolves.toBe(true);
    expect(roleOf).toHaveBeenCalledTimes(1);
    expect(roleOf).toHaveBeenCalledWith(USER, ORG);
    expect(req.membership).toEqual({
      organizationId: ORG,
      role: Role.MEMBER,
      grants: Grants.of(Role.MEMBER),
    });
  });

  it('leaves permission checks to the PermissionsGuard (a member of any role passes)', async () => {
    roleOf.mockResolvedValue(Role.MANAGER);
    const req = request({ 'x-organization-id': ORG });
    await expect(guard.canActivate(contextFor('tenant', req))).resolves.toBe(true);
    expect(req.membership).toMatchObject({ organizationId: ORG, role: Role.MANAGER });
  });
});
