import {
  applyDecorators,
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Post,
  Query,
  UseFilters,
} from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiError } from '../../common/decorators/api-error.decorator';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { Can } from '../../tenancy/access/access.decorator';
import { CurrentActor } from '../../tenancy/access/context.decorators';
import type { Actor } from '../../tenancy/actor';
import { CompaniesService } from '../companies/companies.service';
import { CreateCompanyDto, UpdateCompanyDto } from '../companies/dto/company-input.dto';
import { ContactsService } from '../contacts/contacts.service';
import { ContactInputDto } from '../contacts/dto/contact-input.dto';
import { UpdateContactDto } from '../contacts/dto/update-contact.dto';
import { DealsService } from '../deals/deals.service';
import { CreateDealDto, UpdateDealDto } from '../deals/dto/deal-input.dto';
import { BulkFailedFilter } from './bulk-failed';
import { BulkService, type BulkTarget } from './bulk.service';
import {
  BULK_MAX_OPERATIONS,
  BulkFailedErrorDto,
  BulkFailureResultDto,
  BulkQueryDto,
  BulkResponseDto,
  BulkSuccessResultDto,
  CompanyBulkRequestDto,
  ContactBulkRequestDto,
  DealBulkRequestDto,
} from './dto/bulk.dto';
import { Idempotent } from '../../common/idempotency/idempotency.interceptor';

const MODES =
  `1..${BULK_MAX_OPERATIONS} operations \`{op: create|update|delete, id?, data?}\`, applied in order, each ` +
  'with exactly the rules of its single-record endpoint: create as POST (data: its body), update as PATCH ' +
  '(data: the properties to change; absent ones stay), delete as DELETE; its permission (403 FORBIDDEN ' +
  'when the role lacks `<resource>:create|update|delete`), visibility (404), ownerId (403, 422), uniqueness ' +
  'and state rules included, and each records its usual events. A malformed envelope ' +
  '(operations, op, id, data not an object) is a 400 for the whole request; a malformed `data` is a 400 ' +
  'of that operation only. Each result gives the status the single endpoint would answer (201, 200, 204, or ' +
  'its error status with its error body) and the id of the record.\n\n' +
  'Default (atomic=false): each operation commits on its own; the answer is 200 even when some fail, and ' +
  'those that succeeded stay applied.\n\n' +
  'atomic=true: all or nothing, in one transaction (each operation sees the earlier ones). The first ' +
  'failure rolls everything back (no record written, no event) and the answer is 409 BULK_FAILED, whose ' +
  'error body carries `results`: the operations before the failure with the status they had (nothing of ' +
  'them was committed; ids of created records do not exist), the failed one with its error; the later ones ' +
  'did not run and are not listed. A server-side failure (5xx) is answered as such, nothing applied.';

/**
 * The decorators of one bulk route (API.md section 17): any member may call it; each operation
 * then needs the permission of its single-record route (BulkService checks it).
 */
function BulkRoute(resource: string, rules: string): MethodDecorator {
  return applyDecorators(
    Post(`${resource}/bulk`),
    HttpCode(HttpStatus.OK),
    Idempotent(),
    Can(),
    ApiTags(resource),
    ApiOperation({
      summary: `Create, update and delete ${resource} in one request`,
      description: `${MODES}\n\n${rules}`,
    }),
    ApiOkResponse({ type: BulkResponseDto, description: 'One result per operation' }),
    ApiError(
      400,
      [ErrorCode.VALIDATION_FAILED],
      'VALIDATION_FAILED: a malformed envelope, or over 100 operations',
    ),
    ApiResponse({
      status: 409,
      type: BulkFailedErrorDto,
      description:
        'BULK_FAILED (atomic=true only): an operation failed, nothing was applied; `results` up to the failure',
    }),
  );
}

/** POST /contacts/bulk, /companies/bulk, /deals/bulk (API.md section 17). */
@Controller()
@UseFilters(BulkFailedFilter)
@ApiExtraModels(
  BulkSuccessResultDto,
  BulkFailureResultDto,
  ContactInputDto,
  UpdateContactDto,
  CreateCompanyDto,
  UpdateCompanyDto,
  CreateDealDto,
  UpdateDealDto,
)
export class BulkController {
  private readonly contactTarget: BulkTarget<ContactInputDto, UpdateContactDto>;
  private readonly companyTarget: BulkTarget<CreateCompanyDto, UpdateCompanyDto>;
  private readonly dealTarget: BulkTarget<CreateDealDto, UpdateDealDto>;

  constructor(
    private readonly bulk: BulkService,
    contacts: ContactsService,
    companies: CompaniesService,
    deals: DealsService,
  ) {
    this.contactTarget = {
      resource: 'contacts',
      create: { dto: ContactInputDto, apply: (actor, input) => contacts.create(actor, input) },
      update: {
        dto: UpdateContactDto,
        apply: (actor, id, input) => contacts.update(actor, id, input),
      },
      remove: (actor, id) => contacts.remove(actor, id),
    };
    this.companyTarget = {
      resource: 'companies',
      create: { dto: CreateCompanyDto, apply: (actor, input) => companies.create(actor, input) },
      update: {
        dto: UpdateCompanyDto,
        apply: (actor, id, input) => companies.update(actor, id, input),
      },
      remove: (actor, id) => companies.remove(actor, id),
    };
    this.dealTarget = {
      resource: 'deals',
      create: { dto: CreateDealDto, apply: (actor, input) => deals.create(actor, input) },
      update: { dto: UpdateDealDto, apply: (actor, id, input) => deals.update(actor, id, input) },
      remove: (actor, id) => deals.remove(actor, id),
    };
  }

  @BulkRoute(
    'contacts',
    'Contacts: update changes only the given properties (null clears email, phone, companyId); delete answers 409 CONTACT_HAS_DEALS for a contact with deals.',
  )
  async contacts(
    @CurrentActor() actor: Actor,
    @Query() query: BulkQueryDto,
    @Body() body: ContactBulkRequestDto,
  ): Promise<BulkResponseDto> {
    return {
      results: await this.bulk.apply(actor, this.contactTarget, body.operations, query.atomic),
    };
  }

  @BulkRoute(
    'companies',
    'Companies: domain unique in the organization (409 COMPANY_DOMAIN_TAKEN); deleting a company unlinks its contacts.',
  )
  async companies(
    @CurrentActor() actor: Actor,
    @Query() query: BulkQueryDto,
    @Body() body: CompanyBulkRequestDto,
  ): Promise<BulkResponseDto> {
    return {
      results: await this.bulk.apply(actor, this.companyTarget, body.operations, query.atomic),
    };
  }

  @BulkRoute(
    'deals',
    'Deals: the contact must be visible (404), the status machine (409), stage and amount rules (403, 422) apply as in POST and PATCH /deals.',
  )
  async deals(
    @CurrentActor() actor: Actor,
    @Query() query: BulkQueryDto,
    @Body() body: DealBulkRequestDto,
  ): Promise<BulkResponseDto> {
    return {
      results: await this.bulk.apply(actor, this.dealTarget, body.operations, query.atomic),
    };
  }
}
