import { Body, Controller, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiValidationError } from '../../common/decorators/api-error.decorator';
import { ListQueryDto } from '../../common/pagination/list-query.dto';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import {
  TenantCreate,
  TenantDelete,
  TenantList,
} from '../../tenancy/access/tenant-routes.decorator';
import type { Actor } from '../../tenancy/actor';
import { ApiKeysService } from './api-keys.service';
import { ApiKeyDto, CreateApiKeyDto, CreatedApiKeyDto } from './dto/api-key.dto';

const KEYS =
  "An API key is sent as `Authorization: Bearer crm_...`. It is bound to its organization (X-Organization-Id is optional with a key; another organization -> 403 NOT_A_MEMBER), acts as the member who created it with the key's role (never beyond what that member holds now), and records lastUsedAt. Its actions appear in the audit log and in events with the key's id as actor. Keys never reach /auth/*, the signed-in user's own routes or /api-keys (403). A key whose creator leaves the organization is revoked.";

@ApiTags('api-keys')
@Controller('api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @TenantList('', {
    permission: 'api_keys:read',
    summary: "The organization's API keys (never the keys themselves)",
    description: KEYS,
    type: ApiKeyDto,
  })
  list(@CurrentActor() actor: Actor, @Query() query: ListQueryDto): Promise<ListResult<ApiKeyDto>> {
    return this.keys.list(actor, query);
  }

  @TenantCreate('', {
    permission: 'api_keys:create',
    summary: 'Create an API key; the answer holds the key, shown only here',
    description: KEYS,
    type: CreatedApiKeyDto,
  })
  @ApiValidationError()
  create(@CurrentActor() actor: Actor, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    return this.keys.create(actor, body);
  }

  @TenantDelete(':id', {
    permission: 'api_keys:delete',
    summary: 'Revoke an API key, at once on every app copy',
    description: KEYS,
  })
  async revoke(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    await this.keys.revoke(actor, id);
  }
}
