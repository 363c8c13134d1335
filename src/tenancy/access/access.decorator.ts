import { applyDecorators, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiHeader } from '@nestjs/swagger';
import { ALL_ROLES, Role } from '../role';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { ApiError } from '../../common/decorators/api-error.decorator';

export const ACCESS_KEY = 'crm:access';
export const ORGANIZATION_HEADER = 'x-organization-id';

/**
 * Who may call a route. Every route declares exactly one of these (a test enumerates the
 * routes and fails otherwise), and the guards refuse a route that declares none.
 */
export type AccessRule =
  { kind: 'public' } | { kind: 'authenticated' } | { kind: 'tenant'; roles: readonly Role[] };

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
 * Tenant-scoped: a valid access token, the X-Organization-Id header naming an organization the
 * caller belongs to, and one of `roles` there. `@Roles()` with no argument admits every role.
 */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(ACCESS_KEY, {
      kind: 'tenant',
      roles: roles.length ? roles : ALL_ROLES,
    } satisfies AccessRule),
    ApiBearerAuth(),
    ApiHeader({
      name: 'X-Organization-Id',
      required: true,
      description: 'The organization (tenant) this request acts in; the caller must be a member',
      schema: { type: 'string', format: 'uuid' },
    }),
    ApiError(400, [ErrorCode.INVALID_ORGANIZATION_HEADER, ErrorCode.VALIDATION_FAILED]),
    ApiError(401, [ErrorCode.UNAUTHENTICATED]),
    ApiError(
      403,
      roles.length && roles.length < ALL_ROLES.length
        ? [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN]
        : [ErrorCode.NOT_A_MEMBER],
    ),
  );

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
