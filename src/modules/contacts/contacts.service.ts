import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../common/http/request-context';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { Paginator } from '../../common/pagination/paginator';
import { escapeLike, selectAs } from '../../common/pagination/select-as';
import { OwnershipService } from '../../common/visibility/ownership.service';
import { visibleTo } from '../../common/visibility/visibility';
import { isUniqueViolation } from '../../database/pg-errors';
import { findVisibleCompany } from '../companies/company-access';
import { Deal } from '../deals/deal.entity';
import { Contact, contactSearchText } from './contact.entity';
import {
  ContactInputDto,
  ContactListFiltersDto,
  ContactListQueryDto,
} from './dto/contact-input.dto';
import { ContactDto } from './dto/contact.dto';

const COLUMNS = [
  'id',
  'organizationId',
  'ownerId',
  'name',
  'email',
  'phone',
  'companyId',
  'createdAt',
  'updatedAt',
] as const;
const ORDER = {
  createdAt: { column: 'c.created_at', type: 'timestamptz', id: 'c.id' },
  name: { column: 'c.name', type: 'text', id: 'c.id' },
} as const;

const emailTaken = (): AppException =>
  AppException.conflict(
    ErrorCode.CONTACT_EMAIL_TAKEN,
    'A contact with this email already exists in the organization',
  );

/** Search words: lower-cased, split on white space. */
export function searchWords(search: string | undefined): string[] {
  return (search ?? '').toLowerCase().split(/\s+/).filter(Boolean);
}

@Injectable()
export class ContactsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly paginator: Paginator,
    private readonly ownership: OwnershipService,
  ) {}

  /** GET /contacts. */
  list(actor: Actor, query: ContactListQueryDto): Promise<ListResult<ContactDto>> {
    return this.listOf(actor, query, { endpoint: 'contacts', companyId: query.companyId });
  }

  /**
   * A list of the contacts visible to the actor, optionally of one company. `endpoint` names
   * the listing its cursors belong to (GET /companies/{id}/contacts checks the company itself).
   */
  listOf(
    actor: Actor,
    query: ContactListFiltersDto,
    { endpoint, companyId }: { endpoint: string; companyId?: string },
  ): Promise<ListResult<ContactDto>> {
    const contacts = visibleTo(
      this.dataSource.getRepository(Contact).createQueryBuilder('c').select(selectAs('c', COLUMNS)),
      actor,
      'c',
    );
    if (query.ownerId) contacts.andWhere('c.owner_id = :ownerId', { ownerId: query.ownerId });
    if (companyId) contacts.andWhere('c.company_id = :companyId', { companyId });
    const words = searchWords(query.search);
    // Every word must occur somewhere (a fragment is enough): trigram-indexed LIKE per word.
    words.forEach((word, i) =>
      contacts.andWhere(`${contactSearchText('c')} LIKE :word${i}`, {
        [`word${i}`]: `%${escapeLike(word)}%`,
      }),
    );
    return this.paginator.list(
      contacts,
      query,
      ORDER[query.orderBy],
      {
        endpoint,
        actor,
        orderBy: query.orderBy,
        filters: { words, ownerId: query.ownerId, companyId },
      },
      (row: Contact) => ContactDto.from(row),
    );
  }

  async get(actor: Actor, id: string): Promise<ContactDto> {
    return ContactDto.from(await this.findVisible(this.dataSource.manager, actor, id));
  }

  /** The contact if the actor may see it; 404 otherwise. `lock` takes a row lock (in a transaction). */
  async findVisible(
    manager: EntityManager,
    actor: Actor,
    id: string,
    lock = false,
  ): Promise<Contact> {
    const query = visibleTo(
      manager.getRepository(Contact).createQueryBuilder('c'),
      actor,
      'c',
    ).andWhere('c.id = :id', { id });
    if (lock) query.setLock('pessimistic_write');
    const contact = await query.getOne();
    if (!contact) throw AppException.notFound('Contact');
    return contact;
  }

  async create(actor: Actor, input: ContactInputDto): Promise<ContactDto> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        // Precedence (API.md section 1): the company's visibility (404) before 403, 409, 422.
        const companyId = input.companyId ?? null;
        if (companyId) await findVisibleCompany(manager, actor, companyId, 'for_key_share');
        const ownerId = this.ownership.requestedOwner(actor, null, input.ownerId);
        await this.assertEmailFree(manager, actor, input.email);
        await this.ownership.assertValidOwner(actor, ownerId, manager);
        const contact = await manager.getRepository(Contact).save({
          organizationId: actor.organizationId,
          ownerId,
          companyId,
          name: input.name,
          email: input.email ?? null,
          phone: input.phone ?? null,
        });
        return ContactDto.from(contact);
      });
    } catch (e) {
      if (isUniqueViolation(e, 'uq_contacts_org_email_ci')) throw emailTaken();
      throw e;
    }
  }

  /**
   * PUT: name, email, phone and companyId are replaced (absent = null); ownerId changes only
   * when given. Only a changed company is checked for visibility: keeping the company someone
   * else linked is not the client's choice, so it is no reason for a 404.
   */
  async replace(actor: Actor, id: string, input: ContactInputDto): Promise<ContactDto> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const contact = await this.findVisible(manager, actor, id, true);
        const companyId = input.companyId ?? null;
        if (companyId && companyId !== contact.companyId) {
          await findVisibleCompany(manager, actor, companyId, 'for_key_share');
        }
        const currentOwner = contact.ownerId;
        contact.ownerId = this.ownership.requestedOwner(actor, currentOwner, input.ownerId);
        await this.assertEmailFree(manager, actor, input.email, contact.id);
        // Only a new owner must be a member: an unchanged owner (who may have left the
        // organization since) is not the client's choice, so it is no reason for a 422.
        if (contact.ownerId !== currentOwner) {
          await this.ownership.assertValidOwner(actor, contact.ownerId, manager);
        }
        contact.name = input.name;
        contact.email = input.email ?? null;
        contact.phone = input.phone ?? null;
        contact.companyId = companyId;
        return ContactDto.from(await manager.save(contact));
      });
    } catch (e) {
      if (isUniqueViolation(e, 'uq_contacts_org_email_ci')) throw emailTaken();
      throw e;
    }
  }

  /**
   * 409 CONTACT_EMAIL_TAKEN before the 422 owner check (API.md precedence); the unique index
   * still decides between two concurrent writers.
   */
  private async assertEmailFree(
    manager: EntityManager,
    actor: Actor,
    email: string | null | undefined,
    exceptId?: string,
  ): Promise<void> {
    if (!email) return;
    const query = manager
      .getRepository(Contact)
      .createQueryBuilder('c')
      .where('c.organization_id = :organizationId AND lower(c.email) = lower(:email)', {
        organizationId: actor.organizationId,
        email,
      });
    if (exceptId) query.andWhere('c.id <> :exceptId', { exceptId });
    if (await query.getExists()) throw emailTaken();
  }

  async remove(actor: Actor, id: string): Promise<void> {
    try {
      await this.dataSource.transaction(async (manager) => {
        const contact = await this.findVisible(manager, actor, id, true);
        const deals = await manager.countBy(Deal, { contactId: contact.id });
        if (deals > 0) throw hasDeals(deals);
        await manager.delete(Contact, { id: contact.id });
      });
    } catch (e) {
      // A deal created for this contact between our count and the delete: the FK refuses.
      if (e instanceof QueryFailedError && (e.driverError as { code?: string }).code === '23503')
        throw hasDeals(1);
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
