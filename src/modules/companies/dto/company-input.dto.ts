import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsFQDN,
  IsIn,
  IsISO31661Alpha2,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { ArrayOfObjects } from '../../../common/validation/nested';
import { IsText, IsUuid } from '../../../common/validation/text';
import { OptionalNotNull, Trim, TrimLower, Upper } from '../../../common/validation/transforms';
import { IsPhone } from '../../../common/validation/phone';
import { SOCIAL_NETWORKS, type SocialNetwork } from '../company.entity';

export const MAX_SOCIAL_PROFILES = 20;

const DOMAIN_DOC = {
  type: String,
  nullable: true,
  maxLength: 253,
  example: 'acme.example',
  description:
    'A domain name (no scheme, path or trailing dot), stored lower-cased; unique in the organization (409 COMPANY_DOMAIN_TAKEN)',
};

/** A domain name: trimmed and lower-cased, then checked (400) - e.g. "Acme.Example" -> "acme.example". */
const IsDomain = (): PropertyDecorator => (target: object, property: string | symbol) => {
  TrimLower()(target, property);
  IsText(1, 253)(target, property);
  IsFQDN(
    {
      require_tld: true,
      allow_underscores: false,
      allow_trailing_dot: false,
      allow_numeric_tld: false,
      allow_wildcard: false,
    },
    { message: 'domain must be a domain name, like acme.example' },
  )(target, property);
};

/** A postal address; every part is optional (absent or null: not set). Unknown parts -> 400. */
export class AddressInputDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 200, example: '1 Main Street' })
  @IsOptional()
  @Trim()
  @IsText(1, 200)
  line1?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 200, example: 'Suite 400' })
  @IsOptional()
  @Trim()
  @IsText(1, 200)
  line2?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 100, example: 'Springfield' })
  @IsOptional()
  @Trim()
  @IsText(1, 100)
  city?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 100, example: 'IL' })
  @IsOptional()
  @Trim()
  @IsText(1, 100)
  region?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 20, example: '62701' })
  @IsOptional()
  @Trim()
  @IsText(1, 20)
  postalCode?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    pattern: '^[A-Za-z]{2}$',
    example: 'US',
    description: 'ISO-3166 alpha-2 code (case-insensitive input, upper case in answers)',
  })
  @IsOptional()
  @Upper()
  @IsString()
  @IsISO31661Alpha2({ message: 'country must be an ISO-3166 alpha-2 country code' })
  country?: string | null;
}

export class SocialProfileInputDto {
  @ApiProperty({ enum: SOCIAL_NETWORKS, enumName: 'SocialNetwork', example: 'linkedin' })
  @IsIn(SOCIAL_NETWORKS, { message: `network must be one of ${SOCIAL_NETWORKS.join(', ')}` })
  network: SocialNetwork;

  @ApiProperty({
    format: 'uri',
    maxLength: 2048,
    example: 'https://www.linkedin.com/company/acme',
    description: 'An https URL',
  })
  @Trim()
  @IsString()
  @MaxLength(2048)
  @IsUrl(
    {
      protocols: ['https'],
      require_protocol: true,
      require_valid_protocol: true,
      require_host: true,
      require_tld: true,
      allow_underscores: false,
      disallow_auth: true,
    },
    { message: 'url must be an https URL' },
  )
  url: string;
}

/** `address`: an object of parts (or null). `[]` and other non-objects -> 400. */
const IsAddress = (): PropertyDecorator => (target: object, property: string | symbol) => {
  IsObject({ message: 'address must be an object' })(target, property);
  ValidateNested()(target, property);
  Type(() => AddressInputDto)(target, property);
};

const IsSocialProfiles = (): PropertyDecorator =>
  ArrayOfObjects(() => SocialProfileInputDto, {
    max: MAX_SOCIAL_PROFILES,
    message: 'each social profile must be an object',
  });

const SOCIAL_PROFILES_DOC: ApiPropertyOptions = {
  type: SocialProfileInputDto,
  isArray: true,
  maxItems: MAX_SOCIAL_PROFILES,
  description: `At most ${MAX_SOCIAL_PROFILES}, kept in the given order`,
};

const OWNER_DOC = {
  format: 'uuid',
  description:
    'Defaults to the caller on create and stays unchanged when absent; only owners, admins and managers may set it, to a member of the organization',
};

/** POST /companies. */
export class CreateCompanyDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Acme Corporation' })
  @Trim()
  @IsText(1, 200)
  name: string;

  @ApiPropertyOptional(DOMAIN_DOC)
  @IsOptional()
  @IsDomain()
  domain?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 100, example: 'Manufacturing' })
  @IsOptional()
  @Trim()
  @IsText(1, 100)
  industry?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 5,
    maxLength: 32,
    example: '+1 (555) 010-2030',
  })
  @IsOptional()
  @IsPhone()
  phone?: string | null;

  @ApiPropertyOptional({ type: AddressInputDto, nullable: true })
  @IsOptional()
  @IsAddress()
  address?: AddressInputDto | null;

  @ApiPropertyOptional({ ...SOCIAL_PROFILES_DOC, default: [] })
  @OptionalNotNull()
  @IsSocialProfiles()
  socialProfiles?: SocialProfileInputDto[];

  @ApiPropertyOptional(OWNER_DOC)
  @OptionalNotNull()
  @IsUuid()
  ownerId?: string;
}

/** PATCH /companies/{id}: any subset; null clears the nullable fields (not name or socialProfiles). */
export class UpdateCompanyDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200, example: 'Acme Inc.' })
  @OptionalNotNull()
  @Trim()
  @IsText(1, 200)
  name?: string;

  @ApiPropertyOptional({ ...DOMAIN_DOC, description: `${DOMAIN_DOC.description}; null clears it` })
  @IsOptional()
  @IsDomain()
  domain?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 100, example: 'Retail' })
  @IsOptional()
  @Trim()
  @IsText(1, 100)
  industry?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 5,
    maxLength: 32,
    example: '+49 30 901820',
  })
  @IsOptional()
  @IsPhone()
  phone?: string | null;

  @ApiPropertyOptional({
    type: AddressInputDto,
    nullable: true,
    description: 'Replaces the whole address (parts not given are not kept); null clears it',
  })
  @IsOptional()
  @IsAddress()
  address?: AddressInputDto | null;

  @ApiPropertyOptional({
    ...SOCIAL_PROFILES_DOC,
    description: `${String(SOCIAL_PROFILES_DOC.description)}. Replaces the whole list ([] clears it)`,
  })
  @OptionalNotNull()
  @IsSocialProfiles()
  socialProfiles?: SocialProfileInputDto[];

  @ApiPropertyOptional(OWNER_DOC)
  @OptionalNotNull()
  @IsUuid()
  ownerId?: string;
}

export const COMPANY_ORDER_BY = ['createdAt', 'name'] as const;

export class CompanyListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    maxLength: 200,
    description:
      'Words to find in name and domain: every word must match, in any order, case-insensitive; a word may be a fragment',
    example: 'acme corp',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  search?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUuid()
  ownerId?: string;

  @ApiPropertyOptional({
    maxLength: 100,
    example: 'Manufacturing',
    description: 'Exact industry (case-sensitive, surrounding spaces ignored)',
  })
  @IsOptional()
  @Trim()
  @IsText(1, 100)
  industry?: string;

  @ApiPropertyOptional({
    enum: COMPANY_ORDER_BY,
    default: 'createdAt',
    description: 'Ties are broken by id',
  })
  @IsOptional()
  @IsIn(COMPANY_ORDER_BY)
  orderBy: (typeof COMPANY_ORDER_BY)[number] = 'createdAt';
}
