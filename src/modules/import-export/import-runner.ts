import { randomUUID } from 'node:crypto';
import { HttpStatus, Injectable } from '@nestjs/common';
import { AppException, type ErrorDetail } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { type Actor, scopeOf } from '../../tenancy/actor';
import { type TenantReader, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { emitEvent } from '../../events/record';
import { readCsvRows, type Cells, type CsvRow, type CsvSource } from './csv/csv-reader';
import type { RowResult } from './csv/row-validation';
import type { ImportQueryDto, ImportReportDto } from './dto/import.dto';
import {
  type DuplicateRow,
  type ExistingRecord,
  type ImportPlan,
  planImport,
  type ValidRow,
} from './import-plan';

/** Rows per INSERT/UPDATE statement, and keys per lookup: a few round trips per thousand rows. */
export const WRITE_BATCH = 1000;
export const LOOKUP_BATCH = 5000;

/** Splits `items` into consecutive chunks of at most `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** What an import of one kind of record needs to know and do. */
export interface ImportTarget<V> {
  /** Plural, for messages, the import lock and the `import.completed` event: "contacts". */
  readonly name: 'contacts' | 'companies';
  /** The CSV header. */
  readonly columns: readonly string[];
  /** The column duplicates are matched on. */
  readonly keyField: string;
  /** Said of a row whose key an existing record holds. */
  readonly existsMessage: string;
  /** One row's cells, validated as the single-record endpoint validates its body. */
  validate(cells: Cells): Promise<RowResult<{ value: V; key: string | null }>>;
  /** The organization's records holding any of `keys` (all of them, whoever owns them). */
  findExisting(reader: TenantReader, keys: string[]): Promise<Map<string, ExistingRecord>>;
  merge(earlier: V | undefined, later: V): V;
  /** Writes the plan (batched) through the owning modules, inside the import's transaction. */
  write(tx: TenantTx, plan: ImportPlan<V>): Promise<void>;
  /** The API error for a write refused by a unique index (a record created meanwhile), if it is one. */
  conflict(error: unknown): AppException | undefined;
}

function duplicatesFound(target: ImportTarget<unknown>, rows: DuplicateRow[]): AppException {
  return new AppException(
    HttpStatus.CONFLICT,
    ErrorCode.DUPLICATES_FOUND,
    `${rows.length} row${rows.length === 1 ? '' : 's'} of the file duplicate${rows.length === 1 ? 's' : ''} ` +
      `${target.name} of the organization or earlier rows (by ${target.keyField}); nothing was imported`,
    rows satisfies ErrorDetail[],
  );
}

/** Ends a dry run's transaction by rolling it back, carrying out the report it made. */
class DryRunDone extends Error {
  constructor(readonly report: ImportReportDto) {
    super('dry run: rolled back');
  }
}

/**
 * Runs a CSV import (API.md section 11): parses the file as it streams in, validates its rows, then,
 * in one transaction, matches the rows' keys against the organization, plans every row
 * (planImport) and writes the plan in batches. A dry run does all of it and rolls back, so its
 * answer is the one a real run would give. Imports of one kind into one organization take
 * turns (a transaction-scoped advisory lock), so two of them never both create a key.
 *
 * An import that wrote rows records one `crm.import.completed.v1` (API.md section 12), subject
 * `imports/<a new id>`, with `{ import: { kind, ...the report } }`, not one event per row; a
 * dry run records nothing (it rolls back).
 */
@Injectable()
export class ImportRunner {
  constructor(private readonly uow: UnitOfWork) {}

  async run<V>(
    target: ImportTarget<V>,
    actor: Actor,
    source: CsvSource,
    options: ImportQueryDto,
  ): Promise<ImportReportDto> {
    // The whole file first (at most the upload limit): a file over it is refused before any
    // row is validated.
    const parsed: CsvRow[] = [];
    for await (const row of readCsvRows(source, target.columns)) parsed.push(row);
    const report: ImportReportDto = {
      total: parsed.length,
      created: 0,
      updated: 0,
      skipped: 0,
      failed: [],
    };
    const rows: ValidRow<V>[] = [];
    for (const row of parsed) {
      const result = 'errors' in row ? row : await target.validate(row.cells);
      if ('errors' in result) report.failed.push({ row: row.line, errors: result.errors });
      else rows.push({ line: row.line, ...result.value });
    }
    parsed.length = 0;
    if (!rows.length) return report;

    try {
      return await this.uow.run(actor, async (tx) => {
        await tx.serialize(`import:${target.name}`);
        const keys = [...new Set(rows.flatMap((r) => (r.key === null ? [] : [r.key])))];
        const existing = new Map<string, ExistingRecord>();
        for (const batch of chunks(keys, LOOKUP_BATCH)) {
          for (const [key, record] of await target.findExisting(tx, batch)) {
            existing.set(key, record);
          }
        }
        const plan = planImport(rows, existing, {
          onDuplicate: options.onDuplicate,
          keyField: target.keyField,
          existsMessage: target.existsMessage,
          mayUpdate: (record) =>
            scopeOf(actor, target.name, 'update') === 'all' || record.ownerId === actor.userId,
          merge: (earlier, later) => target.merge(earlier, later),
        });
        if (plan.duplicates.length) throw duplicatesFound(target, plan.duplicates);
        await target.write(tx, plan);
        report.created = plan.created;
        report.updated = plan.updated;
        report.skipped = plan.skipped;
        report.failed.push(...plan.failed);
        report.failed.sort((a, b) => a.row - b.row);
        if (options.dryRun) throw new DryRunDone(report);
        // Created and updated rows are the only writes (an update that changes nothing was
        // still sent to the database as one).
        if (plan.created + plan.updated > 0) {
          emitEvent(tx, 'crm.import.completed.v1', 'imports', randomUUID(), {
            import: { kind: target.name, ...structuredClone(report) },
          });
        }
        return report;
      });
    } catch (e) {
      if (e instanceof DryRunDone) return e.report;
      throw target.conflict(e) ?? e;
    }
  }
}
