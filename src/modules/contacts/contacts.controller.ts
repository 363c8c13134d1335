import { Body, Controller, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  TenantCreate,
  TenantDelete,
  TenantGet,
  TenantList,
  TenantPut,
} from '../../tenancy/access/tenant-routes.decorator';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { ApiConditional } from '../../common/decorators/api-conditional.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../tenancy/actor';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { ContactsService } from './contacts.service';
import { ContactInputDto, ContactListQueryDto } from './dto/contact-input.dto';
import { ContactDto } from './dto/contact.dto';
import { ContactGetQueryDto, ContactWithRelationsDto } from './dto/contact-with-relations.dto';

const VISIBILITY = 'Members see only the contacts they own; others answer 404.';
const INCLUDE = "`include=company` embeds the contact's company.";

@ApiTags('contacts')
@Controller('contacts')
export class ContactsController {
  constructor(private readonly contacts: ContactsService) {}

  @TenantList('', {
    permission: 'contacts:read',
    summary: 'List and search contacts',
    description: `${VISIBILITY} ${INCLUDE}`,
    type: ContactWithRelationsDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: ContactListQueryDto,
  ): Promise<ListResult<ContactWithRelationsDto>> {
    return this.contacts.list(actor, query);
  }

  @ApiConditional()
  @TenantCreate('', {
    permission: 'contacts:create',
    summary: 'Create a contact',
    description:
      'companyId, when given, must name a company visible to the caller (404 otherwise).',
    type: ContactDto,
  })
  @ApiError(
    403,
    [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN],
    'FORBIDDEN: a member setting ownerId to someone else',
  )
  @ApiError(404, [ErrorCode.NOT_FOUND], 'NOT_FOUND: the company is not visible')
  @ApiError(409, [ErrorCode.CONTACT_EMAIL_TAKEN])
  @ApiError(422, [ErrorCode.INVALID_OWNER])
  create(@CurrentActor() actor: Actor, @Body() body: ContactInputDto): Promise<ContactDto> {
    return this.contacts.create(actor, body);
  }

  @ApiConditional()
  @TenantGet(':id', {
    permission: 'contacts:read',
    summary: 'Get a contact',
    description: `${VISIBILITY} ${INCLUDE}`,
    type: ContactWithRelationsDto,
  })
  get(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Query() query: ContactGetQueryDto,
  ): Promise<ContactWithRelationsDto> {
    return this.contacts.get(actor, id, query.include);
  }

  @ApiConditional()
  @TenantPut(':id', {
    permission: 'contacts:update',
    summary: 'Replace a contact',
    description:
      'name, email, phone and companyId are replaced (absent email/phone/companyId become null); ownerId changes only when given. A new companyId must name a company visible to the caller (404 otherwise).',
    type: ContactDto,
  })
  @ApiError(
    403,
    [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN],
    'FORBIDDEN: a member changing ownerId',
  )
  @ApiError(
    404,
    [ErrorCode.NOT_FOUND],
    'NOT_FOUND: the contact, or the new company, is not visible',
  )
  @ApiError(409, [ErrorCode.CONTACT_EMAIL_TAKEN])
  @ApiError(422, [ErrorCode.INVALID_OWNER])
  replace(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: ContactInputDto,
  ): Promise<ContactDto> {
    return this.contacts.replace(actor, id, body);
  }

  @ApiConditional()
  @TenantDelete(':id', {
    permission: 'contacts:delete',
    summary: 'Delete a contact without deals',
    description:
      'A contact with deals answers 409 CONTACT_HAS_DEALS: delete the deals or move them to another ' +
      'contact first. If-Match with the last ETag refuses to delete a contact changed since (412).',
  })
  @ApiError(409, [ErrorCode.CONTACT_HAS_DEALS])
  remove(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.contacts.remove(actor, id);
  }
}
