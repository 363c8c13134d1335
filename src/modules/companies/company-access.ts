import type { EntityManager } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import type { Actor } from '../../common/http/request-context';
import { visibleTo } from '../../common/visibility/visibility';
import { Company } from './company.entity';

/**
 * How to lock the company row, inside a transaction: `pessimistic_write` to change or delete
 * it; `for_key_share` to link a record to it (the company cannot be deleted, nor its owner
 * changed, before that transaction ends; plain reads and other links are not blocked).
 */
export type CompanyLock = 'pessimistic_write' | 'for_key_share';

/**
 * The company if the actor may see it (API.md section 4: same organization, and for members
 * their own); 404 NOT_FOUND otherwise. A plain function rather than a service method so that
 * contacts can check the company they link to without a module cycle (companies list contacts).
 */
export async function findVisibleCompany(
  manager: EntityManager,
  actor: Pick<Actor, 'organizationId' | 'userId' | 'role'>,
  id: string,
  lock?: CompanyLock,
): Promise<Company> {
  const query = visibleTo(manager.getRepository(Company).createQueryBuilder('co'), actor, 'co');
  query.andWhere('co.id = :id', { id });
  if (lock) query.setLock(lock);
  const company = await query.getOne();
  if (!company) throw AppException.notFound('Company');
  return company;
}
