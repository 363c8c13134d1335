import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { Paginator } from '../../common/pagination/paginator';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor, RequestMeta } from '../../common/http/request-context';
import { assertSupportedCurrency } from '../../common/validation/currency';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { isUniqueViolation } from '../../database/pg-errors';
import { AuditAction, AuditService } from '../audit/audit.service';
import { PipelinesService } from '../pipelines/pipelines.service';
import { User } from '../users/user.entity';
import { MemberDto } from './dto/member.dto';
import {
  AddMemberDto,
  CreateOrganizationDto,
  MemberListQueryDto,
  UpdateMemberDto,
  UpdateOrganizationDto,
} from './dto/organization-input.dto';
import { OrganizationDto, OrganizationWithRoleDto } from './dto/organization.dto';
import { MembershipService } from './membership.service';
import { OrganizationMember } from './organization-member.entity';
import { Organization } from './organization.entity';
import { ORG_ADMIN_ROLES, Role } from './role.enum';

const MEMBER_SORT = {
  createdAt: { column: 'm.created_at', type: 'timestamptz' },
  name: { column: 'u.name', type: 'text' },
  email: { column: 'u.email', type: 'text' },
} as const;

interface MemberRow {
  userId: string;
  email: string;
  name: string;
  role: Role;
  createdAt: Date;
}

