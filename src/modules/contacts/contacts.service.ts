import { Injectable } from '@nestjs/common';
import { QueryFailedError, type SelectQueryBuilder } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { escapeLike, selectAs } from '../../common/pagination/select-as';
import { isUniqueViolation } from '../../database/pg-errors';
import type { Actor } from '../../tenancy/actor';
import { OwnershipService } from '../../tenancy/ownership.service';
import { assertPrecondition } from '../../tenancy/precondition';
import { embedInPage } from '../../tenancy/related-reads';
import { type TenantReader, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { findVisibleCompany } from '../companies/company-access';
import { Deal } from '../deals/deal.entity';
import { Contact, contactSearchText } from './contact.entity';
import {
  ContactInputDto,
  ContactListFiltersDto,
  ContactListQueryDto,
} from './dto/contact-input.dto';
import { ContactDto } from './dto/contact.dto';
import type { ContactInclude, ContactWithRelationsDto } from './dto/contact-with-relations.dto';
import { withContactRelations } from './contact-relations';
import type { UpdateContactDto } from './dto/update-contact.dto';
import { emitEvent, hasChanges, previousOf } from '../../events/record';

/** The columns of a contact's representation, in the order of its exports. */
export const CONTACT_COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'companyId',
  'name',
  'email',
  'phone',
  'createdAt',
  'updatedAt',
] as const;

/** The orderings of contact lists and exports (alias c), ties broken by id. */
export const CONTACT_ORDER = {
  createdAt: { column: 'c.created_at', type: 'timestamptz', id: 'c.id' },
  name: { column: 'c.name', type: 'text', id: 'c.id' },
} as const;

/**
 * The same orderings as CONTACT_ORDER (same rows, same order, same cursors), written as
 * expressions no index provides, so that PostgreSQL fetches a search's matches through the
 * trigram index and sorts them instead of walking the list's order index and testing every row
 * (docs/decisions/0032). Used when a search has few matches (SEARCH_FEW_MATCHES).
 */
export const CONTACT_ORDER_MATCHES_FIRST = {
  createdAt: { column: "(c.created_at + interval '0')", type: 'timestamptz', id: 'c.id' },
  name: { column: "(c.name || '')", type: 'text', id: 'c.id' },
} as const;

/**
 * How a search page is found (docs/decisions/0032, 0035), by the number of matches n (counted up
 * to SEARCH_FEW_MATCHES + 1): up to SEARCH_MATCHES_FIRST, matches first (fetch them all through
 * the trigram index, sort, cut: cost ~n rows). Above, the page is first looked for among the
 * organization's newest SEARCH_WINDOW_ROWS contacts in the list's order (a walk of the order
 * index that stops at the page's last match: ~pageSize x rows / n rows when matches are spread
 * out, at most SEARCH_WINDOW_ROWS); only when the window holds fewer matches than the page (the
 * matches are crowded further down) is the page asked again: matches first up to
 * SEARCH_FEW_MATCHES, else by walking the order index (at least one row in
 * rows / SEARCH_FEW_MATCHES is a match).
 */
export const SEARCH_MATCHES_FIRST = 2_000;
export const SEARCH_FEW_MATCHES = 20_000;
export const SEARCH_WINDOW_ROWS = 20_000;
/** How long a search's number of matches is reused (it only chooses a plan). */
const SEARCH_SIZE_TTL_MS = 60_000;
const SEARCH_SIZE_ENTRIES = 2_000;

/** The unique index behind CONTACT_EMAIL_TAKEN (emails are unique case-insensitively). */
export const CONTACT_EMAIL_INDEX = 'uq_contacts_org_email_ci';

const emailTaken = (): AppException =>
  AppException.conflict(
    ErrorCode.CONTACT_EMAIL_TAKEN,
    'A contact with this email already exists in the organization',
  );

/** Search words: lower-cased, split on white space. */
export function searchWords(search: string | undefined): string[] {
  return (search ?? '').toLowerCase().split(/\s+/).filter(Boolean);
}

