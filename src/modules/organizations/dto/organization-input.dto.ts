import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsText } from '../../../common/validation/text';
import { IsEmail, IsIn, IsOptional, MaxLength } from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { IsCurrencyCode } from '../../../common/validation/currency';
import { OptionalNotNull, Trim, TrimLower } from '../../../common/validation/transforms';
import { ALL_ROLES, Role } from '../../../tenancy/role';

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

  @ApiProperty({ enum: Role, enumName: 'Role', example: Role.MEMBER })
  @IsIn(ALL_ROLES)
  role: Role;
}

export class UpdateMemberDto {
  @ApiProperty({ enum: Role, enumName: 'Role', example: Role.MANAGER })
  @IsIn(ALL_ROLES)
  role: Role;
}

export const MEMBER_ORDER_BY = ['createdAt', 'name', 'email'] as const;

export class MemberListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: MEMBER_ORDER_BY, default: 'createdAt' })
  @IsOptional()
  @IsIn(MEMBER_ORDER_BY)
  orderBy: (typeof MEMBER_ORDER_BY)[number] = 'createdAt';
}
