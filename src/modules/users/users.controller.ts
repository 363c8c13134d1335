import { Body, Controller, Get, Patch, Res, StreamableFile } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Authenticated } from '../../tenancy/access/access.decorator';
import { ClientMeta, CurrentUser } from '../../tenancy/access/context.decorators';
import { ApiError, ApiValidationError } from '../../common/decorators/api-error.decorator';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { AuthUser, RequestMeta } from '../../common/http/request-context';
import { UpdateMeDto } from './dto/update-me.dto';
import { UserDto } from './dto/user.dto';
import { UserExportService } from './user-export.service';
import { UsersService } from './users.service';

@ApiTags('users')
@Controller('users')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly exports: UserExportService,
  ) {}

  @Get('me')
  @Authenticated()
  @ApiOperation({
    summary: 'The signed-in user',
    description:
      'The profile of the user the access token belongs to (id, email, name, phone). Any signed-in ' +
      'user; no X-Organization-Id (GET /api/v1/organizations/me lists their organizations). API ' +
      'keys are refused: a key acts in an organization, not as a user.',
  })
  @ApiOkResponse({ type: UserDto })
  async me(@CurrentUser() user: AuthUser): Promise<UserDto> {
    return UserDto.from(await this.users.get(user.id));
  }

  @Patch('me')
  @Authenticated()
  @ApiOperation({
    summary: 'Change my name or phone',
    description:
      'No X-Organization-Id header. Only the given fields change; phone null removes it. The phone receives text messages for the notification kinds whose sms preference is on.',
  })
  @ApiOkResponse({ type: UserDto })
  @ApiValidationError()
  @ApiError(404, [ErrorCode.NOT_FOUND], 'NOT_FOUND: the account no longer exists')
  async updateMe(@CurrentUser() user: AuthUser, @Body() body: UpdateMeDto): Promise<UserDto> {
    return UserDto.from(await this.users.update(user.id, body));
  }

  @Get('me/export')
  @Authenticated()
  @ApiOperation({
    summary: 'Export my personal data (JSON attachment)',
    description:
      'No X-Organization-Id header. A JSON document, sent as the attachment crm-export-<userId>.json: ' +
      '{exportedAt, user, memberships: [{organizationId, name, role, joinedAt}], organizations: ' +
      '[{organizationId, contacts, companies, leads, deals, tasks}]}, with one entry in organizations per ' +
      'membership (same order, oldest membership first). Each list holds, in the representation of its API, ' +
      'the records the caller owns in that organization (tasks: those of the deals they own), oldest first. ' +
      'Read from one consistent snapshot and streamed.',
  })
  @ApiProduces('application/json')
  @ApiOkResponse({
    description: 'The export document',
    schema: {
      type: 'object',
      properties: {
        exportedAt: { type: 'string', format: 'date-time' },
        user: { $ref: getSchemaPath(UserDto) },
        memberships: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              organizationId: { type: 'string', format: 'uuid' },
              name: { type: 'string' },
              role: { type: 'string', enum: ['owner', 'admin', 'manager', 'member'] },
              joinedAt: { type: 'string', format: 'date-time' },
            },
          },
        },
        organizations: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              organizationId: { type: 'string', format: 'uuid' },
              contacts: { type: 'array', items: { type: 'object' } },
              companies: { type: 'array', items: { type: 'object' } },
              leads: { type: 'array', items: { type: 'object' } },
              deals: { type: 'array', items: { type: 'object' } },
              tasks: { type: 'array', items: { type: 'object' } },
            },
          },
        },
      },
    },
    headers: {
      'Content-Disposition': {
        description: 'attachment; filename="crm-export-<userId>.json"',
        schema: { type: 'string' },
      },
    },
  })
  async export(
    @CurrentUser() user: AuthUser,
    @ClientMeta() meta: RequestMeta,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile> {
    const document = await this.exports.open(user.id, meta);
    void reply.header('cache-control', 'no-store');
    return new StreamableFile(document, {
      type: 'application/json; charset=utf-8',
      disposition: `attachment; filename="crm-export-${user.id}.json"`,
    });
  }
}
