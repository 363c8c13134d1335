import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsEmail,
  IsIn,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  MaxLength,
  ValidateBy,
  type ValidationArguments,
} from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { Trim } from '../../../common/validation/transforms';

/** UUIDs are case-insensitive: compare and store the canonical lower-case form. */
const LowerUuid = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.toLowerCase() : value,
  );

/**
 * Text PostgreSQL can store in a varchar(max): no NUL character (PostgreSQL rejects it) and
 * min..max characters counted as code points, as varchar counts them (class-validator's
 * Length does not count variation selectors, so it let through names the column refuses
 * with a 500). Emails need no such check: IsEmail caps them at 254 UTF-16 units and rejects NUL.
 */
const StorableText = (min: number, max: number): PropertyDecorator =>
  ValidateBy({
    name: 'storableText',
    constraints: [min, max],
    validator: {
      validate: (value: unknown) =>
        typeof value !== 'string' ||
        (!value.includes('\u0000') && [...value].length >= min && [...value].length <= max),
      defaultMessage: (args?: ValidationArguments) =>
        `${args?.property} must be ${min} to ${max} characters, without NUL characters`,
    },
  });

/** No NUL character (PostgreSQL text cannot hold it, not even as a query parameter). */
const NoNul = (): PropertyDecorator =>
  ValidateBy({
    name: 'noNul',
    validator: {
      validate: (value: unknown) => typeof value !== 'string' || !value.includes('\u0000'),
      defaultMessage: (args?: ValidationArguments) =>
        `${args?.property} must not contain NUL characters`,
    },
  });

/** Digits with an optional leading +, spaces, dashes, dots and parentheses (API.md section 5). */
export const PHONE = /^\+?(?=[^+]*\d)[\d ().-]+$/;
const PHONE_MESSAGE =
  'phone must be digits with an optional leading +, spaces, dashes, dots or parentheses';

/** POST /contacts, and PUT /contacts/{id} (a full replace: absent email/phone become null). */
export class ContactInputDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Grace Hopper' })
  @Trim()
  @IsString()
  @StorableText(1, 200)
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
  @Trim()
  @IsString()
  @Length(5, 32)
  @Matches(PHONE, { message: PHONE_MESSAGE })
  phone?: string | null;

  @ApiPropertyOptional({
    format: 'uuid',
    description:
      'Defaults to the caller on create and stays unchanged on replace when absent; only owners, admins and managers may set it, to a member of the organization',
  })
  @IsOptional()
  @LowerUuid()
  @IsUUID('all', { message: 'ownerId must be a UUID' })
  ownerId?: string;
}

export const CONTACT_ORDER_BY = ['createdAt', 'name'] as const;

export class ContactListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    maxLength: 200,
    description:
      'Words to find in name, email and phone: every word must match, in any order, case-insensitive; a word may be a fragment',
    example: 'gra hop',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @NoNul()
  search?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @LowerUuid()
  @IsUUID('all', { message: 'ownerId must be a UUID' })
  ownerId?: string;

  @ApiPropertyOptional({ enum: CONTACT_ORDER_BY, default: 'createdAt' })
  @IsOptional()
  @IsIn(CONTACT_ORDER_BY)
  orderBy: (typeof CONTACT_ORDER_BY)[number] = 'createdAt';
}
