import { ApiProperty } from '@nestjs/swagger';
import type { Organization } from '../../../tenancy/organization.entity';
import { Role } from '../../../tenancy/role';

export class OrganizationDto {
  @ApiProperty({ format: 'uuid', example: '5d1f3f7e-8a37-4a51-9f0a-1e2b3c4d5e6f' })
  id: string;

  @ApiProperty({ example: 'Acme Ltd' })
  name: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'EUR',
    description: 'ISO-4217 code; null means the server default applies',
  })
  defaultCurrency: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  createdAt: string;

  static from(org: Organization): OrganizationDto {
    return {
      id: org.id,
      name: org.name,
      defaultCurrency: org.defaultCurrency,
      createdAt: org.createdAt.toISOString(),
    };
  }
}

export class OrganizationWithRoleDto extends OrganizationDto {
  @ApiProperty({
    example: Role.OWNER,
    description: 'A built-in role (owner, admin, manager, member) or a custom role key',
  })
  role: string;

  static withRole(org: Organization, role: string): OrganizationWithRoleDto {
    return { ...OrganizationDto.from(org), role };
  }
}
