import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsText } from '../../../common/validation/text';
import { IsEmail, IsIn, IsOptional, Matches, MaxLength } from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { IsCurrencyCode } from '../../../common/validation/currency';
import { OptionalNotNull, Trim, TrimLower } from '../../../common/validation/transforms';
import { Role } from '../../../tenancy/role';

const ROLE_PROPERTY = {
  type: String,
  pattern: '^[a-z][a-z0-9_]{1,39}$',
  example: Role.MEMBER,
  description:
    "One of the organization's roles: a built-in role (owner, admin, manager, member) or a custom role's key (GET /roles). Unknown -> 400",
};

/** A role key's shape (existence is checked against the organization's roles). */
export const IsRoleKey = (): PropertyDecorator =>
  Matches(/^[a-z][a-z0-9_]{1,39}$/, {
    message: "role must be one of the organization's roles (a built-in role or a custom role key)",
  });

export class CreateOrganizationDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Acme Ltd' })
  @Trim()
  @IsText(1, 200)
  name: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'EUR',
    description: 'ISO-4217 code (case-insensitive); null or absent: the server default applies',
  })
  @IsOptional()
  @IsCurrencyCode()
  defaultCurrency?: string | null;
}

export class UpdateOrganizationDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200, example: 'Acme Holdings' })
  @OptionalNotNull()
  @Trim()
  @IsText(1, 200)
  name?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    example: 'GBP',
    description: 'ISO-4217 code (case-insensitive); null clears it (the server default applies)',
  })
  @IsOptional()
  @IsCurrencyCode()
  defaultCurrency?: string | null;
}

export class AddMemberDto {
  @ApiProperty({ format: 'email', example: 'grace@example.com', description: 'A registered user' })
  @TrimLower()
  @IsEmail({}, { message: 'email must be an email' })
  @MaxLength(254)
  email: string;

  @ApiProperty(ROLE_PROPERTY)
  @IsRoleKey()
  role: string;
}

export class UpdateMemberDto {
  @ApiProperty({ ...ROLE_PROPERTY, example: Role.MANAGER })
  @IsRoleKey()
  role: string;
}

export const MEMBER_ORDER_BY = ['createdAt', 'name', 'email'] as const;

export class MemberListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: MEMBER_ORDER_BY, default: 'createdAt' })
  @IsOptional()
  @IsIn(MEMBER_ORDER_BY)
  orderBy: (typeof MEMBER_ORDER_BY)[number] = 'createdAt';
}
