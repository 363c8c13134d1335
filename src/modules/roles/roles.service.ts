import { Injectable } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { CursorCodec } from '../../common/pagination/cursor.codec';
import { pageInMemory } from '../../common/pagination/in-memory';
import type { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { isUniqueViolation } from '../../database/pg-errors';
import type { Actor } from '../../tenancy/actor';
import { ApiKey } from '../../tenancy/api-key.entity';
import { CustomRole } from '../../tenancy/custom-role.entity';
import { MembershipService } from '../../tenancy/membership.service';
import { OrganizationMember } from '../../tenancy/organization-member.entity';
import {
  builtInPermissions,
  Grants,
  isBuiltInRole,
  type Permission,
} from '../../tenancy/permissions';
import { ALL_ROLES } from '../../tenancy/role';
import { type TenantTx, UnitOfWork } from '../../tenancy/unit-of-work';
import { AuditAction, AuditService } from '../audit/audit.service';
import type { CreateRoleDto, MyPermissionsDto, RoleDto, UpdateRoleDto } from './dto/role.dto';

const BUILT_IN_NAMES: Record<string, string> = {
  owner: 'Owner',
  admin: 'Admin',
  manager: 'Manager',
  member: 'Member',
};

function builtInRole(key: (typeof ALL_ROLES)[number]): RoleDto {
  return {
    key,
    name: BUILT_IN_NAMES[key],
    builtIn: true,
    permissions: builtInPermissions(key),
    createdAt: null,
    updatedAt: null,
  };
}

function toDto(role: CustomRole): RoleDto {
  return {
    key: role.key,
    name: role.name,
    builtIn: false,
    permissions: new Grants(role.permissions).list(),
    createdAt: role.createdAt.toISOString(),
    updatedAt: role.updatedAt.toISOString(),
  };
}

/**
 * The organization's roles (API.md section 16): the four built-in ones, fixed, and its custom
 * roles, whose permissions are data. A change reaches every copy's permission cache at once
 * (MembershipService.invalidateOrganization). Nobody creates or widens a role beyond their own
 * permissions.
 */
@Injectable()
export class RolesService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly memberships: MembershipService,
    private readonly cursors: CursorCodec,
    private readonly audit: AuditService,
  ) {}

  async list(actor: Actor, query: ListQueryDto): Promise<ListResult<RoleDto>> {
    const custom = await this.uow
      .read(actor)
      .query(CustomRole, 'r')
      .orderBy('r.created_at', 'ASC')
      .addOrderBy('r.key', 'ASC')
      .getMany();
    const roles = [...ALL_ROLES.map(builtInRole), ...custom.map(toDto)];
    return pageInMemory(roles, (role) => role.key, query, this.cursors, 'roles');
  }

  async get(actor: Actor, key: string): Promise<RoleDto> {
    if (isBuiltInRole(key)) return builtInRole(key);
    const role = await this.uow.read(actor).repo(CustomRole).findOneBy({ key });
    if (!role) throw AppException.notFound('Role');
    return toDto(role);
  }

  /** The caller's effective permissions (API.md section 16), so a UI can hide what is forbidden. */
  permissionsOf(actor: Actor): MyPermissionsDto {
    return { role: actor.role, permissions: actor.grants.list() };
  }

  async create(actor: Actor, input: CreateRoleDto): Promise<RoleDto> {
    if (isBuiltInRole(input.key)) {
      throw AppException.validation([{ field: 'key', message: 'key must not be a built-in role' }]);
    }
    assertDistinctActions(input.permissions);
    assertWithin(actor, input.permissions);
    return this.audit.audited(actor, 'role', async (tx, audit) => {
      const roles = tx.repo(CustomRole);
      try {
        const saved = await roles.save(
          roles.create({
            key: input.key,
            name: input.name,
            permissions: normalized(input.permissions),
          }),
        );
        await audit(AuditAction.ROLE_CREATED, saved.key, { permissions: saved.permissions });
        return toDto(saved);
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw AppException.validation([
            { field: 'key', message: 'the organization already has a role with this key' },
          ]);
        }
        throw error;
      }
    });
  }

  async update(actor: Actor, key: string, input: UpdateRoleDto): Promise<RoleDto> {
    if (input.permissions) assertDistinctActions(input.permissions);
    if (isBuiltInRole(key)) throw AppException.forbidden('Built-in roles cannot be changed');
    return this.audit.audited(actor, 'role', async (tx, audit) => {
      const role = await this.lockRole(tx, key);
      if (input.permissions) assertWithin(actor, input.permissions);
      // Nobody changes a role stronger than their own (an admin's custom role holds at most
      // admin's permissions, so this concerns custom roles managing roles they cannot hold).
      assertWithin(actor, role.permissions);
      const previous = { name: role.name, permissions: role.permissions };
      if (input.name !== undefined) role.name = input.name;
      if (input.permissions) role.permissions = normalized(input.permissions);
      const saved = await tx.repo(CustomRole).save(role);
      await audit(AuditAction.ROLE_UPDATED, key, {
        previous,
        name: saved.name,
        permissions: saved.permissions,
      });
      tx.afterCommit(() => this.memberships.invalidateOrganization(actor.organizationId));
      return toDto(saved);
    });
  }

  async remove(actor: Actor, key: string): Promise<void> {
    if (isBuiltInRole(key)) throw AppException.forbidden('Built-in roles cannot be deleted');
    await this.audit.audited(actor, 'role', async (tx, audit) => {
      const role = await this.lockRole(tx, key);
      assertWithin(actor, role.permissions);
      const [members, keys] = await Promise.all([
        tx.repo(OrganizationMember).countBy({ role: key }),
        tx
          .query(ApiKey, 'k')
          .andWhere('k.role = :key AND k.revoked_at IS NULL', { key })
          .getCount(),
      ]);
      if (members || keys) {
        throw AppException.conflict(
          ErrorCode.ROLE_IN_USE,
          `The role is held by ${members} member(s) and ${keys} API key(s); change them first`,
        );
      }
      await tx.repo(CustomRole).delete({ id: role.id });
      await audit(AuditAction.ROLE_DELETED, key, { permissions: role.permissions });
      tx.afterCommit(() => this.memberships.invalidateOrganization(actor.organizationId));
    });
  }

  /** The custom role, locked (a concurrent change or deletion waits), else 404. */
  private async lockRole(tx: TenantTx, key: string): Promise<CustomRole> {
    const role = await tx
      .query(CustomRole, 'r')
      .andWhere('r.key = :key', { key })
      .setLock('pessimistic_write')
      .getOne();
    if (!role) throw AppException.notFound('Role');
    return role;
  }
}

/** 400 when an action appears twice for one resource (its scope would be ambiguous). */
function assertDistinctActions(permissions: Permission[]): void {
  const seen = new Set<string>();
  permissions.forEach(({ resource, actions }, index) => {
    for (const action of actions) {
      const key = `${resource}:${action}`;
      if (seen.has(key)) {
        throw AppException.validation([
          {
            field: `permissions.${index}.actions`,
            message: `${key} is granted twice; give each action of a resource once`,
          },
        ]);
      }
      seen.add(key);
    }
  });
}

/** 403 when the permissions grant something the actor does not hold (API.md section 16). */
function assertWithin(actor: Actor, permissions: Permission[]): void {
  if (!new Grants(permissions).within(actor.grants)) {
    throw AppException.forbidden('A role cannot grant permissions you do not hold');
  }
}

/** As stored: one line per resource and scope, actions in order (what GET answers). */
function normalized(permissions: Permission[]): Permission[] {
  return new Grants(permissions).list();
}