/** The filters of a contact list or export (GET /contacts, GET /companies/{id}/contacts, CSV). */
export interface ContactFilters {
  search?: string;
  ownerId?: string;
  companyId?: string;
}

/** A contact another module creates (lead conversion, imports), unchecked: the caller validated it. */
export interface NewContact {
  ownerId: string;
  companyId: string | null;
  name: string;
  email: string | null;
  phone: string | null;
}

/**
 * A bulk change of an existing contact (imports): `name` replaces the stored one; a null
 * `email`, `phone` or `companyId` keeps the stored value.
 */
export interface ContactMerge {
  id: string;
  name: string;
  email: string | null;
  phone: string | null;
  companyId: string | null;
}

/**
 * The contacts module: the only writer of the contacts table. Other modules create contacts
 * through `findOrCreateByEmail` (lead conversion) and `insertMany` / `updateMany` (imports),
 * inside their own transaction.
 */
@Injectable()
export class ContactsService {
  /**
   * The number of matches of a search (by its probe's SQL and parameters: visibility and filters
   * included, counted up to SEARCH_FEW_MATCHES + 1), and until when it is reused. Per process; a
   * stale answer can only pick a slower plan, never other rows.
   */
  private readonly searchSizes = new Map<string, { matches: number; until: number }>();

  constructor(
    private readonly uow: UnitOfWork,
    private readonly ownership: OwnershipService,
  ) {}

  /** GET /contacts; with `include`, each contact with its related records. */
  list(actor: Actor, query: ContactListQueryDto): Promise<ListResult<ContactWithRelationsDto>> {
    const { include } = query;
    const page = this.listOf(actor, query, { endpoint: 'contacts', companyId: query.companyId });
    if (!include) return page;
    return page.then((found) =>
      embedInPage(found, (items) => withContactRelations(this.uow.read(actor), items, include)),
    );
  }

  /**
   * The contacts visible to the reader's actor matching `filters` (every word of `search` must
   * occur somewhere, a fragment is enough: trigram-indexed LIKE per word), `alias` c. Lists and
   * the CSV export share it.
   */
  filtered(reader: TenantReader, filters: ContactFilters): SelectQueryBuilder<Contact> {
    const contacts = reader.visible(Contact, 'c');
    if (filters.ownerId) contacts.andWhere('c.owner_id = :ownerId', { ownerId: filters.ownerId });
    if (filters.companyId)
      contacts.andWhere('c.company_id = :companyId', { companyId: filters.companyId });
    // A word of 3+ characters has trigrams: LIKE, answered by the trigram index. A shorter one
    // has none, and the planner would then scan the whole trigram index (seconds at 1M rows):
    // strpos, the same test, which no index serves (decision 0032).
    searchWords(filters.search).forEach((word, i) =>
      word.length >= 3
        ? contacts.andWhere(`${contactSearchText('c')} LIKE :word${i}`, {
            [`word${i}`]: `%${escapeLike(word)}%`,
          })
        : contacts.andWhere(`strpos(${contactSearchText('c')}, :word${i}) > 0`, {
            [`word${i}`]: word,
          }),
    );
    return contacts;
  }

  /**
   * A list of the contacts visible to the actor, optionally of one company. `endpoint` names
   * the listing its cursors belong to (GET /companies/{id}/contacts checks the company itself).
   */
  async listOf(
    actor: Actor,
    query: ContactListFiltersDto,
    { endpoint, companyId }: { endpoint: string; companyId?: string },
  ): Promise<ListResult<ContactDto>> {
    const reader = this.uow.read(actor);
    const filters = { ...query, companyId };
    const contacts = this.filtered(reader, filters).select(selectAs('c', CONTACT_COLUMNS));
    const matches = searchWords(query.search).length
      ? await this.searchSize(reader, filters)
      : undefined;
    const matchesFirst = CONTACT_ORDER_MATCHES_FIRST[query.orderBy];
    return reader.list(
      contacts,
      query,
      matches !== undefined && matches <= SEARCH_MATCHES_FIRST
        ? matchesFirst
        : CONTACT_ORDER[query.orderBy],
      {
        endpoint,
        orderBy: query.orderBy,
        filters: { words: searchWords(query.search), ownerId: query.ownerId, companyId },
        window:
          matches !== undefined && matches > SEARCH_MATCHES_FIRST
            ? {
                rows: SEARCH_WINDOW_ROWS,
                otherwise: matches <= SEARCH_FEW_MATCHES ? matchesFirst : undefined,
              }
            : undefined,
      },
      (row: Contact) => ContactDto.from(row),
    );
  }

