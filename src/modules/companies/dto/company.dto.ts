import { ApiProperty } from '@nestjs/swagger';
import { withETagOf } from '../../../common/http/etag';
import {
  SOCIAL_NETWORKS,
  type Address,
  type Company,
  type SocialNetwork,
  type SocialProfile,
} from '../company.entity';

/** A postal address: every part may be null (not set). */
export class AddressDto {
  @ApiProperty({ type: String, nullable: true, example: '1 Infinite Loop' })
  line1: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'Building 4' })
  line2: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'Cupertino' })
  city: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'CA' })
  region: string | null;

  @ApiProperty({ type: String, nullable: true, example: '95014' })
  postalCode: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'US',
    description: 'ISO-3166 alpha-2, upper case',
  })
  country: string | null;

  /** Every part is present in the answer (null when not set), so clients see one shape. */
  static from(a: Address | null): AddressDto | null {
    if (!a) return null;
    return {
      line1: a.line1 ?? null,
      line2: a.line2 ?? null,
      city: a.city ?? null,
      region: a.region ?? null,
      postalCode: a.postalCode ?? null,
      country: a.country ?? null,
    };
  }
}

export class SocialProfileDto {
  @ApiProperty({ enum: SOCIAL_NETWORKS, enumName: 'SocialNetwork', example: 'linkedin' })
  network: SocialNetwork;

  @ApiProperty({ format: 'uri', example: 'https://www.linkedin.com/company/acme' })
  url: string;
}

export class CompanyDto {
  @ApiProperty({ format: 'uuid', example: '2a7c9e1b-4d3f-4e5a-9b8c-7d6e5f4a3b2c' })
  id: string;

  @ApiProperty({ format: 'uuid', example: '5d1f3f7e-8a37-4a51-9f0a-1e2b3c4d5e6f' })
  organizationId: string;

  @ApiProperty({ format: 'uuid', example: '0b6a3c52-3f44-4d0e-a8e5-9b1d3b0f1c11' })
  ownerId: string;

  @ApiProperty({ example: 'Acme Corporation' })
  name: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'acme.example',
    description: 'Lower case; unique in the organization',
  })
  domain: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'Manufacturing' })
  industry: string | null;

  @ApiProperty({ type: String, nullable: true, example: '+1 (555) 010-2030' })
  phone: string | null;

  @ApiProperty({ type: AddressDto, nullable: true })
  address: AddressDto | null;

  @ApiProperty({ type: [SocialProfileDto] })
  socialProfiles: SocialProfileDto[];

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  updatedAt: string;

  /** From an entity, or from a raw list row selected with the same property names. */
  static from(c: Company): CompanyDto {
    return withETagOf(
      {
        id: c.id,
        organizationId: c.organizationId,
        ownerId: c.ownerId,
        name: c.name,
        domain: c.domain,
        industry: c.industry,
        phone: c.phone,
        address: AddressDto.from(c.address),
        socialProfiles: (c.socialProfiles ?? []).map(
          ({ network, url }: SocialProfile): SocialProfileDto => ({ network, url }),
        ),
        createdAt: c.createdAt.toISOString(),
        updatedAt: c.updatedAt.toISOString(),
      },
      'Company',
      c,
    );
  }
}
