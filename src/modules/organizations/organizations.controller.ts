import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiError, ApiValidationError } from '../../common/decorators/api-error.decorator';
import { Authenticated, Can } from '../../tenancy/access/access.decorator';
import { ClientMeta, CurrentActor, CurrentUser } from '../../tenancy/access/context.decorators';
import { ApiListResponse, type ListResult } from '../../common/pagination/list-result.dto';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { AuthUser, RequestMeta } from '../../common/http/request-context';
import type { Actor } from '../../tenancy/actor';
import { UuidParam } from '../../common/pipes/validation';
import { MemberDto } from './dto/member.dto';
import {
  AddMemberDto,
  CreateOrganizationDto,
  MemberListQueryDto,
  UpdateMemberDto,
  UpdateOrganizationDto,
} from './dto/organization-input.dto';
import { OrganizationDto, OrganizationWithRoleDto } from './dto/organization.dto';
import { OrganizationsService } from './organizations.service';
import { Idempotent } from '../../common/idempotency/idempotency.interceptor';

@ApiTags('organizations')
@Controller('organizations')
export class OrganizationsController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Get('me')
  @Authenticated()
  @ApiOperation({
    summary: "The caller's organizations, with the caller's role in each (not paginated)",
    description:
      'Where a client finds the ids to send as X-Organization-Id. Any signed-in user; no ' +
      'X-Organization-Id. Oldest membership first.',
  })
  @ApiOkResponse({ type: [OrganizationWithRoleDto] })
  listMine(@CurrentUser() user: AuthUser): Promise<OrganizationWithRoleDto[]> {
    return this.organizations.listMine(user.id);
  }

  @Post()
  @Idempotent()
  @Authenticated()
  @ApiOperation({
    summary: 'Create an organization; the caller becomes its owner',
    description:
      'Any signed-in user; no X-Organization-Id. The organization starts with the default ' +
      'pipeline (qualification, proposal, negotiation, closed). `defaultCurrency` must be one of ' +
      "the server's currencies (422 UNSUPPORTED_CURRENCY); null or absent means the server default.",
  })
  @ApiCreatedResponse({ type: OrganizationWithRoleDto })
  @ApiValidationError()
  @ApiError(422, [ErrorCode.UNSUPPORTED_CURRENCY])
  create(
    @CurrentUser() user: AuthUser,
    @Body() body: CreateOrganizationDto,
    @ClientMeta() meta: RequestMeta,
  ): Promise<OrganizationWithRoleDto> {
    return this.organizations.create(user.id, body, meta);
  }

  @Get('current')
  @Can()
  @ApiOperation({
    summary: 'The organization named by X-Organization-Id',
    description:
      'Its name, default currency and creation time. A caller who is not a member of it gets 403 ' +
      'NOT_A_MEMBER, like on every tenant-scoped route.',
  })
  @ApiOkResponse({ type: OrganizationDto })
  getCurrent(@CurrentActor() actor: Actor): Promise<OrganizationDto> {
    return this.organizations.getCurrent(actor);
  }

  @Patch('current')
  @Can('organization:update')
  @ApiOperation({
    summary: 'Rename the organization or change its default currency (owner, admin)',
    description:
      'Only the properties given change; `defaultCurrency: null` returns to the server default ' +
      '(used by new deals without a currency). An unknown currency is 422 UNSUPPORTED_CURRENCY.',
  })
  @ApiOkResponse({ type: OrganizationDto })
  @ApiError(422, [ErrorCode.UNSUPPORTED_CURRENCY])
  update(
    @CurrentActor() actor: Actor,
    @Body() body: UpdateOrganizationDto,
  ): Promise<OrganizationDto> {
    return this.organizations.update(actor, body);
  }

  @Get('current/members')
  @Can('members:read')
  @ApiOperation({
    summary: "The organization's members (paginated)",
    description:
      'Each member with their email, name and role, newest first by default; offset pages ' +
      '(page, pageSize) or keyset pages (limit, cursor).',
  })
  @ApiListResponse(MemberDto)
  listMembers(
    @CurrentActor() actor: Actor,
    @Query() query: MemberListQueryDto,
  ): Promise<ListResult<MemberDto>> {
    return this.organizations.listMembers(actor, query);
  }

  @Post('current/members')
  @Idempotent()
  @Can('members:create')
  @ApiOperation({
    summary: 'Add a registered user as a member (owner, admin)',
    description: 'Only an owner may add owners and admins; an admin adds managers and members.',
  })
  @ApiCreatedResponse({ type: MemberDto })
  @ApiError(404, [ErrorCode.NOT_FOUND], 'NOT_FOUND: no registered user with this email')
  @ApiError(409, [ErrorCode.ALREADY_MEMBER])
  addMember(@CurrentActor() actor: Actor, @Body() body: AddMemberDto): Promise<MemberDto> {
    return this.organizations.addMember(actor, body);
  }

  @Patch('current/members/:userId')
  @Can('members:update')
  @ApiOperation({
    summary: "Change a member's role (owner, admin)",
    description:
      'Only an owner may grant or change the owner and admin roles; the last owner cannot be demoted.',
  })
  @ApiOkResponse({ type: MemberDto })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  @ApiError(409, [ErrorCode.LAST_OWNER])
  changeRole(
    @CurrentActor() actor: Actor,
    @UuidParam('userId') userId: string,
    @Body() body: UpdateMemberDto,
  ): Promise<MemberDto> {
    return this.organizations.changeRole(actor, userId, body);
  }

  @Delete('current/members/:userId')
  @Can('members:delete')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Remove a member (owner, admin)',
    description: 'Only an owner may remove owners and admins; the last owner cannot be removed.',
  })
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  @ApiError(409, [ErrorCode.LAST_OWNER])
  removeMember(@CurrentActor() actor: Actor, @UuidParam('userId') userId: string): Promise<void> {
    return this.organizations.removeMember(actor, userId);
  }
}
