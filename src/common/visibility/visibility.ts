import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { Actor } from '../http/request-context';
import { Role } from '../../modules/organizations/role.enum';

/** Owners, admins and managers see every record of the organization; members their own. */
export function seesWholeOrganization(actor: Pick<Actor, 'role'>): boolean {
  return actor.role !== Role.MEMBER;
}

/**
 * THE visibility rule (API.md section 4), used by every read path: restricts `query` to the
 * actor's organization and, for members, to records they own. `ownerColumn` is where the owner
 * is: the row itself (`c.owner_id`) or, for tasks and activities, their deal (`d.owner_id`).
 * An empty organization id throws: a query without tenant scope must never run.
 */
export function visibleTo<T extends ObjectLiteral>(
  query: SelectQueryBuilder<T>,
  actor: Pick<Actor, 'organizationId' | 'userId' | 'role'>,
  alias: string,
  ownerColumn = `${alias}.owner_id`,
): SelectQueryBuilder<T> {
  if (!actor.organizationId) throw new Error('visibleTo: organizationId is required');
  query.andWhere(`${alias}.organization_id = :visibleOrganizationId`, {
    visibleOrganizationId: actor.organizationId,
  });
  if (!seesWholeOrganization(actor)) {
    query.andWhere(`${ownerColumn} = :visibleOwnerId`, { visibleOwnerId: actor.userId });
  }
  return query;
}