  /**
   * The number of matches of the search of `filters`, counted up to SEARCH_FEW_MATCHES + 1 (for
   * few matches the trigram index finds them all, for many the first rows of any scan do),
   * remembered for SEARCH_SIZE_TTL_MS.
   */
  private async searchSize(reader: TenantReader, filters: ContactFilters): Promise<number> {
    const probe = this.filtered(reader, filters)
      .select('1')
      .limit(SEARCH_FEW_MATCHES + 1);
    const [sql, parameters] = probe.getQueryAndParameters();
    const key = `${sql}\n${JSON.stringify(parameters)}`;
    const now = Date.now();
    const known = this.searchSizes.get(key);
    if (known && known.until > now) return known.matches;
    const row = await probe
      .createQueryBuilder()
      .select('count(*)::int', 'n')
      .from(`(${probe.getQuery()})`, 'm')
      .setParameters(probe.getParameters())
      .getRawOne<{ n: number }>();
    const matches = row?.n ?? 0;
    this.searchSizes.delete(key);
    if (this.searchSizes.size >= SEARCH_SIZE_ENTRIES) {
      this.searchSizes.delete(this.searchSizes.keys().next().value!);
    }
    this.searchSizes.set(key, { matches, until: now + SEARCH_SIZE_TTL_MS });
    return matches;
  }

  /** GET /contacts/{id}; with `include`, the contact with its related records (and no ETag). */
  async get(
    actor: Actor,
    id: string,
    include?: readonly ContactInclude[],
  ): Promise<ContactWithRelationsDto> {
    const reader = this.uow.read(actor);
    const contact = ContactDto.from(
      await reader.readVisible(Contact, id, (alias) => selectAs(alias, CONTACT_COLUMNS)),
    );
    if (!include) return contact;
    const [withRelations] = await withContactRelations(reader, [contact], include);
    return withRelations;
  }

  async create(actor: Actor, input: ContactInputDto): Promise<ContactDto> {
    return this.writing(() =>
      this.uow.run(actor, async (tx) => {
        // Precedence (API.md section 1): the company's visibility (404) before 403, 409, 422.
        const companyId = input.companyId ?? null;
        if (companyId) await findVisibleCompany(tx, companyId, 'for_key_share');
        const ownerId = this.ownership.requestedOwner(actor, null, input.ownerId);
        await this.assertEmailFree(tx, input.email);
        await this.ownership.assertValidOwner(tx, ownerId);
        const contact = await tx.repo(Contact).save({
          ownerId,
          companyId,
          name: input.name,
          email: input.email ?? null,
          phone: input.phone ?? null,
        });
        const created = ContactDto.from(contact);
        emitEvent(tx, 'crm.contact.created.v1', 'contacts', created.id, { contact: created });
        return created;
      }),
    );
  }

  /**
   * PUT: name, email, phone and companyId are replaced (absent = null); ownerId changes only
   * when given. Only a changed company is checked for visibility: keeping the company someone
   * else linked is not the client's choice, so it is no reason for a 404.
   */
  async replace(actor: Actor, id: string, input: ContactInputDto): Promise<ContactDto> {
    return this.update(actor, id, {
      name: input.name,
      email: input.email ?? null,
      phone: input.phone ?? null,
      companyId: input.companyId ?? null,
      ownerId: input.ownerId,
    });
  }

