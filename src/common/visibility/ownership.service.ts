import { Injectable } from '@nestjs/common';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';
import type { Actor } from '../http/request-context';
import { MembershipService } from '../../modules/organizations/membership.service';
import { seesWholeOrganization } from './visibility';

/**
 * `ownerId` rules of API.md section 4: it defaults to the caller; only owners, admins and
 * managers may set or change it (a member: 403 FORBIDDEN), and only to a member of the same
 * organization (422 INVALID_OWNER). Call it after the 404 checks of the records a request names.
 */
@Injectable()
export class OwnershipService {
  constructor(private readonly memberships: MembershipService) {}

  /** The owner of a new record. */
  async ownerForNew(actor: Actor, requested: string | undefined): Promise<string> {
    if (requested === undefined || requested === actor.userId) return actor.userId;
    return this.assertAssignable(actor, requested);
  }

  /** The owner after an update: unchanged unless `requested` differs from `current`. */
  async ownerForUpdate(
    actor: Actor,
    current: string,
    requested: string | undefined,
  ): Promise<string> {
    if (requested === undefined || requested === current) return current;
    return this.assertAssignable(actor, requested);
  }

  private async assertAssignable(actor: Actor, ownerId: string): Promise<string> {
    if (!seesWholeOrganization(actor))
      throw AppException.forbidden('Members may not assign records to others');
    if (!(await this.memberships.roleOf(ownerId, actor.organizationId))) {
      throw AppException.unprocessable(
        ErrorCode.INVALID_OWNER,
        'ownerId must be a member of this organization',
      );
    }
    return ownerId;
  }
}
