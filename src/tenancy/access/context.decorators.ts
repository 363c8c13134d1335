import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuthUser, RequestMeta, requestMeta } from '../../common/http/request-context';
import type { Actor } from '../actor';

/** Misuse (a decorator on a route whose guard did not run) is a programming error: fail loudly. */
class GuardDidNotRunError extends Error {
  constructor(what: string) {
    super(`${what} is not available: the route does not declare the access rule that provides it`);
  }
}

const requestOf = (ctx: ExecutionContext): FastifyRequest =>
  ctx.switchToHttp().getRequest<FastifyRequest>();

/** The signed-in user. Needs @Authenticated() or @Can(). */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthUser => {
  const user = requestOf(ctx).user;
  if (!user) throw new GuardDidNotRunError('CurrentUser');
  return user;
});

/** The caller in the organization of X-Organization-Id. Needs @Can(). */
export const CurrentActor = createParamDecorator((_: unknown, ctx: ExecutionContext): Actor => {
  const req = requestOf(ctx);
  if (!req.user || !req.membership) throw new GuardDidNotRunError('CurrentActor');
  const { organizationId, role, grants, apiKeyId } = req.membership;
  // Built on the request's meta object (no spread copy: this runs on every tenant request).
  const actor = requestMeta(req) as Actor;
  actor.userId = req.user.id;
  actor.organizationId = organizationId;
  actor.role = role;
  actor.grants = grants;
  if (apiKeyId) actor.apiKeyId = apiKeyId;
  if (req.requirement) actor.requirement = req.requirement;
  if (req.replicaReads) actor.replica = true;
  return actor;
});

/** Request id, client address and user agent, for the audit log. */
export const ClientMeta = createParamDecorator((_: unknown, ctx: ExecutionContext): RequestMeta =>
  requestMeta(requestOf(ctx)),
);
