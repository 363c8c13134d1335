import { Body, Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiError, ApiValidationError } from '../../common/decorators/api-error.decorator';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { Can } from '../../tenancy/access/access.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import {
  TenantCreate,
  TenantDelete,
  TenantGet,
  TenantList,
  TenantPatch,
} from '../../tenancy/access/tenant-routes.decorator';
import type { Actor } from '../../tenancy/actor';
import { CreateRoleDto, MyPermissionsDto, RoleDto, UpdateRoleDto } from './dto/role.dto';
import { RolesService } from './roles.service';

const MODEL =
  'A role grants actions (read, create, update, delete) on resources (contacts, companies, leads, deals, tasks, activities, pipelines, analytics, import, export, webhooks, members, events, audit), each with a scope: `own` (records whose ownerId is the caller; tasks and activities through their deal) or `all`. The four built-in roles are expressed in the same model; only they hold the administration of the organization (settings, roles, API keys, notification templates). Members and API keys are given a role by its key.';

@ApiTags('roles')
@Controller()
export class RolesController {
  constructor(private readonly roles: RolesService) {}

  @TenantList('roles', {
    summary:
      "The organization's roles: the four built-in ones first, then custom roles by creation",
    description: MODEL,
    type: RoleDto,
  })
  list(@CurrentActor() actor: Actor, @Query() query: ListQueryDto): Promise<ListResult<RoleDto>> {
    return this.roles.list(actor, query);
  }

  @TenantGet('roles/:key', { summary: 'One role', description: MODEL, type: RoleDto })
  get(@CurrentActor() actor: Actor, @Param('key') key: string): Promise<RoleDto> {
    return this.roles.get(actor, key);
  }

  @TenantCreate('roles', {
    permission: 'roles:create',
    summary: 'Create a custom role',
    description: `${MODEL} The key is not a built-in role's and unique in the organization (else 400); the role cannot grant what the caller does not hold (403).`,
    type: RoleDto,
  })
  @ApiValidationError()
  create(@CurrentActor() actor: Actor, @Body() body: CreateRoleDto): Promise<RoleDto> {
    return this.roles.create(actor, body);
  }

  @TenantPatch('roles/:key', {
    permission: 'roles:update',
    summary: 'Rename a custom role or replace its permissions',
    description:
      'Built-in roles cannot be changed (403). The new permissions apply at once to every member and API key holding the role, on every app copy.',
    type: RoleDto,
  })
  @ApiValidationError()
  update(
    @CurrentActor() actor: Actor,
    @Param('key') key: string,
    @Body() body: UpdateRoleDto,
  ): Promise<RoleDto> {
    return this.roles.update(actor, key, body);
  }

  @TenantDelete('roles/:key', {
    permission: 'roles:delete',
    summary: 'Delete a custom role',
    description:
      'Built-in roles cannot be deleted (403); a role members or API keys still hold -> 409 ROLE_IN_USE.',
  })
  @ApiError(409, [ErrorCode.ROLE_IN_USE])
  async remove(@CurrentActor() actor: Actor, @Param('key') key: string): Promise<void> {
    await this.roles.remove(actor, key);
  }

  @Get('users/me/permissions')
  @Can()
  @ApiOperation({
    summary:
      'My role and effective permissions in the organization (so a UI can hide what is forbidden)',
    description: MODEL,
  })
  @ApiOkResponse({ type: MyPermissionsDto })
  permissions(@CurrentActor() actor: Actor): MyPermissionsDto {
    return this.roles.permissionsOf(actor);
  }
}
