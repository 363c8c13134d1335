import type { TenantReader } from '../../tenancy/unit-of-work';
import { Company } from './company.entity';

/**
 * How to lock the company row, inside a transaction: `pessimistic_write` to change or delete
 * it; `for_key_share` to link a record to it (the company cannot be deleted, nor its owner
 * changed, before that transaction ends; plain reads and other links are not blocked).
 */
export type CompanyLock = 'pessimistic_write' | 'for_key_share';

/**
 * The company if the reader's actor may see it; 404 NOT_FOUND otherwise. A plain function
 * rather than a service method so that contacts can check the company they link to without a
 * module cycle (companies list contacts).
 */
export function findVisibleCompany(
  reader: TenantReader,
  id: string,
  lock?: CompanyLock,
): Promise<Company> {
  return reader.findVisible(Company, id, { lock });
}
