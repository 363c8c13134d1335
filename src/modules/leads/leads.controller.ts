import { Body, Controller, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Can } from '../../tenancy/access/access.decorator';
import {
  TenantAction,
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
import {
  ConvertLeadDto,
  CreateLeadDto,
  DisqualifyLeadDto,
  LeadListQueryDto,
  UpdateLeadDto,
} from './dto/lead-input.dto';
import { LeadConversionDto, LeadDto } from './dto/lead.dto';
import { LeadGetQueryDto, LeadWithRelationsDto } from './dto/lead-with-relations.dto';
import { LeadsService } from './leads.service';
import { Idempotent } from '../../common/idempotency/idempotency.interceptor';

const VISIBILITY = 'Members see only the leads they own; others answer 404.';
const INCLUDE = '`include` embeds the contact and the deal of the conversion.';

const STATUS_FLOW =
  'Status flow: new <-> contacted (PATCH); new | contacted -> qualified (qualify); ' +
  'new | contacted | qualified -> disqualified (disqualify); new | contacted | qualified -> converted (convert). ' +
  'disqualified and converted are final: a disqualified lead can still be edited (not its status) or deleted, ' +
  'a converted lead only read or deleted. Any action on a converted lead: 409 LEAD_ALREADY_CONVERTED; ' +
  'an action its status does not allow otherwise: 409 INVALID_LEAD_STATUS.';

const CONVERSION =
  'One transaction, which first locks the lead: of concurrent conversions of one lead exactly one succeeds, ' +
  'the others answer 409 LEAD_ALREADY_CONVERTED, and nothing is created twice; any failure writes nothing. ' +
  "Contact: the organization's contact with the lead's email (case-insensitive) is reused whoever owns it and is " +
  'left unchanged (the answer shows it even when the caller could not otherwise see it); else (or when the lead has no email) a new contact ' +
  "owned by the lead's owner, with the lead's name, email and phone, linked to the company. " +
  "Company: the organization's company with the lead's companyName (case-insensitive; the oldest when several) is reused whoever owns it, " +
  "else one is created (owner: the lead's owner); null when the lead has no companyName. " +
  "Deal: with every rule of POST /deals — title dealTitle (default: the lead's name), amount and currency " +
  "as given (defaults 0.00 and the organization's currency), status new, the first stage of pipelineId " +
  "(default pipeline when omitted), owned by the lead's owner (422 INVALID_OWNER when that user is no longer a member: " +
  'reassign the lead first), for the contact above. The deal gets the timeline entries ' +
  'system {event: "deal_created"} and system {event: "converted_from_lead", leadId, leadName}. ' +
  'The lead becomes converted with convertedAt, convertedContactId and convertedDealId. ' +
  'Precedence: 404 (lead, then pipeline), 409 (converted: LEAD_ALREADY_CONVERTED; disqualified: INVALID_LEAD_STATUS), 422.';

@ApiTags('leads')
@Controller('leads')
export class LeadsController {
  constructor(private readonly leads: LeadsService) {}

  @TenantList('', {
    permission: 'leads:read',
    summary: 'List and search leads',
    description: `${VISIBILITY} orderBy createdAt (default) or name; ties by id. ${INCLUDE}`,
    type: LeadWithRelationsDto,
  })
  list(
    @CurrentActor() actor: Actor,
    @Query() query: LeadListQueryDto,
  ): Promise<ListResult<LeadWithRelationsDto>> {
    return this.leads.list(actor, query);
  }

  @ApiConditional()
  @TenantCreate('', {
    permission: 'leads:create',
    summary: 'Create a lead',
    description:
      'The status starts new (it is not part of the body). Emails are not unique among leads.',
    type: LeadDto,
  })
  @ApiError(
    403,
    [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN],
    'FORBIDDEN: a member setting ownerId to someone else',
  )
  @ApiError(422, [ErrorCode.INVALID_OWNER])
  create(@CurrentActor() actor: Actor, @Body() body: CreateLeadDto): Promise<LeadDto> {
    return this.leads.create(actor, body);
  }

  @ApiConditional()
  @TenantGet(':id', {
    permission: 'leads:read',
    summary: 'Get a lead',
    description: `${VISIBILITY} ${INCLUDE}`,
    type: LeadWithRelationsDto,
  })
  get(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Query() query: LeadGetQueryDto,
  ): Promise<LeadWithRelationsDto> {
    return this.leads.get(actor, id, query.include);
  }

  @ApiConditional()
  @TenantPatch(':id', {
    permission: 'leads:update',
    summary: 'Change a lead (any subset of its fields)',
    description: `Absent fields stay; email, phone, companyName and source may be cleared with null. ${STATUS_FLOW} Changing nothing writes nothing (updatedAt unchanged).`,
    type: LeadDto,
  })
  @ApiError(
    403,
    [ErrorCode.NOT_A_MEMBER, ErrorCode.FORBIDDEN],
    'FORBIDDEN: a member changing ownerId',
  )
  @ApiError(409, [ErrorCode.LEAD_ALREADY_CONVERTED, ErrorCode.INVALID_LEAD_STATUS])
  @ApiError(422, [ErrorCode.INVALID_OWNER])
  update(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: UpdateLeadDto,
  ): Promise<LeadDto> {
    return this.leads.update(actor, id, body);
  }

  @ApiConditional()
  @TenantDelete(':id', {
    permission: 'leads:delete',
    summary: 'Delete a lead',
    description:
      'Any lead, converted ones included: the contact, company and deal of a conversion stay.',
  })
  remove(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<void> {
    return this.leads.remove(actor, id);
  }

  @ApiConditional()
  @TenantAction(':id/qualify', {
    permission: 'leads:update',
    summary: 'Qualify a lead',
    description: `From new or contacted; qualifying a qualified lead is a no-op (200, nothing written). ${STATUS_FLOW}`,
    type: LeadDto,
  })
  @ApiError(409, [ErrorCode.LEAD_ALREADY_CONVERTED, ErrorCode.INVALID_LEAD_STATUS])
  qualify(@CurrentActor() actor: Actor, @UuidParam('id') id: string): Promise<LeadDto> {
    return this.leads.qualify(actor, id);
  }

  @ApiConditional()
  @TenantAction(':id/disqualify', {
    permission: 'leads:update',
    summary: 'Disqualify a lead with a reason',
    description: `From new, contacted or qualified; sets disqualifyReason. Disqualifying a disqualified lead: 409 INVALID_LEAD_STATUS (its reason stays). ${STATUS_FLOW}`,
    type: LeadDto,
  })
  @ApiError(409, [ErrorCode.LEAD_ALREADY_CONVERTED, ErrorCode.INVALID_LEAD_STATUS])
  disqualify(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: DisqualifyLeadDto,
  ): Promise<LeadDto> {
    return this.leads.disqualify(actor, id, body.reason);
  }

  @ApiConditional({ etag: false })
  @Post(':id/convert')
  @Idempotent()
  @Can('leads:update', 'contacts:create', 'deals:create')
  @ApiOperation({
    summary: 'Convert a lead into a contact, a company and a deal',
    description: `From new, contacted or qualified. ${CONVERSION}`,
  })
  @ApiCreatedResponse({ type: LeadConversionDto })
  @ApiError(404, [ErrorCode.NOT_FOUND], 'NOT_FOUND: the lead is not visible, or no such pipeline')
  @ApiError(409, [ErrorCode.LEAD_ALREADY_CONVERTED, ErrorCode.INVALID_LEAD_STATUS])
  @ApiError(422, [ErrorCode.UNSUPPORTED_CURRENCY, ErrorCode.INVALID_OWNER])
  convert(
    @CurrentActor() actor: Actor,
    @UuidParam('id') id: string,
    @Body() body: ConvertLeadDto,
  ): Promise<LeadConversionDto> {
    return this.leads.convert(actor, id, body);
  }
}
