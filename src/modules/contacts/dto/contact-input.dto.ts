import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsText, IsUuid } from '../../../common/validation/text';
import { IsEmail, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { IncludeNames } from '../../../common/validation/include';
import { IsPhone } from '../../../common/validation/phone';
import { OptionalNotNull, Trim } from '../../../common/validation/transforms';
import {
  CONTACT_INCLUDE_DESCRIPTION,
  CONTACT_INCLUDES,
  type ContactInclude,
} from './contact-with-relations.dto';

/** POST /contacts, and PUT /contacts/{id} (a full replace: absent email/phone/companyId become null). */
export class ContactInputDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Grace Hopper' })
  @Trim()
  @IsString()
  @IsText(1, 200)
  name: string;

  @ApiPropertyOptional({
    type: String,
    format: 'email',
    nullable: true,
    maxLength: 254,
    example: 'grace@navy.example',
    description: 'Unique in the organization, case-insensitive',
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
    example: '+1 (555) 010-2030',
  })
  @IsOptional()
  @IsPhone()
  phone?: string | null;

  @ApiPropertyOptional({
    format: 'uuid',
    description:
      'Defaults to the caller on create and stays unchanged on replace when absent; only owners, admins and managers may set it, to a member of the organization',
  })
  @OptionalNotNull()
  @IsUuid()
  ownerId?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'uuid',
    nullable: true,
    description:
      'A company of the organization visible to the caller (404 otherwise); null or absent: no company. PUT replaces it too (absent = null)',
  })
  @IsOptional()
  @IsUuid()
  companyId?: string | null;
}

export const CONTACT_ORDER_BY = ['createdAt', 'name'] as const;

/** The list parameters of a contact list: GET /contacts and GET /companies/{id}/contacts. */
export class ContactListFiltersDto extends ListQueryDto {
  @ApiPropertyOptional({
    maxLength: 200,
    description:
      'Words to find in name, email and phone: every word must match, in any order, case-insensitive; a word may be a fragment',
    example: 'gra hop',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  search?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUuid()
  ownerId?: string;

  @ApiPropertyOptional({ enum: CONTACT_ORDER_BY, default: 'createdAt' })
  @IsOptional()
  @IsIn(CONTACT_ORDER_BY)
  orderBy: (typeof CONTACT_ORDER_BY)[number] = 'createdAt';
}

export class ContactListQueryDto extends ContactListFiltersDto {
  @ApiPropertyOptional({
    format: 'uuid',
    description:
      'Contacts of this company (an empty list when the company is not visible to the caller)',
  })
  @IsOptional()
  @IsUuid()
  companyId?: string;

  @IncludeNames(CONTACT_INCLUDES, 'ContactInclude', CONTACT_INCLUDE_DESCRIPTION)
  include?: ContactInclude[];
}
