import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { accessRuleOf } from './access.decorator';
import { AppException } from '../../common/errors/app.exception';

/**
 * Guard 3: checks that the caller's role (its grants, set by the OrganizationGuard) holds every
 * permission the route names (API.md section 16). A route that declares no access rule at all is
 * refused (fail closed). API keys never manage API keys.
 */
@Injectable()
export class PermissionsGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const rule = accessRuleOf(this.reflector, context);
    if (!rule) throw AppException.forbidden('This route declares no access rule');
    if (rule.kind !== 'tenant') return true;
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    const membership = req.membership;
    if (!membership) throw AppException.forbidden();
    for (const { resource, action } of rule.permissions) {
      if (resource === 'api_keys' && membership.apiKeyId) {
        throw AppException.forbidden('API keys cannot manage API keys');
      }
      if (!membership.grants.allows(resource, action)) {
        throw AppException.forbidden(`Your role lacks the permission ${resource}:${action}`);
      }
    }
    if (rule.permissions.length) req.requirement = rule.permissions[0];
    return true;
  }
}
