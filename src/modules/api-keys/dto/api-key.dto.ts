import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, Matches } from 'class-validator';
import { IsText } from '../../../common/validation/text';
import { Trim } from '../../../common/validation/transforms';
import type { ApiKey } from '../../../tenancy/api-key.entity';

export class CreateApiKeyDto {
  @ApiProperty({ minLength: 1, maxLength: 100, example: 'Accounting sync' })
  @Trim()
  @IsText(1, 100)
  name: string;

  @ApiProperty({
    pattern: '^[a-z][a-z0-9_]{1,39}$',
    example: 'manager',
    description:
      "One of the organization's roles (built-in or custom; unknown -> 400). It grants nothing the creator's role lacks (else 403); only an owner creates owner keys.",
  })
  @Matches(/^[a-z][a-z0-9_]{1,39}$/, { message: "role must be one of the organization's roles" })
  role: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2027-06-30T00:00:00.000Z',
    description: 'When the key stops working (in the future); null or omitted: never',
  })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO-8601 timestamp' })
  expiresAt?: string | null;
}

export class ApiKeyDto {
  @ApiProperty({ format: 'uuid', example: '3f8e2a1c-5b7d-4e9f-8a6b-1c2d3e4f5a6b' })
  id: string;

  @ApiProperty({ example: 'Accounting sync' })
  name: string;

  @ApiProperty({ example: 'manager' })
  role: string;

  @ApiProperty({
    example: 'crm_Zk3q9XvB',
    description: 'The first characters of the key, to tell keys apart',
  })
  prefix: string;

  @ApiProperty({ format: 'uuid', description: 'The member who created it: the key acts as them' })
  createdBy: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  expiresAt: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Recorded at most once a minute',
  })
  lastUsedAt: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  revokedAt: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  static from(key: ApiKey): ApiKeyDto {
    return {
      id: key.id,
      name: key.name,
      role: key.role,
      prefix: key.prefix,
      createdBy: key.userId,
      expiresAt: key.expiresAt?.toISOString() ?? null,
      lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
      revokedAt: key.revokedAt?.toISOString() ?? null,
      createdAt: key.createdAt.toISOString(),
    };
  }
}

export class CreatedApiKeyDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'Accounting sync' })
  name: string;

  @ApiProperty({ example: 'manager' })
  role: string;

  @ApiProperty({ example: 'crm_Zk3q9XvB' })
  prefix: string;

  @ApiProperty({
    example: 'crm_Zk3q9XvBq1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k',
    description:
      'The key, shown only in this answer (only its hash is stored). Send it as `Authorization: Bearer crm_...`.',
  })
  key: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  expiresAt: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;
}
