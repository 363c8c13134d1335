import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';
import type { Actor } from '../http/request-context';
import { MembershipService } from '../../modules/organizations/membership.service';
import { seesWholeOrganization } from './visibility';

/**
 * `ownerId` rules of API.md section 4: it defaults to the caller; only owners, admins and
 * managers may set or change it (a member: 403 FORBIDDEN), and only to a member of the same
 * organization (422 INVALID_OWNER). The two checks are separate because they sit at different
 * places of the precedence order: 403 before state rules (409), 422 last.
 */
@Injectable()
export class OwnershipService {
  constructor(private readonly memberships: MembershipService) {}

  /**
   * The owner to store: `requested` when given, else `current` (else the caller, for a new
   * record). 403 when a member asks for anyone but the current owner or themselves.
   */
  requestedOwner(actor: Actor, current: string | null, requested: string | undefined): string {
    const unchanged = current ?? actor.userId;
    if (requested === undefined || requested === unchanged) return unchanged;
    if (!seesWholeOrganization(actor) && requested !== actor.userId) {
      throw AppException.forbidden('Members may not assign records to others');
    }
    return requested;
  }

  /**
   * 422 INVALID_OWNER unless `ownerId` is a member of the actor's organization. Inside a
   * transaction, pass its manager (no second pool connection while holding one).
   */
  async assertValidOwner(actor: Actor, ownerId: string, manager?: EntityManager): Promise<void> {
    if (ownerId === actor.userId) return;
    if (!(await this.memberships.roleOf(ownerId, actor.organizationId, manager))) {
      throw AppException.unprocessable(
        ErrorCode.INVALID_OWNER,
        'ownerId must be a member of this organization',
      );
    }
  }
}
