import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsArray, IsEmail, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { IsCurrencyCode } from '../../../common/validation/currency';
import { IncludeNames } from '../../../common/validation/include';
import { IsMoney } from '../../../common/validation/money';
import { IsText, IsUuid } from '../../../common/validation/text';
import { OptionalNotNull, ToArray, Trim } from '../../../common/validation/transforms';
import { IsPhone } from '../../../common/validation/phone';
import { LEAD_STATUSES, LeadStatus } from '../lead.enums';
import {
  LEAD_INCLUDE_DESCRIPTION,
  LEAD_INCLUDES,
  type LeadInclude,
} from './lead-with-relations.dto';

/** The statuses PATCH may set; qualified, disqualified and converted have their own actions. */
export const EDITABLE_LEAD_STATUSES = [LeadStatus.NEW, LeadStatus.CONTACTED] as const;

const MONEY_SCHEMA = {
  oneOf: [
    { type: 'number', minimum: 0, example: 1500 },
    { type: 'string', pattern: '^\\d{1,12}(\\.\\d{1,2})?$', example: '1500.00' },
  ],
  description: 'Not negative, at most two fraction digits',
};

/** POST /leads. */
export class CreateLeadDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Ada Lovelace' })
  @Trim()
  @IsText(1, 200)
  name: string;

  @ApiPropertyOptional({
    type: String,
    format: 'email',
    nullable: true,
    maxLength: 254,
    example: 'ada@engines.example',
    description: 'Validated like a contact email; not unique among leads',
  })
  @IsOptional()
  @Trim()
  @IsEmail({}, { message: 'email must be an email' })
  @MaxLength(254)
  email?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 5,
    maxLength: 32,
    example: '+44 20 7946 0000',
    description: 'Digits with an optional leading +, spaces, dashes, dots and parentheses',
  })
  @IsOptional()
  @IsPhone()
  phone?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 1,
    maxLength: 200,
    example: 'Analytical Engines Ltd',
    description: 'Conversion reuses the company of this name (case-insensitive) or creates it',
  })
  @IsOptional()
  @Trim()
  @IsText(1, 200)
  companyName?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 1,
    maxLength: 100,
    example: 'website',
    description: 'Free text (where the lead came from)',
  })
  @IsOptional()
  @Trim()
  @IsText(1, 100)
  source?: string | null;

  @ApiPropertyOptional({
    format: 'uuid',
    description:
      'Defaults to the caller; only owners, admins and managers may set it, to a member of the organization',
  })
  @OptionalNotNull()
  @IsUuid()
  ownerId?: string;
}

/** PATCH /leads/{id}: any subset; email, phone, companyName and source may be set to null. */
export class UpdateLeadDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200, example: 'Ada King' })
  @OptionalNotNull()
  @Trim()
  @IsText(1, 200)
  name?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'email',
    nullable: true,
    maxLength: 254,
    example: 'ada.king@analytical.example',
  })
  @IsOptional()
  @Trim()
  @IsEmail({}, { message: 'email must be an email' })
  @MaxLength(254)
  email?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 5,
    maxLength: 32,
    example: '+44 20 7946 0958',
  })
  @IsOptional()
  @IsPhone()
  phone?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 1,
    maxLength: 200,
    example: 'Analytical Engines Ltd',
  })
  @IsOptional()
  @Trim()
  @IsText(1, 200)
  companyName?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 1,
    maxLength: 100,
    example: 'trade show',
  })
  @IsOptional()
  @Trim()
  @IsText(1, 100)
  source?: string | null;

  @ApiPropertyOptional({
    enum: EDITABLE_LEAD_STATUSES,
    description:
      'Only new and contacted (any other value: 400). Only a new or contacted lead may change it (a qualified or disqualified lead: 409 INVALID_LEAD_STATUS); setting the current status is a no-op. qualified, disqualified and converted are reached through the actions.',
  })
  @OptionalNotNull()
  @IsIn(EDITABLE_LEAD_STATUSES, {
    message:
      'status must be new or contacted (use the qualify, disqualify and convert actions for the others)',
  })
  status?: (typeof EDITABLE_LEAD_STATUSES)[number];

  @ApiPropertyOptional({
    format: 'uuid',
    description: 'Owners, admins and managers only; a member of the organization',
  })
  @OptionalNotNull()
  @IsUuid()
  ownerId?: string;
}

export const LEAD_ORDER_BY = ['createdAt', 'name'] as const;

export class LeadListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    enum: LeadStatus,
    enumName: 'LeadStatus',
    isArray: true,
    description: 'Repeatable: status=new&status=contacted',
  })
  @IsOptional()
  @ToArray()
  @IsArray()
  @IsIn(LEAD_STATUSES, { each: true })
  status?: LeadStatus[];

  @ApiPropertyOptional({
    maxLength: 100,
    example: 'website',
    description: 'Exact (case-sensitive) match on source, after trimming',
  })
  @IsOptional()
  @Trim()
  @IsText(1, 100)
  source?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUuid()
  ownerId?: string;

  @ApiPropertyOptional({
    maxLength: 200,
    description:
      'Words to find in name, email, phone and companyName: every word must match, in any order, case-insensitive; a word may be a fragment',
    example: 'ada engines',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  search?: string;

  @ApiPropertyOptional({ enum: LEAD_ORDER_BY, default: 'createdAt' })
  @IsOptional()
  @IsIn(LEAD_ORDER_BY)
  orderBy: (typeof LEAD_ORDER_BY)[number] = 'createdAt';

  @IncludeNames(LEAD_INCLUDES, 'LeadInclude', LEAD_INCLUDE_DESCRIPTION)
  include?: LeadInclude[];
}

export class DisqualifyLeadDto {
  @ApiProperty({ minLength: 1, maxLength: 1000, example: 'No budget this year' })
  @Trim()
  @IsText(1, 1000)
  reason: string;
}

export class ConvertLeadDto {
  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 200,
    example: 'Analytical Engines: difference engine',
    description: "The deal's title; the lead's name when omitted",
  })
  @OptionalNotNull()
  @Trim()
  @IsText(1, 200)
  dealTitle?: string;

  @ApiPropertyOptional({ ...MONEY_SCHEMA, default: '0.00' })
  @OptionalNotNull()
  @IsMoney()
  amount?: string;

  @ApiPropertyOptional({
    example: 'EUR',
    description:
      "ISO-4217 (case-insensitive); defaults to the organization's, else the server's (422 UNSUPPORTED_CURRENCY when not configured)",
  })
  @OptionalNotNull()
  @IsCurrencyCode()
  currency?: string;

  @ApiPropertyOptional({
    format: 'uuid',
    description:
      'A pipeline of the organization (404 otherwise); the default pipeline when omitted. The deal starts at its first stage.',
  })
  @OptionalNotNull()
  @IsUuid()
  pipelineId?: string;
}
