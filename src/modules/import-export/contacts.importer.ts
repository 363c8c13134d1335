import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { IsString } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { AppException, type ErrorDetail } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../common/http/request-context';
import { IsText } from '../../common/validation/text';
import { Trim } from '../../common/validation/transforms';
import { seesWholeOrganization } from '../../common/visibility/visibility';
import { isUniqueViolation } from '../../database/pg-errors';
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

  async findExisting(
    manager: EntityManager,
    actor: Actor,
    keys: string[],
  ): Promise<Map<string, ExistingRecord>> {
    const rows = await manager.query<(ExistingRecord & { key: string })[]>(
      `SELECT k.key, c.id, c.owner_id AS "ownerId"
         FROM unnest($2::text[]) AS k(key)
         JOIN contacts c ON c.organization_id = $1 AND c.email IS NOT NULL AND lower(c.email) = lower(k.key)`,
      [actor.organizationId, keys],
    );
    return new Map(rows.map(({ key, id, ownerId }) => [key, { id, ownerId }]));
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

  async write(manager: EntityManager, actor: Actor, plan: ImportPlan<ContactRow>): Promise<void> {
    const updates = [...plan.updates];
    const companies = await this.companyIds(manager, actor, [
      ...plan.creates.map((c) => c.companyName),
      ...updates.map(([, c]) => c.companyName),
    ]);
    const companyOf = (c: ContactRow): string | null =>
      c.companyName === null ? null : companies.get(c.companyName.toLowerCase())!;

    for (const batch of chunks(plan.creates, WRITE_BATCH)) {
      await manager.query(
        `INSERT INTO contacts (organization_id, owner_id, company_id, name, email, phone)
         SELECT $1, $2, v.company_id, v.name, v.email, v.phone
           FROM unnest($3::uuid[], $4::varchar[], $5::varchar[], $6::varchar[])
             AS v(company_id, name, email, phone)`,
        [
          actor.organizationId,
          actor.userId,
          batch.map(companyOf),
          batch.map((c) => c.name),
          batch.map((c) => c.email),
          batch.map((c) => c.phone),
        ],
      );
    }
    // Only the cells that had a value change; a row that changes nothing leaves updatedAt alone.
    for (const batch of chunks(updates, WRITE_BATCH)) {
      await manager.query(
        `UPDATE contacts c
            SET name = v.name, email = coalesce(v.email, c.email), phone = coalesce(v.phone, c.phone),
                company_id = coalesce(v.company_id, c.company_id), updated_at = now()
           FROM unnest($2::uuid[], $3::varchar[], $4::varchar[], $5::varchar[], $6::uuid[])
             AS v(id, name, email, phone, company_id)
          WHERE c.id = v.id AND c.organization_id = $1
            AND (c.name, c.email, c.phone, c.company_id) IS DISTINCT FROM
                (v.name, coalesce(v.email, c.email), coalesce(v.phone, c.phone),
                 coalesce(v.company_id, c.company_id))`,
        [
          actor.organizationId,
          batch.map(([id]) => id),
          batch.map(([, c]) => c.name),
          batch.map(([, c]) => c.email),
          batch.map(([, c]) => c.phone),
          batch.map(([, c]) => companyOf(c)),
        ],
      );
    }
  }

  /**
   * The company id for each distinct name (by lower-case name): the oldest company of that name
   * visible to the caller, else a new one (name only, owned by the caller).
   */
  private async companyIds(
    manager: EntityManager,
    actor: Actor,
    names: (string | null)[],
  ): Promise<Map<string, string>> {
    const spelling = new Map<string, string>(); // lower-case name -> first spelling in the file
    for (const name of names) {
      if (name !== null && !spelling.has(name.toLowerCase())) {
        spelling.set(name.toLowerCase(), name);
      }
    }
    const ids = new Map<string, string>();
    const members = !seesWholeOrganization(actor);
    for (const batch of chunks([...spelling.keys()], LOOKUP_BATCH)) {
      // Every match, oldest first; the rows are locked as POST /contacts locks the company it
      // links to (FOR KEY SHARE: it cannot be deleted before the import commits).
      const found = await manager.query<{ key: string; id: string }[]>(
        `SELECT k.key, c.id
           FROM unnest($2::text[]) AS k(key)
           JOIN companies c ON c.organization_id = $1 AND lower(c.name) = lower(k.key)
                ${members ? 'AND c.owner_id = $3' : ''}
          ORDER BY k.key, c.created_at, c.id
            FOR KEY SHARE OF c`,
        members ? [actor.organizationId, batch, actor.userId] : [actor.organizationId, batch],
      );
      for (const { key, id } of found) if (!ids.has(key)) ids.set(key, id);
    }
    const missing = [...spelling].filter(([key]) => !ids.has(key));
    for (const [key] of missing) ids.set(key, randomUUID());
    for (const batch of chunks(missing, WRITE_BATCH)) {
      await manager.query(
        `INSERT INTO companies (id, organization_id, owner_id, name)
         SELECT v.id, $1, $2, v.name FROM unnest($3::uuid[], $4::varchar[]) AS v(id, name)`,
        [
          actor.organizationId,
          actor.userId,
          batch.map(([key]) => ids.get(key)),
          batch.map(([, name]) => name),
        ],
      );
    }
    return ids;
  }

  conflict(error: unknown): AppException | undefined {
    if (!isUniqueViolation(error, 'uq_contacts_org_email_ci')) return undefined;
    return AppException.conflict(
      ErrorCode.CONTACT_EMAIL_TAKEN,
      'A contact with an email of the file was created while the import ran; nothing was imported, retry',
    );
  }
}
