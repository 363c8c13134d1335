import { CustomRole } from './custom-role.entity';
import { Grants, isBuiltInRole } from './permissions';
import type { TenantReader } from './unit-of-work';

/**
 * What the organization's role `key` grants (a built-in role, or a custom role read through
 * `reader`, in its transaction when it is one), or null when the organization has no such role.
 */
export async function grantsOfRole(reader: TenantReader, key: string): Promise<Grants | null> {
  if (isBuiltInRole(key)) return Grants.of(key);
  const role = await reader.repo(CustomRole).findOneBy({ key });
  return role ? new Grants(role.permissions) : null;
}
