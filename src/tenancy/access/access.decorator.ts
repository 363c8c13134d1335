import { applyDecorators, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiExtension, ApiHeader, ApiSecurity } from '@nestjs/swagger';
import type { Action, PermissionResource, Requirement } from '../permissions';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { ApiError } from '../../common/decorators/api-error.decorator';

export const ACCESS_KEY = 'crm:access';
export const ORGANIZATION_HEADER = 'x-organization-id';

/**
 * Who may call a route. Every route declares exactly one of these (a test enumerates the
 * routes and fails otherwise), and the guards refuse a route that declares none.
 */
export type AccessRule =
  | { kind: 'public' }
  | { kind: 'authenticated' }
  | { kind: 'tenant'; permissions: readonly Requirement[] };

/** A permission as routes name it: `resource:action` (API.md section 16). */
export type PermissionName = `${PermissionResource}:${Action}`;

/** The name of the OpenAPI security scheme of API keys (`Authorization: Bearer crm_...`). */
export const API_KEY_SCHEME = 'apiKey';

/** No token needed. */
export const Public = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS_KEY, { kind: 'public' } satisfies AccessRule);

/** A valid access token, no organization context (e.g. GET /users/me). */
export const Authenticated = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(ACCESS_KEY, { kind: 'authenticated' } satisfies AccessRule),
    ApiBearerAuth(),
    ApiError(401, [ErrorCode.UNAUTHENTICATED]),
  );

/**
 * Tenant-scoped: a valid access token (or API key), the X-Organization-Id header naming an
 * organization the caller belongs to, and every permission named here granted by the caller's
 * role there (API.md section 16). `@Can()` with no argument admits every member. The guards
 * check it before any handler runs; the first permission's scope also limits which records the
 * route may change (the unit of work reads it).
 */
export const Can = (...permissions: PermissionName[]): MethodDecorator & ClassDecorator => {
  const requirements = permissions.map((name): Requirement => {
    const [resource, action] = name.split(':') as [PermissionResource, Action];
    return { resource, action };
  });
  return applyDecorators(
    SetMetadata(ACCESS_KEY, { kind: 'tenant', permissions: requirements } satisfies AccessRule),
    ApiBearerAuth(),
    ApiSecurity(API_KEY_SCHEME),
    ApiExtension('x-permissions', permissions),
    ApiHeader({
      name: 'X-Organization-Id',
      required: false,
      description:
        'The organization (tenant) this request acts in; the caller must be a member. Required with an access token; optional with an API key (which is bound to its organization)',
      schema: { type: 'string', format: 'uuid' },
    }),
    ApiError(400, [ErrorCode.INVALID_ORGANIZATION_HEADER, ErrorCode.VALIDATION_FAILED]),
    ApiError(401, [ErrorCode.UNAUTHENTICATED]),
    ApiError(
      403,
      permissions.length ? [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN] : [ErrorCode.NOT_A_MEMBER],
    ),
  );
};

/** The access rule a route declares (on the handler, or on its controller). */
export function accessRuleOf(
  reflector: Reflector,
  context: ExecutionContext,
): AccessRule | undefined {
  return reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_KEY, [
    context.getHandler(),
    context.getClass(),
  ]);
}
