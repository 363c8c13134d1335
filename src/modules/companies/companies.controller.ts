import { Body, Controller, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  TenantCreate,
  TenantDelete,
  TenantGet,
  TenantList,
  TenantPatch,
} from '../../tenancy/access/tenant-routes.decorator';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { ApiConditional } from '../../common/decorators/api-conditional.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { Actor } from '../../tenancy/actor';
import type { ListResult } from '../../common/pagination/list-result.dto';
import { UuidParam } from '../../common/pipes/validation';
import { ContactListFiltersDto } from '../contacts/dto/contact-input.dto';
import { ContactDto } from '../contacts/dto/contact.dto';
import { CompaniesService } from './companies.service';
import { CompanyListQueryDto, CreateCompanyDto, UpdateCompanyDto } from './dto/company-input.dto';
import { CompanyDto } from './dto/company.dto';

const VISIBILITY = 'Members see only the companies they own; others answer 404.';

@ApiTags('companies')
@Controller('companies')
export class CompaniesController {
  constructor(private readonly companies: CompaniesService) {}

  @TenantList('', {
    permission: 'companies:read',
    summary: 'List and search companies',
    description: VISIBILITY,
    type: CompanyDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: CompanyListQueryDto,
  ): Promise<ListResult<CompanyDto>> {
    return this.companies.list(actor, query);
  }

  @ApiConditional()
  @TenantCreate('', {
    permission: 'companies:create',
    summary: 'Create a company',
    description:
      'domain is stored lower-cased and is unique in the organization; socialProfiles default to [].',
    type: CompanyDto,
  })
  @ApiError(
    403,
    [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN],
    'FORBIDDEN: a member setting ownerId to someone else',
  )
  @ApiError(409, [ErrorCode.COMPANY_DOMAIN_TAKEN])
  @ApiError(422, [ErrorCode.INVALID_OWNER])
  create(@CurrentActor() actor: Actor, @Body() body: CreateCompanyDto): Promise<CompanyDto> {
    return this.companies.create(actor, body);
  }

  @ApiConditional()
  @TenantGet(':id', {
    permission: 'companies:read',
    summary: 'Get a company',
    description: VISIBILITY,
    type: CompanyDto,
  })
  get(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<CompanyDto> {
    return this.companies.get(actor, id);
  }

  @TenantList(':id/contacts', {
    permission: ['companies:read', 'contacts:read'],
    summary: "List a company's contacts",
    description:
      'The company must be visible to the caller (404 otherwise); the contacts listed are those the caller sees (members: their own). Same filters, ordering and pages as GET /contacts.',
    type: ContactDto,
  })
  contacts(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Query() query: ContactListFiltersDto,
  ): Promise<ListResult<ContactDto>> {
    return this.companies.contactsOf(actor, id, query);
  }

  @ApiConditional()
  @TenantPatch(':id', {
    permission: 'companies:update',
    summary: 'Change a company (any subset of its fields)',
    description:
      'Absent properties stay; null clears domain, industry, phone and address (not name, socialProfiles or ownerId). address and socialProfiles are replaced as a whole.',
    type: CompanyDto,
  })
  @ApiError(
    403,
    [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN],
    'FORBIDDEN: a member changing ownerId',
  )
  @ApiError(409, [ErrorCode.COMPANY_DOMAIN_TAKEN])
  @ApiError(422, [ErrorCode.INVALID_OWNER])
  update(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: UpdateCompanyDto,
  ): Promise<CompanyDto> {
    return this.companies.update(actor, id, body);
  }

  @ApiConditional()
  @TenantDelete(':id', {
    permission: 'companies:delete',
    summary: 'Delete a company',
    description: 'Its contacts stay and are unlinked (their companyId becomes null).',
  })
  remove(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.companies.remove(actor, id);
  }
}
