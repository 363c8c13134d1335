import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { IsString } from 'class-validator';
import { AppException, type ErrorDetail } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { IsText } from '../../common/validation/text';
import { Trim } from '../../common/validation/transforms';
import { isUniqueViolation } from '../../database/pg-errors';
import type { TenantReader, TenantTx } from '../../tenancy/unit-of-work';
import { CompaniesService } from '../companies/companies.service';
import { CONTACT_EMAIL_INDEX, ContactsService } from '../contacts/contacts.service';
import { ContactInputDto } from '../contacts/dto/contact-input.dto';
import type { Cells } from './csv/csv-reader';
import { type RowResult, validateRow } from './csv/row-validation';
import type { ExistingRecord, ImportPlan } from './import-plan';
import { chunks, type ImportTarget, LOOKUP_BATCH, WRITE_BATCH } from './import-runner';

export const CONTACT_IMPORT_COLUMNS = ['name', 'email', 'phone', 'companyName'] as const;

/** What one row writes; null = the cell was empty (absent). */
export interface ContactRow {
  name: string;
  email: string | null;
  phone: string | null;
  companyName: string | null;
}

/** The companyName cell: a company name, as POST /companies takes it (1..200 characters). */
class CompanyNameCell {
  @Trim()
  @IsString()
  @IsText(1, 200)
  companyName: string;
}

/**
 * POST /contacts/import. Each row is validated as the body of POST /contacts (ContactInputDto:
 * name, email, phone; the owner is always the caller). Duplicates are matched on the email,
 * case-insensitively, as the organization's unique index does. `companyName` links the contact
 * to a company of the organization visible to the caller (case-insensitive name; the oldest
 * when several match); when there is none, the company is created (name only, owned by the
 * caller), once per distinct name.
 */
@Injectable()
export class ContactsImporter implements ImportTarget<ContactRow> {
  readonly name = 'contacts';
  readonly columns = CONTACT_IMPORT_COLUMNS;
  readonly keyField = 'email';
  readonly existsMessage = 'a contact with this email already exists in the organization';

  constructor(
    private readonly contacts: ContactsService,
    private readonly companies: CompaniesService,
  ) {}

  async validate(cells: Cells): Promise<RowResult<{ value: ContactRow; key: string | null }>> {
    const { companyName, ...contact } = cells;
    const result = await validateRow(ContactInputDto, contact);
    const company =
      companyName === undefined ? undefined : await validateRow(CompanyNameCell, { companyName });
    const errors: ErrorDetail[] = [
      ...('errors' in result ? result.errors : []),
      ...(company && 'errors' in company ? company.errors : []),
    ];
    if (errors.length || !('value' in result)) return { errors };
    const { name, email, phone } = result.value;
    return {
      value: {
        key: email ? email.toLowerCase() : null,
        value: {
          name,
          email: email ?? null,
          phone: phone ?? null,
          companyName: company && 'value' in company ? company.value.companyName : null,
        },
      },
    };
  }

  findExisting(reader: TenantReader, keys: string[]): Promise<Map<string, ExistingRecord>> {
    return this.contacts.findByEmails(reader, keys);
  }

  merge(earlier: ContactRow | undefined, later: ContactRow): ContactRow {
    if (!earlier) return later;
    return {
      name: later.name,
      email: later.email ?? earlier.email,
      phone: later.phone ?? earlier.phone,
      companyName: later.companyName ?? earlier.companyName,
    };
  }

  async write(tx: TenantTx, plan: ImportPlan<ContactRow>): Promise<void> {
    const updates = [...plan.updates];
    const companies = await this.companyIds(tx, [
      ...plan.creates.map((c) => c.companyName),
      ...updates.map(([, c]) => c.companyName),
    ]);
    const companyOf = (c: ContactRow): string | null =>
      c.companyName === null ? null : companies.get(c.companyName.toLowerCase())!;

    const ownerId = tx.actor.userId;
    for (const batch of chunks(plan.creates, WRITE_BATCH)) {
      await this.contacts.insertMany(
        tx,
        batch.map((c) => ({
          ownerId,
          companyId: companyOf(c),
          name: c.name,
          email: c.email,
          phone: c.phone,
        })),
      );
    }
    // Only the cells that had a value change; a row that changes nothing leaves updatedAt alone.
    for (const batch of chunks(updates, WRITE_BATCH)) {
      await this.contacts.updateMany(
        tx,
        batch.map(([id, c]) => ({
          id,
          name: c.name,
          email: c.email,
          phone: c.phone,
          companyId: companyOf(c),
        })),
      );
    }
  }

  /**
   * The company id for each distinct name (by lower-case name): the oldest company of that name
   * visible to the caller (locked until the import ends), else a new one (name only, owned by
   * the caller) created through the companies module.
   */
  private async companyIds(tx: TenantTx, names: (string | null)[]): Promise<Map<string, string>> {
    const spelling = new Map<string, string>(); // lower-case name -> first spelling in the file
    for (const name of names) {
      if (name !== null && !spelling.has(name.toLowerCase())) {
        spelling.set(name.toLowerCase(), name);
      }
    }
    const ids = new Map<string, string>();
    for (const batch of chunks([...spelling.keys()], LOOKUP_BATCH)) {
      for (const [key, id] of await this.companies.visibleIdsByName(tx, batch)) ids.set(key, id);
    }
    const missing = [...spelling].filter(([key]) => !ids.has(key));
    for (const [key] of missing) ids.set(key, randomUUID());
    for (const batch of chunks(missing, WRITE_BATCH)) {
      await this.companies.insertMany(
        tx,
        batch.map(([key, name]) => ({ id: ids.get(key)!, ownerId: tx.actor.userId, name })),
      );
    }
    return ids;
  }

  conflict(error: unknown): AppException | undefined {
    if (!isUniqueViolation(error, CONTACT_EMAIL_INDEX)) return undefined;
    return AppException.conflict(
      ErrorCode.CONTACT_EMAIL_TAKEN,
      'A contact with an email of the file was created while the import ran; nothing was imported, retry',
    );
  }
}
