import { Injectable } from '@nestjs/common';
import { AppException } from '../common/errors/app.exception';
import { ErrorCode } from '../common/errors/error-code.enum';
import type { Actor } from './actor';
import { OrganizationMember } from './organization-member.entity';
import type { TenantReader } from './unit-of-work';

/**
 * The scope of the route's permission (the create or update it performs): `own` may not give
 * records to others. Without a route permission (work the system does), the role's reach.
 */
function assignScope(actor: Actor): 'own' | 'all' {
  const requirement = actor.requirement;
  if (!requirement) return actor.grants.seesAll ? 'all' : 'own';
  return actor.grants.scope(requirement.resource, requirement.action) === 'all' ? 'all' : 'own';
}

/**
 * `ownerId` rules of API.md section 4: it defaults to the caller; only owners, admins and
 * managers may set or change it (a member: 403 FORBIDDEN), and only to a member of the same
 * organization (422 INVALID_OWNER). The two checks are separate because they sit at different
 * places of the precedence order: 403 before state rules (409), 422 last.
 */
@Injectable()
export class OwnershipService {
  /**
   * The owner to store: `requested` when given, else `current` (else the caller, for a new
   * record). 403 when a member asks for anyone but the current owner or themselves.
   */
  requestedOwner(actor: Actor, current: string | null, requested: string | undefined): string {
    const unchanged = current ?? actor.userId;
    if (requested === undefined || requested === unchanged) return unchanged;
    if (assignScope(actor) !== 'all' && requested !== actor.userId) {
      throw AppException.forbidden('Your role may not assign records to others');
    }
    return requested;
  }

  /** 422 INVALID_OWNER unless `ownerId` is a member of the organization `tx` works in. */
  async assertValidOwner(tx: TenantReader, ownerId: string): Promise<void> {
    if (ownerId === tx.actor.userId) return;
    if (!(await tx.repo(OrganizationMember).existsBy({ userId: ownerId }))) {
      throw AppException.unprocessable(
        ErrorCode.INVALID_OWNER,
        'ownerId must be a member of this organization',
      );
    }
  }
}
