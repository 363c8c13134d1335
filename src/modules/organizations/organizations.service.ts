import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { RequestMeta } from '../../common/http/request-context';
import { type Actor, hasRole } from '../../tenancy/actor';
import { assertSupportedCurrency } from '../../common/validation/currency';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { isUniqueViolation } from '../../database/pg-errors';
import { type SystemTx, type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import { PipelinesService } from '../pipelines/pipelines.service';
import { User } from '../users/user.entity';
import { emitEvent } from '../../events/record';
import { MemberDto } from './dto/member.dto';
import {
  AddMemberDto,
  CreateOrganizationDto,
  MemberListQueryDto,
  UpdateMemberDto,
  UpdateOrganizationDto,
} from './dto/organization-input.dto';
import { OrganizationDto, OrganizationWithRoleDto } from './dto/organization.dto';
import { MembershipService } from '../../tenancy/membership.service';
import { OrganizationMember } from '../../tenancy/organization-member.entity';
import { Organization } from '../../tenancy/organization.entity';
import { ORG_ADMIN_ROLES, Role } from '../../tenancy/role';
import { Grants } from '../../tenancy/permissions';
import { grantsOfRole } from '../../tenancy/role-grants';
import { ApiKey } from '../../tenancy/api-key.entity';
import { ApiKeyAuthenticator } from '../../tenancy/api-keys';

const MEMBER_SORT = {
  createdAt: { column: 'm.created_at', type: 'timestamptz' },
  name: { column: 'u.name', type: 'text' },
  email: { column: 'u.email', type: 'text' },
} as const;

interface MemberRow {
  userId: string;
  email: string;
  name: string;
  role: string;
  createdAt: Date;
}

/** One of a user's memberships: the organization, the user's role in it, since when. */
export interface Membership {
  organization: Organization;
  role: string;
  joinedAt: Date;
}

/**
 * Organizations and their members: the only writer of the organizations and
 * organization_members tables. Registration creates an organization through `createWithOwner`,
 * inside its own transaction. Changes are audited in the same transaction, so the audited ones
 * run in `uow.system` and enter the organization with `tx.tenant(actor)`.
 */
@Injectable()
export class OrganizationsService {
  constructor(
    private readonly uow: UnitOfWork,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly memberships: MembershipService,
    private readonly audit: AuditService,
    private readonly pipelines: PipelinesService,
    private readonly apiKeys: ApiKeyAuthenticator,
  ) {}

  /** The caller's organizations with their role in each, oldest membership first. */
  async listMine(userId: string): Promise<OrganizationWithRoleDto[]> {
    const memberships = await this.membershipsOf(this.uow.systemRead(), userId);
    return memberships.map((m) => OrganizationWithRoleDto.withRole(m.organization, m.role));
  }

  /**
   * A user's memberships (a user's own rows, across organizations), oldest first: "my
   * organizations" and the user's data export.
   */
  async membershipsOf(tx: SystemTx, userId: string): Promise<Membership[]> {
    const rows = await tx
      .repo(Organization)
      .createQueryBuilder('o')
      .innerJoin(OrganizationMember, 'm', 'm.organization_id = o.id')
      .select([
        'o.id AS id',
        'o.name AS name',
        'o.default_currency AS "defaultCurrency"',
        'o.created_at AS "createdAt"',
        'm.role AS role',
        'm.created_at AS "joinedAt"',
      ])
      .where('m.user_id = :userId', { userId })
      .orderBy('m.created_at', 'ASC')
      .addOrderBy('o.id', 'ASC')
      .getRawMany<Omit<Organization, 'updatedAt'> & { role: string; joinedAt: Date }>();
    return rows.map(({ role, joinedAt, ...organization }) => ({
      organization: Object.assign(new Organization(), organization),
      role,
      joinedAt,
    }));
  }

  /**
   * Creates an organization with `owner` as its owner (membership, default pipeline, audit
   * row), inside the caller's transaction: registration uses it too, so user + organization +
   * membership commit together. Records `crm.organization.created.v1` and `crm.member.added.v1`
   * in the new organization (they cover its default pipeline too); `firstEvents` records the
   * caller's own events of this transaction before them (registration: `crm.user.registered.v1`).
   */
  async createWithOwner(
    tx: SystemTx,
    owner: Pick<User, 'id' | 'email' | 'name'>,
    input: CreateOrganizationDto,
    meta: RequestMeta,
    firstEvents?: (tx: TenantTx) => void,
  ): Promise<OrganizationWithRoleDto> {
    if (input.defaultCurrency) assertSupportedCurrency(this.config, input.defaultCurrency);
    const organizations = tx.repo(Organization);
    const org = await organizations.save(
      organizations.create({ name: input.name, defaultCurrency: input.defaultCurrency ?? null }),
    );
    const tenant = tx.tenant({
      ...meta,
      userId: owner.id,
      organizationId: org.id,
      role: Role.OWNER,
      grants: Grants.of(Role.OWNER),
    });
    const [membership] = await tenant
      .repo(OrganizationMember)
      .insertMany<{ created_at: Date }>([{ userId: owner.id, role: Role.OWNER }], ['created_at']);
    await this.pipelines.createDefault(tenant);
    await this.audit.record(
      tx,
      {
        action: AuditAction.ORGANIZATION_CREATED,
        actorUserId: owner.id,
        organizationId: org.id,
        target: { type: 'organization', id: org.id },
      },
      meta,
    );
    firstEvents?.(tenant);
    emitEvent(tenant, 'crm.organization.created.v1', 'organizations', org.id, {
      organization: OrganizationDto.from(org),
    });
    const member = toMemberDto({
      ...owner,
      userId: owner.id,
      role: Role.OWNER,
      createdAt: membership.created_at,
    });
    emitEvent(tenant, 'crm.member.added.v1', 'members', owner.id, { member });
    return OrganizationWithRoleDto.withRole(org, Role.OWNER);
  }

  create(
    userId: string,
    input: CreateOrganizationDto,
    meta: RequestMeta,
  ): Promise<OrganizationWithRoleDto> {
    return this.uow.system(async (tx) => {
      // A well-signed token of an account that no longer exists (or never did): not a caller.
      // The row is locked so the account cannot go away before the membership references it.
      const user = await tx.repo(User).findOne({
        where: { id: userId },
        select: { id: true, email: true, name: true },
        lock: { mode: 'for_key_share' },
      });
      if (!user) throw AppException.unauthenticated('The account of this token does not exist');
      return this.createWithOwner(tx, user, input, meta);
    });
  }

  async getCurrent(actor: Actor): Promise<OrganizationDto> {
    return OrganizationDto.from(await this.uow.read(actor).organization());
  }

  async update(actor: Actor, input: UpdateOrganizationDto): Promise<OrganizationDto> {
    if (input.defaultCurrency) assertSupportedCurrency(this.config, input.defaultCurrency);
    return this.uow.system(async (sys) => {
      const tx = sys.tenant(actor);
      const org = await tx.organization({ lock: 'pessimistic_write' });
      // Only what really changes: a no-op change writes nothing and records nothing.
      const changes: Partial<Pick<Organization, 'name' | 'defaultCurrency'>> = {};
      const previous: Partial<Pick<OrganizationDto, 'name' | 'defaultCurrency'>> = {};
      if (input.name !== undefined && input.name !== org.name) {
        changes.name = input.name;
        previous.name = org.name;
      }
      if (input.defaultCurrency !== undefined && input.defaultCurrency !== org.defaultCurrency) {
        changes.defaultCurrency = input.defaultCurrency;
        previous.defaultCurrency = org.defaultCurrency;
      }
      if (Object.keys(changes).length === 0) return OrganizationDto.from(org);
      Object.assign(org, changes);
      const saved = await tx.saveOrganization(org);
      const organization = OrganizationDto.from(saved);
      emitEvent(tx, 'crm.organization.updated.v1', 'organizations', org.id, {
        organization,
        previous,
      });
      await this.audit.record(
        sys,
        {
          action: AuditAction.ORGANIZATION_UPDATED,
          actorUserId: actor.userId,
          organizationId: org.id,
          target: { type: 'organization', id: org.id },
          details: { changes },
        },
        actor,
      );
      return organization;
    });
  }

  listMembers(actor: Actor, query: MemberListQueryDto): Promise<ListResult<MemberDto>> {
    const reader = this.uow.read(actor);
    const members = reader
      .query(OrganizationMember, 'm')
      .innerJoin('m.user', 'u')
      .select([
        'm.user_id AS "userId"',
        'u.email AS email',
        'u.name AS name',
        'm.role AS role',
        'm.created_at AS "createdAt"',
      ]);
    const sort = MEMBER_SORT[query.orderBy];
    return reader.list(
      members,
      query,
      { ...sort, id: 'm.user_id' },
      { endpoint: 'members', orderBy: query.orderBy },
      toMemberDto,
    );
  }

  async addMember(actor: Actor, input: AddMemberDto): Promise<MemberDto> {
    const member = await this.uow.system(async (sys) => {
      const user = await sys.repo(User).findOneBy({ email: input.email });
      if (!user) throw AppException.notFound('Registered user with this email');
      const tx = sys.tenant(actor);
      await this.assertMayGrant(tx, input.role);
      const members = tx.repo(OrganizationMember);
      let row: OrganizationMember;
      try {
        row = await members.save(members.create({ userId: user.id, role: input.role }));
      } catch (e) {
        if (isUniqueViolation(e)) throw alreadyMember();
        throw e;
      }
      this.invalidateAfterCommit(tx, user.id);
      await this.recordMemberEvent(sys, actor, AuditAction.MEMBER_ADDED, user.id, {
        role: input.role,
      });
      const added = toMemberDto({ ...row, email: user.email, name: user.name });
      emitEvent(tx, 'crm.member.added.v1', 'members', user.id, { member: added });
      return added;
    });
    return member;
  }

  async changeRole(actor: Actor, userId: string, input: UpdateMemberDto): Promise<MemberDto> {
    const result = await this.uow.system(async (sys) => {
      const tx = sys.tenant(actor);
      // The body first (400 for a role the organization does not have), then the member (404).
      await this.knownRole(tx, input.role);
      const target = await this.lockAndLoadMember(tx, userId);
      this.invalidateAfterCommit(tx, userId);
      await this.assertMayGrant(tx, target.role);
      await this.assertMayGrant(tx, input.role);
      if (target.role === input.role) return toMemberDto(target);
      if (hasRole(target, Role.OWNER)) await this.assertNotLastOwner(tx);
      await tx.repo(OrganizationMember).update({ id: target.id }, { role: input.role });
      await this.recordMemberEvent(sys, actor, AuditAction.MEMBER_ROLE_CHANGED, userId, {
        from: target.role,
        to: input.role,
      });
      const member = toMemberDto({ ...target, role: input.role });
      emitEvent(tx, 'crm.member.role_changed.v1', 'members', userId, {
        member,
        previous: { role: target.role },
      });
      return member;
    });
    return result;
  }

  async removeMember(actor: Actor, userId: string): Promise<void> {
    await this.uow.system(async (sys) => {
      const tx = sys.tenant(actor);
      const target = await this.lockAndLoadMember(tx, userId);
      this.invalidateAfterCommit(tx, userId);
      await this.assertMayGrant(tx, target.role);
      if (hasRole(target, Role.OWNER)) await this.assertNotLastOwner(tx);
      await tx.repo(OrganizationMember).delete({ id: target.id });
      // A creator who leaves takes their API keys with them (API.md section 16).
      const revoked = await tx
        .repo(ApiKey)
        .updateQuery({ revokedAt: () => 'now()' })
        .andWhere('user_id = :userId AND revoked_at IS NULL', { userId })
        .returning(['id'])
        .execute();
      for (const { id } of revoked.raw as { id: string }[]) {
        tx.afterCommit(() => this.apiKeys.revoked(id));
      }
      await this.recordMemberEvent(sys, actor, AuditAction.MEMBER_REMOVED, userId, {
        role: target.role,
      });
      // The member as it was before the removal.
      emitEvent(tx, 'crm.member.removed.v1', 'members', userId, { member: toMemberDto(target) });
    });
  }

  /** Once the change has committed, the guard's cached role of `userId` here is dropped. */
  private invalidateAfterCommit(tx: TenantTx, userId: string): void {
    const { organizationId } = tx.actor;
    tx.afterCommit(() => this.memberships.invalidate(userId, organizationId));
  }

  /**
   * Locks the organization row first: every role change and removal in one organization is
   * serialized, so two owners demoting each other cannot both pass the last-owner check.
   */
  private async lockAndLoadMember(
    tx: TenantTx,
    userId: string,
  ): Promise<OrganizationMember & MemberRow> {
    await tx.organization({ lock: 'pessimistic_write' });
    const row = await tx
      .query(OrganizationMember, 'm')
      .innerJoinAndSelect('m.user', 'u')
      .andWhere('m.user_id = :userId', { userId })
      .getOne();
    if (!row) throw AppException.notFound('Member');
    const user = row.user as Pick<User, 'email' | 'name'>;
    return Object.assign(row, { email: user.email, name: user.name });
  }

  /**
   * Who may grant, change or remove a role (API.md sections 3 and 16): it must be one of the
   * organization's roles (else 400); only an owner may grant, change or remove the roles owner
   * and admin; and nobody grants a role holding more than their own (an admin cannot make a
   * custom role stronger than admin; a custom role managing members grants at most itself).
   */
  private async assertMayGrant(tx: TenantTx, role: string): Promise<void> {
    const { actor } = tx;
    const grants = await this.knownRole(tx, role);
    if (!hasRole(actor, Role.OWNER) && (ORG_ADMIN_ROLES as string[]).includes(role)) {
      throw AppException.forbidden(
        'Only an owner may grant, change or remove the owner and admin roles',
      );
    }
    if (!grants.within(actor.grants)) {
      throw AppException.forbidden('You cannot grant a role with permissions you do not hold');
    }
  }

  /** What `role` grants; 400 when the organization has no such role. */
  private async knownRole(tx: TenantTx, role: string): Promise<Grants> {
    const grants = await grantsOfRole(tx, role);
    if (!grants) {
      throw AppException.validation([
        { field: 'role', message: "role must be one of the organization's roles" },
      ]);
    }
    return grants;
  }

  private async assertNotLastOwner(tx: TenantTx): Promise<void> {
    const owners = await tx.repo(OrganizationMember).countBy({ role: Role.OWNER });
    if (owners <= 1) {
      throw AppException.conflict(
        ErrorCode.LAST_OWNER,
        'The organization must keep at least one owner',
      );
    }
  }

  private recordMemberEvent(
    tx: SystemTx,
    actor: Actor,
    action: AuditAction,
    userId: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    return this.audit.record(
      tx,
      {
        action,
        actorUserId: actor.userId,
        organizationId: actor.organizationId,
        target: { type: 'user', id: userId },
        details,
      },
      actor,
    );
  }
}

function alreadyMember(): AppException {
  return new AppException(
    HttpStatus.CONFLICT,
    ErrorCode.ALREADY_MEMBER,
    'This user is already a member',
  );
}

function toMemberDto(m: MemberRow): MemberDto {
  return {
    userId: m.userId,
    email: m.email,
    name: m.name,
    role: m.role,
    createdAt: new Date(m.createdAt).toISOString(),
  };
}
