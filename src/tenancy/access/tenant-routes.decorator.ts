import {
  applyDecorators,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Patch,
  Post,
  Put,
  type Type,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
} from '@nestjs/swagger';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { Idempotent } from '../../common/idempotency/idempotency.interceptor';
import { ApiListResponse } from '../../common/pagination/list-result.dto';
import { Can, type PermissionName } from './access.decorator';

/**
 * The decorator stacks every tenant-scoped CRUD route repeated, in one place: the HTTP method
 * and path, the access rule (`@Can`, every member when `permission` is omitted), the operation's
 * summary and description, its success response and, for a route naming a record (`:id` in the
 * path), the 404 of a record the caller may not see. Route-specific errors are added with
 * `@ApiError` next to it.
 */
export interface TenantRouteOptions {
  summary: string;
  description?: string;
  /** The response body's DTO class (or `[Dto]` for an array). */
  type?: Type<unknown> | [Type<unknown>];
  /** The permission(s) the route requires (API.md section 16); omitted: any member. */
  permission?: PermissionName | PermissionName[];
}

type Method = typeof Get;

function tenantRoute(
  method: Method,
  path: string,
  response: MethodDecorator,
  { summary, description, permission = [] }: TenantRouteOptions,
): MethodDecorator {
  const permissions = Array.isArray(permission) ? permission : [permission];
  const decorators: MethodDecorator[] = [
    method(path),
    Can(...permissions),
    ApiOperation(description === undefined ? { summary } : { summary, description }),
    response,
  ];
  if (path.includes(':')) decorators.push(ApiError(404, [ErrorCode.NOT_FOUND]));
  return applyDecorators(...decorators);
}

/** GET of a list: 200 with a page of `type` (offset or keyset, API.md section 1). */
export const TenantList = (
  path: string,
  options: TenantRouteOptions & { type: Type<unknown> },
): MethodDecorator => tenantRoute(Get, path, ApiListResponse(options.type), options);

/** GET: 200 with `type`. */
export const TenantGet = (path: string, options: TenantRouteOptions): MethodDecorator =>
  tenantRoute(Get, path, ApiOkResponse({ type: options.type }), options);

/** POST creating a record: 201 with `type`; Idempotency-Key honoured. */
export const TenantCreate = (path: string, options: TenantRouteOptions): MethodDecorator =>
  applyDecorators(
    tenantRoute(Post, path, ApiCreatedResponse({ type: options.type }), options),
    Idempotent(),
  );

/** POST of an action on a record (win, qualify, ...): 200 with `type`; Idempotency-Key honoured. */
export const TenantAction = (path: string, options: TenantRouteOptions): MethodDecorator =>
  applyDecorators(
    tenantRoute(Post, path, ApiOkResponse({ type: options.type }), options),
    HttpCode(HttpStatus.OK),
    Idempotent(),
  );

/** PATCH: 200 with `type`. */
export const TenantPatch = (path: string, options: TenantRouteOptions): MethodDecorator =>
  tenantRoute(Patch, path, ApiOkResponse({ type: options.type }), options);

/** PUT: 200 with `type`. */
export const TenantPut = (path: string, options: TenantRouteOptions): MethodDecorator =>
  tenantRoute(Put, path, ApiOkResponse({ type: options.type }), options);

/** DELETE: 204, no body. */
export const TenantDelete = (path: string, options: TenantRouteOptions): MethodDecorator =>
  applyDecorators(
    tenantRoute(Delete, path, ApiNoContentResponse({ description: 'Deleted' }), options),
    HttpCode(HttpStatus.NO_CONTENT),
  );
