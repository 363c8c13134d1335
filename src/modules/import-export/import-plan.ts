import type { ErrorDetail } from '../../common/errors/app.exception';
import type { OnDuplicate } from './dto/import.dto';

/** A valid row of the file: its line, its duplicate key (null: it has none) and what to write. */
export interface ValidRow<V> {
  line: number;
  key: string | null;
  value: V;
}

/** A record of the organization that holds a key of the file. */
export interface ExistingRecord {
  id: string;
  ownerId: string;
}

export interface RowFailure {
  row: number;
  errors: ErrorDetail[];
}

/** A duplicate row, as listed in the details of 409 DUPLICATES_FOUND. */
export interface DuplicateRow extends ErrorDetail {
  row: number;
}

export interface ImportPlan<V> {
  /** New records, in file order (a later duplicate row already merged in, with `update`). */
  creates: V[];
  /** Existing records to update, by id, with every row for them merged in file order. */
  updates: Map<string, V>;
  created: number;
  updated: number;
  skipped: number;
  failed: RowFailure[];
  /** With `fail`: every duplicate row. Non-empty means nothing may be written. */
  duplicates: DuplicateRow[];
}

export interface PlanRules<V> {
  onDuplicate: OnDuplicate;
  /** The column that holds the key (email, domain). */
  keyField: string;
  /** May the caller update this existing record (members: only their own)? */
  mayUpdate: (record: ExistingRecord) => boolean;
  /** `later`'s fields over `earlier`'s (an absent field keeps the earlier value). */
  merge: (earlier: V | undefined, later: V) => V;
  /** Said of a row whose key an existing record holds ("a contact with this email already exists"). */
  existsMessage: string;
}

/**
 * Decides, row by row in file order, what an import does: create, update, skip, fail the row,
 * or (onDuplicate=fail) list it as a duplicate. A row is a duplicate when its key is held by a
 * record of the organization or by an earlier valid row of the file; rows without a key never
 * are. Pure: the counts it returns are the report, whether or not anything is then written.
 */
export function planImport<V>(
  rows: ValidRow<V>[],
  existing: ReadonlyMap<string, ExistingRecord>,
  rules: PlanRules<V>,
): ImportPlan<V> {
  const plan: ImportPlan<V> = {
    creates: [],
    updates: new Map(),
    created: 0,
    updated: 0,
    skipped: 0,
    failed: [],
    duplicates: [],
  };
  const firstLine = new Map<string, number>(); // key -> line of the first row that used it
  const createdIndex = new Map<string, number>(); // key -> its record in plan.creates
  for (const { line, key, value } of rows) {
    const record = key === null ? undefined : existing.get(key);
    const earlier = key === null ? undefined : firstLine.get(key);
    if (key !== null && earlier === undefined) firstLine.set(key, line);
    if (key === null || (record === undefined && earlier === undefined)) {
      if (key !== null) createdIndex.set(key, plan.creates.length);
      plan.creates.push(value);
      plan.created++;
      continue;
    }
    switch (rules.onDuplicate) {
      case 'skip':
        plan.skipped++;
        break;
      case 'fail':
        plan.duplicates.push({
          row: line,
          field: rules.keyField,
          message: record ? rules.existsMessage : `duplicate of line ${earlier}`,
        });
        break;
      case 'update':
        if (record) {
          if (rules.mayUpdate(record)) {
            plan.updates.set(record.id, rules.merge(plan.updates.get(record.id), value));
            plan.updated++;
          } else {
            plan.failed.push({
              row: line,
              errors: [
                {
                  field: rules.keyField,
                  message: `${rules.existsMessage} and is owned by another user`,
                },
              ],
            });
          }
        } else {
          const i = createdIndex.get(key)!;
          plan.creates[i] = rules.merge(plan.creates[i], value);
          plan.updated++;
        }
        break;
    }
  }
  return plan;
}