@Injectable()
export class OrganizationsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly memberships: MembershipService,
    private readonly audit: AuditService,
    private readonly paginator: Paginator,
    private readonly pipelines: PipelinesService,
  ) {}

  /** The caller's organizations with their role in each, oldest membership first. */
  async listMine(userId: string): Promise<OrganizationWithRoleDto[]> {
    const rows = await this.dataSource
      .getRepository(OrganizationMember)
      .createQueryBuilder('m')
      .innerJoinAndSelect('m.organization', 'o')
      .where('m.user_id = :userId', { userId })
      .orderBy('m.created_at', 'ASC')
      .addOrderBy('o.id', 'ASC')
      .getMany();
    return rows.map((m) => OrganizationWithRoleDto.withRole(m.organization!, m.role));
  }

  /**
   * Creates an organization with `ownerId` as its owner, inside the caller's transaction
   * (register uses it too, so user + organization + membership commit together).
   */
  async createWithOwner(
    manager: EntityManager,
    ownerId: string,
    input: CreateOrganizationDto,
    meta: RequestMeta,
  ): Promise<OrganizationWithRoleDto> {
    if (input.defaultCurrency) assertSupportedCurrency(this.config, input.defaultCurrency);
    const org = await manager.save(
      manager.create(Organization, {
        name: input.name,
        defaultCurrency: input.defaultCurrency ?? null,
      }),
    );
    await manager.insert(OrganizationMember, {
      organizationId: org.id,
      userId: ownerId,
      role: Role.OWNER,
    });
    await this.pipelines.createDefault(manager, org.id);
    await this.audit.record(
      {
        action: AuditAction.ORGANIZATION_CREATED,
        actorUserId: ownerId,
        organizationId: org.id,
        target: { type: 'organization', id: org.id },
      },
      meta,
      manager,
    );
    return OrganizationWithRoleDto.withRole(org, Role.OWNER);
  }

  create(
    userId: string,
    input: CreateOrganizationDto,
    meta: RequestMeta,
  ): Promise<OrganizationWithRoleDto> {
    return this.dataSource.transaction((manager) =>
      this.createWithOwner(manager, userId, input, meta),
    );
  }

  async getCurrent(actor: Actor): Promise<OrganizationDto> {
    return OrganizationDto.from(await this.load(this.dataSource.manager, actor.organizationId));
  }

  async update(actor: Actor, input: UpdateOrganizationDto): Promise<OrganizationDto> {
    if (input.defaultCurrency) assertSupportedCurrency(this.config, input.defaultCurrency);
    return this.dataSource.transaction(async (manager) => {
      const org = await this.load(manager, actor.organizationId, true);
      const changes: Partial<Organization> = {};
      if (input.name !== undefined) changes.name = input.name;
      if (input.defaultCurrency !== undefined) changes.defaultCurrency = input.defaultCurrency;
      if (Object.keys(changes).length === 0) return OrganizationDto.from(org);
      Object.assign(org, changes);
      const saved = await manager.save(org);
      await this.audit.record(
        {
          action: AuditAction.ORGANIZATION_UPDATED,
          actorUserId: actor.userId,
          organizationId: org.id,
          target: { type: 'organization', id: org.id },
          details: { changes },
        },
        actor,
        manager,
      );
      return OrganizationDto.from(saved);
    });
  }

  listMembers(actor: Actor, query: MemberListQueryDto): Promise<ListResult<MemberDto>> {
    const members = this.dataSource
      .getRepository(OrganizationMember)
      .createQueryBuilder('m')
      .innerJoin('m.user', 'u')
      .select([
        'm.user_id AS "userId"',
        'u.email AS email',
        'u.name AS name',
        'm.role AS role',
        'm.created_at AS "createdAt"',
      ])
      .where('m.organization_id = :organizationId', { organizationId: actor.organizationId });
    const sort = MEMBER_SORT[query.orderBy];
    return this.paginator.list(
      members,
      query,
      { ...sort, id: 'm.user_id' },
      { endpoint: 'members', actor, orderBy: query.orderBy },
      toMemberDto,
    );
  }

  async addMember(actor: Actor, input: AddMemberDto): Promise<MemberDto> {
    const user = await this.dataSource.getRepository(User).findOneBy({ email: input.email });
    if (!user) throw AppException.notFound('Registered user with this email');
    this.assertMayManageRole(actor, input.role);
    const member = await this.dataSource.transaction(async (manager) => {
      let row: OrganizationMember;
      try {
        row = await manager.save(
          manager.create(OrganizationMember, {
            organizationId: actor.organizationId,
            userId: user.id,
            role: input.role,
          }),
        );
      } catch (e) {
        if (isUniqueViolation(e)) throw alreadyMember();
        throw e;
      }
      await this.recordMemberEvent(manager, actor, AuditAction.MEMBER_ADDED, user.id, {
        role: input.role,
      });
      return row;
    });
    this.memberships.invalidate(user.id, actor.organizationId);
    return toMemberDto({ ...member, email: user.email, name: user.name });
  }

  async changeRole(actor: Actor, userId: string, input: UpdateMemberDto): Promise<MemberDto> {
    const result = await this.dataSource.transaction(async (manager) => {
      const target = await this.lockAndLoadMember(manager, actor.organizationId, userId);
      this.assertMayManageRole(actor, target.role);
      this.assertMayManageRole(actor, input.role);
      if (target.role === input.role) return target;
      if (target.role === Role.OWNER) await this.assertNotLastOwner(manager, actor.organizationId);
      await manager.update(OrganizationMember, { id: target.id }, { role: input.role });
      await this.recordMemberEvent(manager, actor, AuditAction.MEMBER_ROLE_CHANGED, userId, {
        from: target.role,
        to: input.role,
      });
      return { ...target, role: input.role };
    });
    this.memberships.invalidate(userId, actor.organizationId);
    return toMemberDto(result);
  }

  async removeMember(actor: Actor, userId: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const target = await this.lockAndLoadMember(manager, actor.organizationId, userId);
      this.assertMayManageRole(actor, target.role);
      if (target.role === Role.OWNER) await this.assertNotLastOwner(manager, actor.organizationId);
      await manager.delete(OrganizationMember, { id: target.id });
      await this.recordMemberEvent(manager, actor, AuditAction.MEMBER_REMOVED, userId, {
        role: target.role,
      });
    });
    this.memberships.invalidate(userId, actor.organizationId);
  }

  private async load(manager: EntityManager, id: string, lock = false): Promise<Organization> {
    const org = await manager.findOne(Organization, {
      where: { id },
      lock: lock ? { mode: 'pessimistic_write' } : undefined,
    });
    if (!org) throw AppException.notFound('Organization');
    return org;
  }

  /**
   * Locks the organization row first: every role change and removal in one organization is
   * serialized, so two owners demoting each other cannot both pass the last-owner check.
   */
  private async lockAndLoadMember(
    manager: EntityManager,
    organizationId: string,
    userId: string,
  ): Promise<OrganizationMember & MemberRow> {
    await this.load(manager, organizationId, true);
    const row = await manager
      .getRepository(OrganizationMember)
      .createQueryBuilder('m')
      .innerJoinAndSelect('m.user', 'u')
      .where('m.organization_id = :organizationId AND m.user_id = :userId', {
        organizationId,
        userId,
      })
      .getOne();
    if (!row) throw AppException.notFound('Member');
    return Object.assign(row, { email: row.user!.email, name: row.user!.name });
  }

  /** Only an owner may grant, change or remove the roles owner and admin. */
  private assertMayManageRole(actor: Actor, role: Role): void {
    if (actor.role !== Role.OWNER && ORG_ADMIN_ROLES.includes(role)) {
      throw AppException.forbidden(
        'Only an owner may grant, change or remove the owner and admin roles',
      );
    }
  }

  private async assertNotLastOwner(manager: EntityManager, organizationId: string): Promise<void> {
    const owners = await manager.countBy(OrganizationMember, { organizationId, role: Role.OWNER });
    if (owners <= 1) {
      throw AppException.conflict(
        ErrorCode.LAST_OWNER,
        'The organization must keep at least one owner',
      );
    }
  }

  private recordMemberEvent(
    manager: EntityManager,
    actor: Actor,
    action: AuditAction,
    userId: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    return this.audit.record(
      {
        action,
        actorUserId: actor.userId,
        organizationId: actor.organizationId,
        target: { type: 'user', id: userId },
        details,
      },
      actor,
      manager,
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