  /**
   * PATCH semantics (bulk `update`), and PUT through `replace`: only the given properties change
   * (null clears email, phone and companyId), with the rules of PUT.
   */
  async update(actor: Actor, id: string, input: UpdateContactDto): Promise<ContactDto> {
    return this.writing(() =>
      this.uow.run(actor, async (tx) => {
        const contact = await tx.findVisible(Contact, id, { lock: 'pessimistic_write' });
        const before = ContactDto.from(contact);
        const companyId = input.companyId === undefined ? contact.companyId : input.companyId;
        if (companyId && companyId !== contact.companyId) {
          await findVisibleCompany(tx, companyId, 'for_key_share');
        }
        // If-Match (API.md section 17): after the records' visibility, before the rules.
        assertPrecondition(actor, 'Contact', contact);
        const currentOwner = contact.ownerId;
        contact.ownerId = this.ownership.requestedOwner(actor, currentOwner, input.ownerId);
        if (input.email !== undefined) await this.assertEmailFree(tx, input.email, contact.id);
        // Only a new owner must be a member: an unchanged owner (who may have left the
        // organization since) is not the client's choice, so it is no reason for a 422.
        if (contact.ownerId !== currentOwner) {
          await this.ownership.assertValidOwner(tx, contact.ownerId);
        }
        if (input.name !== undefined) contact.name = input.name;
        if (input.email !== undefined) contact.email = input.email;
        if (input.phone !== undefined) contact.phone = input.phone;
        contact.companyId = companyId;
        // Replacing a contact with what it holds is a no-op: nothing written, no event.
        if (!hasChanges(previousOf(before, ContactDto.from(contact)))) return before;
        const after = ContactDto.from(await tx.repo(Contact).save(contact));
        emitEvent(tx, 'crm.contact.updated.v1', 'contacts', after.id, {
          contact: after,
          previous: previousOf(before, after),
        });
        return after;
      }),
    );
  }

  async remove(actor: Actor, id: string): Promise<void> {
    try {
      await this.uow.run(actor, async (tx) => {
        const contact = await tx.findVisible(Contact, id, { lock: 'pessimistic_write' });
        assertPrecondition(actor, 'Contact', contact);
        const deals = await tx.repo(Deal).countBy({ contactId: contact.id });
        if (deals > 0) throw hasDeals(deals);
        await tx.repo(Contact).delete({ id: contact.id });
        emitEvent(tx, 'crm.contact.deleted.v1', 'contacts', contact.id, {
          contact: ContactDto.from(contact),
        });
      });
    } catch (e) {
      // A deal created for this contact between our count and the delete: the FK refuses.
      if (e instanceof QueryFailedError && (e.driverError as { code?: string }).code === '23503')
        throw hasDeals(1);
      throw e;
    }
  }

  /**
   * Lead conversion: the organization's contact with `contact.email` (case-insensitive),
   * whoever owns it and left unchanged; else (or without an email) `contact`, created. A
   * contact with that email committed meanwhile by another transaction makes the insert fail
   * with a unique violation of CONTACT_EMAIL_INDEX: the caller's transaction is then to be run
   * again, and finds it. A created contact records `contact.created`.
   */
  async findOrCreateByEmail(tx: TenantTx, contact: NewContact): Promise<Contact> {
    const byEmail = (email: string): Promise<Contact | null> =>
      tx
        .query(Contact, 'c')
        .andWhere('c.email IS NOT NULL AND lower(c.email) = lower(:email)', { email })
        .getOne();
    if (contact.email) {
      const existing = await byEmail(contact.email);
      if (existing) return existing;
    }
    // A concurrent transaction may create the same email first: the insert then does nothing
    // (the unique email index) and that contact, committed by now, is the one.
    const [inserted] = await tx
      .repo(Contact)
      .insertMany<{ id: string }>([{ ...contact }], ['id'], { orIgnore: true });
    if (inserted) {
      const created = (await tx.repo(Contact).findOneBy({ id: inserted.id }))!;
      emitEvent(tx, 'crm.contact.created.v1', 'contacts', created.id, {
        contact: ContactDto.from(created),
      });
      return created;
    }
    const existing = contact.email ? await byEmail(contact.email) : null;
    if (!existing) throw new Error('contact insert ignored without a conflicting contact');
    return existing;
  }

