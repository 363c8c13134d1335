import { HttpStatus, Injectable } from '@nestjs/common';
import type { EntityTarget } from 'typeorm';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { RequestMeta } from '../../common/http/request-context';
import { selectAs } from '../../common/pagination/select-as';
import { emitEvent, previousOf } from '../../events/record';
import { type Actor, systemActor } from '../../tenancy/actor';
import { MembershipService } from '../../tenancy/membership.service';
import { OrganizationMember } from '../../tenancy/organization-member.entity';
import { Organization } from '../../tenancy/organization.entity';
import { Role } from '../../tenancy/role';
import type { TenantRow } from '../../tenancy/scoped-repository';
import { type SystemTx, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import { Company } from '../companies/company.entity';
import { COMPANY_COLUMNS } from '../companies/companies.service';
import { CompanyDto } from '../companies/dto/company.dto';
import { Contact } from '../contacts/contact.entity';
import { CONTACT_COLUMNS } from '../contacts/contacts.service';
import { ContactDto } from '../contacts/dto/contact.dto';
import { emitDealChanged } from '../deals/deal-events';
import { Deal } from '../deals/deal.entity';
import { DEAL_COLUMNS, DealDto } from '../deals/dto/deal.dto';
import { LeadDto } from '../leads/dto/lead.dto';
import { Lead } from '../leads/lead.entity';
import { LEAD_COLUMNS } from '../leads/leads.service';
import { OrganizationsService } from '../organizations/organizations.service';
import { User } from './user.entity';

/**
 * The audit action of an erasure (API.md section 16). AuditAction (audit.service.ts) has no
 * member for it yet: the value is the one the contract names.
 */

/** A kind of record a user owns (`owner_id`, RESTRICT toward users): moved on erasure. */
interface OwnedKind {
  name: 'contacts' | 'companies' | 'leads' | 'deals';
  entity: EntityTarget<TenantRow & { ownerId: string }>;
  alias: string;
  columns: readonly string[];
  toDto: (row: never) => { id: string };
  /** Records the `*.updated` event of the catalog for one moved record. */
  emit: (tx: TenantTx, before: never, after: never) => void;
}

const OWNED_KINDS: OwnedKind[] = [
  {
    name: 'contacts',
    entity: Contact,
    alias: 'c',
    columns: CONTACT_COLUMNS,
    toDto: (row: Contact) => ContactDto.from(row),
    emit: (tx, before: ContactDto, after: ContactDto) =>
      emitEvent(tx, 'crm.contact.updated.v1', 'contacts', after.id, {
        contact: after,
        previous: previousOf(before, after),
      }),
  },
  {
    name: 'companies',
    entity: Company,
    alias: 'co',
    columns: COMPANY_COLUMNS,
    toDto: (row: Company) => CompanyDto.from(row),
    emit: (tx, before: CompanyDto, after: CompanyDto) =>
      emitEvent(tx, 'crm.company.updated.v1', 'companies', after.id, {
        company: after,
        previous: previousOf(before, after),
      }),
  },
  {
    name: 'leads',
    entity: Lead,
    alias: 'l',
    columns: LEAD_COLUMNS,
    toDto: (row: Lead) => LeadDto.from(row),
    emit: (tx, before: LeadDto, after: LeadDto) =>
      emitEvent(tx, 'crm.lead.updated.v1', 'leads', after.id, {
        lead: after,
        previous: previousOf(before, after),
      }),
  },
  {
    name: 'deals',
    entity: Deal,
    alias: 'd',
    columns: DEAL_COLUMNS,
    toDto: (row: Deal) => DealDto.from(row),
    emit: (tx, before: DealDto, after: DealDto) => emitDealChanged(tx, before, after),
  },
];

type Moved = Record<OwnedKind['name'], number>;

/** What the erasure did in one organization (the audit entry's details). */
interface OrganizationOutcome {
  organizationId: string;
  name: string;
  /** The user's role there (null: no longer a member, records only). */
  role: string | null;
  /** `reassigned`: records moved to `newOwnerId`; `deleted`: the user was its only member. */
  outcome: 'reassigned' | 'deleted';
  newOwnerId: string | null;
  moved: Moved | null;
}

/** What the erasure does in one organization: `heir` null, the organization goes with the user. */
interface Plan {
  tx: TenantTx;
  org: Organization;
  mine: MemberRow | null;
  heir: MemberRow | null;
}

/** A member of an organization, as the erasure reads them (under the organization's lock). */
interface MemberRow {
  id: string;
  userId: string;
  role: string;
  createdAt: Date;
}

const lastOwner = (organizationId: string, name: string): AppException =>
  new AppException(
    HttpStatus.CONFLICT,
    ErrorCode.LAST_OWNER,
    `You are the last owner of the organization "${name}" (${organizationId}), which has other ` +
      'members: make another member an owner first',
  );

/**
 * Erasure of an account (DELETE /users/me, API.md section 16), in one transaction:
 * - refused with 409 LAST_OWNER (nothing changed) while the user is the last owner of an
 *   organization that has other members;
 * - in every other organization of the user, the records they own (contacts, companies, leads,
 *   deals; tasks follow their deal) move to the organization's first owner (the oldest owner
 *   membership), each recording its `*.updated` event (`previous.ownerId` = the user), and the
 *   membership is removed (`crm.member.removed.v1`);
 * - an organization whose only member the user is goes with the account (everything in it);
 * - the user row is deleted: refresh tokens, reset tokens, identities, notifications and
 *   preferences go with it (ON DELETE CASCADE); activities they wrote keep their text with no
 *   author (`author_id` ON DELETE SET NULL); earlier audit entries keep no actor (SET NULL);
 * - audited: `user_deleted` in each organization the user left (with what moved to whom), and
 *   one entry without organization listing every organization affected. The entries name the
 *   user by id only (target), not by email.
 * Organization rows are locked (in id order) before their members are read, as role changes and
 * removals do: a concurrent demotion cannot slip between the last-owner check and the erasure.
 */
@Injectable()
export class AccountService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly organizations: OrganizationsService,
    private readonly memberships: MembershipService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Erases `userId`. `expectedHash` is the password hash the caller's password was verified
   * against: when it changed meanwhile (a concurrent password change), 401 INVALID_CREDENTIALS.
   */
  async erase(
    userId: string,
    expectedHash: string | null,
    meta: RequestMeta,
  ): Promise<OrganizationOutcome[]> {
    return this.uow.system(async (sys) => {
      const user = await sys
        .repo(User)
        .createQueryBuilder('u')
        .addSelect('u.passwordHash')
        .where('u.id = :userId', { userId })
        .setLock('pessimistic_write')
        .getOne();
      if (!user) throw AppException.unauthenticated('The account of this token does not exist');
      if ((user.passwordHash ?? null) !== expectedHash) {
        throw new AppException(
          HttpStatus.UNAUTHORIZED,
          ErrorCode.INVALID_CREDENTIALS,
          'Invalid password',
        );
      }
      const actorIn = (organizationId: string): Actor => ({
        ...systemActor(organizationId, meta.requestId),
        userId,
        ip: meta.ip,
        userAgent: meta.userAgent,
      });
      const ids = await this.organizationsOf(sys, userId);
      // Every check first (locks in id order, then the members under the lock).
      const plans: Plan[] = [];
      for (const id of ids) {
        const tx = sys.tenant(actorIn(id));
        const org = await tx.organization({ lock: 'pessimistic_write' });
        const members = await tx
          .query(OrganizationMember, 'm')
          .orderBy('m.created_at', 'ASC')
          .addOrderBy('m.id', 'ASC')
          .getMany();
        // null: no longer a member, but still the owner of records there (removed members keep
        // their records).
        const mine = members.find((m) => m.userId === userId) ?? null;
        const others = members.filter((m) => m.userId !== userId);
        if (!others.length) {
          plans.push({ tx, org, mine, heir: null });
          continue;
        }
        const owners = others.filter((m) => m.role === (Role.OWNER as string));
        if (!owners.length && mine?.role === (Role.OWNER as string)) {
          throw lastOwner(org.id, org.name);
        }
        // An organization always has an owner; the oldest remaining member otherwise.
        plans.push({ tx, org, mine, heir: owners[0] ?? others[0] });
      }
      const outcomes: OrganizationOutcome[] = [];
      for (const { tx, org, mine, heir } of plans) {
        if (!heir) {
          outcomes.push({
            organizationId: org.id,
            name: org.name,
            role: mine?.role ?? null,
            outcome: 'deleted',
            newOwnerId: null,
            moved: null,
          });
          continue;
        }
        const moved = {} as Moved;
        for (const kind of OWNED_KINDS) moved[kind.name] = await this.move(tx, kind, userId, heir);
        if (mine) {
          await tx.repo(OrganizationMember).delete({ userId });
          emitEvent(tx, 'crm.member.removed.v1', 'members', userId, {
            member: {
              userId,
              email: user.email,
              name: user.name,
              role: mine.role,
              createdAt: new Date(mine.createdAt).toISOString(),
            },
          });
          tx.afterCommit(() => this.memberships.invalidate(userId, org.id));
        }
        const outcome: OrganizationOutcome = {
          organizationId: org.id,
          name: org.name,
          role: mine?.role ?? null,
          outcome: 'reassigned',
          newOwnerId: heir.userId,
          moved,
        };
        outcomes.push(outcome);
        await this.record(sys, org.id, userId, { organizations: [outcome] }, meta);
      }
      const deleted = plans.filter((p) => !p.heir).map((p) => p.org.id);
      if (deleted.length) await sys.repo(Organization).delete(deleted);
      await sys.repo(User).delete({ id: userId });
      await this.record(sys, null, userId, { organizations: outcomes }, meta);
      return outcomes;
    });
  }

  /**
   * The organizations the erasure touches, in id order (the order their rows are locked in):
   * those the user is a member of, and those where they still own records without being a member
   * (a removed member keeps their records; the foreign keys would refuse the deletion).
   */
  private async organizationsOf(sys: SystemTx, userId: string): Promise<string[]> {
    const memberships = await this.organizations.membershipsOf(sys, userId);
    const owning = sys
      .repo(Organization)
      .createQueryBuilder('o')
      .select('o.id', 'id')
      .where(
        OWNED_KINDS.map(
          (kind) =>
            `EXISTS (SELECT 1 FROM ${kind.name} r WHERE r.organization_id = o.id AND r.owner_id = :userId)`,
        ).join(' OR '),
        { userId },
      );
    const leftovers = await owning.getRawMany<{ id: string }>();
    const ids = new Set([
      ...memberships.map((m) => m.organization.id),
      ...leftovers.map((row) => row.id),
    ]);
    return [...ids].sort();
  }

  /**
   * Moves the records of one kind `from` owns in the transaction's organization to `to`, with
   * one `*.updated` event per record (as GET answers it before and after). The number moved.
   */
  private async move(tx: TenantTx, kind: OwnedKind, from: string, to: MemberRow): Promise<number> {
    const { alias } = kind;
    const read = () => tx.query(kind.entity, alias).select(selectAs(alias, kind.columns));
    const before = await read()
      .andWhere(`${alias}.owner_id = :from`, { from })
      .orderBy(`${alias}.created_at`, 'ASC')
      .addOrderBy(`${alias}.id`, 'ASC')
      .getRawMany<never>();
    if (!before.length) return 0;
    const beforeDtos = before.map((row) => kind.toDto(row));
    await tx
      .repo(kind.entity)
      // (QueryDeepPartialEntity cannot be resolved over the generic row type.)
      .updateQuery({ ownerId: to.userId } as never)
      .andWhere('owner_id = :from', { from })
      .execute();
    const ids = beforeDtos.map((dto) => dto.id);
    const after = await read()
      .andWhere(`${alias}.id = ANY(CAST(:ids AS uuid[]))`, { ids })
      .getRawMany<never>();
    const afterById = new Map(after.map((row) => [(row as { id: string }).id, kind.toDto(row)]));
    for (const dto of beforeDtos) {
      const changed = afterById.get(dto.id);
      if (changed) kind.emit(tx, dto as never, changed as never);
    }
    return beforeDtos.length;
  }

  /** One `user_deleted` audit entry (the user is named as its target: the row outlives them). */
  private record(
    sys: SystemTx,
    organizationId: string | null,
    userId: string,
    details: Record<string, unknown>,
    meta: RequestMeta,
  ): Promise<void> {
    return this.audit.record(
      sys,
      {
        action: AuditAction.USER_DELETED,
        // The user row is deleted in this transaction: a reference to it would be cleared.
        actorUserId: null,
        organizationId,
        target: { type: 'user', id: userId },
        details,
      },
      meta,
    );
  }
}
