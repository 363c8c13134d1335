import { CanActivate, ExecutionContext, HttpStatus, Injectable, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { isUUID } from 'class-validator';
import { MembershipService } from '../membership.service';
import { Grants } from '../permissions';
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
    const user = req.user!;
    // An API key is bound to its organization: the header is optional, and must name it if given.
    const header = req.headers[ORGANIZATION_HEADER] ?? user.apiKey?.organizationId;
    if (typeof header !== 'string' || !isUUID(header)) {
      throw new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.INVALID_ORGANIZATION_HEADER,
        'X-Organization-Id header must be the UUID of an organization',
      );
    }
    const organizationId = header.toLowerCase();
    if (user.apiKey && user.apiKey.organizationId !== organizationId) throw notAMember();
    // With replicas, whether this user may read them, asked while the membership is looked up.
    const replica = this.replicas?.enabled ? this.replicas.allowedFor(user.id) : undefined;
    const access = await this.memberships.accessOf(user.id, organizationId);
    if (!access) {
      // A key whose creator left is revoked with the membership; a lookup racing that answers 401.
      if (user.apiKey) throw AppException.unauthenticated('Unknown, revoked or expired API key');
      throw notAMember();
    }
    if (user.apiKey) {
      // The key acts with its role, never beyond what its creator holds now.
      const keyGrants = await this.memberships.grantsOf(organizationId, user.apiKey.role);
      req.membership = {
        organizationId,
        role: user.apiKey.role,
        grants: this.memberships.keyGrants(keyGrants ?? NO_GRANTS, access.grants),
        apiKeyId: user.apiKey.id,
      };
    } else {
      req.membership = { organizationId, role: access.role, grants: access.grants };
    }
    if (replica && (await replica)) req.replicaReads = true;
    return true;
  }
}

const NO_GRANTS = new Grants([]);

function notAMember(): AppException {
  return new AppException(
    HttpStatus.FORBIDDEN,
    ErrorCode.NOT_A_MEMBER,
    'You are not a member of this organization',
  );
}
