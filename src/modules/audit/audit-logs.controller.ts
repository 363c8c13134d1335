import { Controller, Get, Query } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { CursorPageDto } from '../../common/pagination/list-result.dto';
import { Can } from '../../tenancy/access/access.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import type { Actor } from '../../tenancy/actor';
import { AuditService } from './audit.service';
import { AuditLogDto, AuditLogListQueryDto } from './dto/audit-log.dto';

const ABOUT =
  'Permission `audit:read`: owners and admins (and custom roles granted it); 403 FORBIDDEN for managers and members. The organization’s audit trail, newest first: ' +
  'membership and role changes, deletes, imports, exports, webhooks (created, updated, deleted, secret rotated), API keys, ' +
  'and the auth events (logins, failed logins, refreshes, logouts, password changes) of the users who are members now. ' +
  'Keyset pages only (`limit` 1..100, default 20, and `cursor`; `page`/`pageSize` are refused with 400: the trail only grows). ' +
  'A cursor works only with the filters it was issued for (else 400). Entries are kept AUDIT_RETENTION_DAYS days (default 365).';

@ApiTags('audit')
@Controller('audit-logs')
export class AuditLogsController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @Can('audit:read')
  @ApiOperation({
    summary: "List the organization's audit entries (owner, admin)",
    description: ABOUT,
  })
  @ApiExtraModels(CursorPageDto, AuditLogDto)
  @ApiOkResponse({
    description: 'A keyset page of entries, newest first',
    schema: {
      allOf: [
        { $ref: getSchemaPath(CursorPageDto) },
        { properties: { items: { type: 'array', items: { $ref: getSchemaPath(AuditLogDto) } } } },
      ],
    },
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: AuditLogListQueryDto,
  ): Promise<CursorPageDto<AuditLogDto>> {
    return this.audit.list(actor, query);
  }
}
