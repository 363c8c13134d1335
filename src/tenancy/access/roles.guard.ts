import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { accessRuleOf } from './access.decorator';
import { AppException } from '../../common/errors/app.exception';

/**
 * Guard 3: compares the membership's role with the route's @Roles(...). A route that declares
 * no access rule at all is refused (fail closed).
 */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const rule = accessRuleOf(this.reflector, context);
    if (!rule) throw AppException.forbidden('This route declares no access rule');
    if (rule.kind !== 'tenant') return true;
    const { membership } = context.switchToHttp().getRequest<FastifyRequest>();
    if (!membership || !rule.roles.includes(membership.role)) throw AppException.forbidden();
    return true;
  }
}
