import type { TenantTx } from '../tenancy/unit-of-work';
import { type EventType, subjectOf } from './catalog';

/**
 * Recording domain events (API.md section 12) from a feature's writing transaction: `data` holds
 * the resource under its singular name exactly as its GET answers after the change (as it was
 * before, for a delete), plus `previous` on updated and state events.
 */

/** The plural resources of the API paths, the first part of an event's subject. */
export type EventResource =
  | 'users'
  | 'organizations'
  | 'members'
  | 'contacts'
  | 'companies'
  | 'leads'
  | 'deals'
  | 'tasks'
  | 'activities'
  | 'pipelines'
  | 'imports';

/** Records an event of the catalog with subject `<resource>/<id>`. */
export function emitEvent(
  tx: TenantTx,
  type: EventType,
  resource: EventResource,
  id: string,
  data: object,
): void {
  tx.emit(type, subjectOf(resource, id), data);
}

/** Fields that change with every write and are no change of their own. */
const BOOKKEEPING = ['updatedAt'];

const same = (a: unknown, b: unknown): boolean =>
  a === b || JSON.stringify(a) === JSON.stringify(b);

/**
 * The fields of an API representation that differ between `before` and `after` (nested values
 * such as an address compared by value), with their earlier values: an event's `previous`.
 * `updatedAt` is left out. Empty when nothing changed.
 */
export function previousOf<T extends object>(before: T, after: T): Partial<T> {
  const previous: Partial<T> = {};
  for (const key of Object.keys(before) as (keyof T & string)[]) {
    if (BOOKKEEPING.includes(key)) continue;
    if (!same(before[key], after[key])) previous[key] = before[key];
  }
  return previous;
}

/** Whether `previousOf` found a change. */
export const hasChanges = (previous: object): boolean => Object.keys(previous).length > 0;