  /**
   * Imports: the organization's contacts holding any of `emails` (lower-cased), whoever owns
   * them, by lower-cased email.
   */
  async findByEmails(
    reader: TenantReader,
    emails: string[],
  ): Promise<Map<string, { id: string; ownerId: string }>> {
    const rows = await reader
      .query(Contact, 'c')
      .innerJoin(
        '(SELECT unnest(CAST(:emails AS text[])) AS key)',
        'k',
        'c.email IS NOT NULL AND lower(c.email) = lower(k.key)',
        { emails },
      )
      .select('k.key', 'key')
      .addSelect('c.id', 'id')
      .addSelect('c.owner_id', 'ownerId')
      .getRawMany<{ key: string; id: string; ownerId: string }>();
    return new Map(rows.map(({ key, id, ownerId }) => [key, { id, ownerId }]));
  }

  /**
   * Imports: inserts `contacts` in one statement, unchecked (the caller validated them as POST
   * /contacts does). A taken email surfaces as a unique violation of CONTACT_EMAIL_INDEX. No
   * event per contact: the import records one `import.completed`.
   */
  async insertMany(tx: TenantTx, contacts: NewContact[]): Promise<void> {
    await tx.repo(Contact).insertMany(contacts);
  }

  /**
   * Imports: applies `changes` (see ContactMerge) in one statement; a contact the change leaves
   * as it was is not written (its updatedAt stays).
   */
  async updateMany(tx: TenantTx, changes: ContactMerge[]): Promise<void> {
    if (!changes.length) return;
    const byId = Object.fromEntries(changes.map(({ id, ...change }) => [id, change]));
    const field = (name: keyof ContactMerge): string =>
      `(CAST(:changes AS jsonb) -> CAST(id AS text) ->> '${name}')`;
    const name = field('name');
    const email = `coalesce(${field('email')}, email)`;
    const phone = `coalesce(${field('phone')}, phone)`;
    const companyId = `coalesce(CAST(${field('companyId')} AS uuid), company_id)`;
    await tx
      .repo(Contact)
      .updateQuery({
        name: () => name,
        email: () => email,
        phone: () => phone,
        companyId: () => companyId,
        updatedAt: () => 'now()',
      })
      .andWhere('id = ANY(CAST(:ids AS uuid[]))', { ids: changes.map((c) => c.id) })
      .andWhere(
        `(name, email, phone, company_id) IS DISTINCT FROM (${name}, ${email}, ${phone}, ${companyId})`,
      )
      .setParameter('changes', JSON.stringify(byId))
      .execute();
  }

  /**
   * 409 CONTACT_EMAIL_TAKEN before the 422 owner check (API.md precedence); the unique index
   * still decides between two concurrent writers.
   */
  private async assertEmailFree(
    tx: TenantTx,
    email: string | null | undefined,
    exceptId?: string,
  ): Promise<void> {
    if (!email) return;
    const query = tx.query(Contact, 'c').andWhere('lower(c.email) = lower(:email)', { email });
    if (exceptId) query.andWhere('c.id <> :exceptId', { exceptId });
    if (await query.getExists()) throw emailTaken();
  }

  /** Runs a write, answering the unique email index's refusal as 409 CONTACT_EMAIL_TAKEN. */
  private async writing<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (e) {
      if (isUniqueViolation(e, CONTACT_EMAIL_INDEX)) throw emailTaken();
      throw e;
    }
  }
}

function hasDeals(count: number): AppException {
  return AppException.conflict(
    ErrorCode.CONTACT_HAS_DEALS,
    `Contact has ${count} deal${count === 1 ? '' : 's'}; delete or reassign them first`,
  );
}
