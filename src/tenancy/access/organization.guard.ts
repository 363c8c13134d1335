import { CanActivate, ExecutionContext, HttpStatus, Injectable, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { isUUID } from 'class-validator';
import { MembershipService } from '../membership.service';
import { ReplicaReads } from '../replica-reads';
import { accessRuleOf, ORGANIZATION_HEADER } from './access.decorator';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';

/**
 * Guard 2: on tenant-scoped routes, reads X-Organization-Id and loads the caller's membership
 * there (400 when the header is missing or malformed, 403 when the caller is not a member or
 * the organization does not exist).
 */
@Injectable()
export class OrganizationGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly memberships: MembershipService,
    @Optional() private readonly replicas?: ReplicaReads,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = accessRuleOf(this.reflector, context);
    if (rule?.kind !== 'tenant') return true;
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    const header = req.headers[ORGANIZATION_HEADER];
    if (typeof header !== 'string' || !isUUID(header)) {
      throw new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.INVALID_ORGANIZATION_HEADER,
        'X-Organization-Id header must be the UUID of an organization',
      );
    }
    const organizationId = header.toLowerCase();
    // With replicas, whether this user may read them, asked while the membership is looked up.
    const replica = this.replicas?.enabled ? this.replicas.allowedFor(req.user!.id) : undefined;
    const role = await this.memberships.roleOf(req.user!.id, organizationId);
    if (!role) {
      throw new AppException(
        HttpStatus.FORBIDDEN,
        ErrorCode.NOT_A_MEMBER,
        'You are not a member of this organization',
      );
    }
    req.membership = { organizationId, role };
    if (replica && (await replica)) req.replicaReads = true;
    return true;
  }
}
