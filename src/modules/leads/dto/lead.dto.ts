import { ApiProperty } from '@nestjs/swagger';
import { withETagOf } from '../../../common/http/etag';
import { CompanyDto } from '../../companies/dto/company.dto';
import { ContactDto } from '../../contacts/dto/contact.dto';
import { DealDto } from '../../deals/dto/deal.dto';
import type { Lead } from '../lead.entity';
import { LeadStatus } from '../lead.enums';

const iso = (value: Date | string): string => new Date(value).toISOString();

export class LeadDto {
  @ApiProperty({ format: 'uuid', example: '1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b' })
  id: string;

  @ApiProperty({ format: 'uuid', example: '5d1f3f7e-8a37-4a51-9f0a-1e2b3c4d5e6f' })
  organizationId: string;

  @ApiProperty({ format: 'uuid', example: '0b6a3c52-3f44-4d0e-a8e5-9b1d3b0f1c11' })
  ownerId: string;

  @ApiProperty({ example: 'Ada Lovelace' })
  name: string;

  @ApiProperty({ type: String, format: 'email', nullable: true, example: 'ada@engines.example' })
  email: string | null;

  @ApiProperty({ type: String, nullable: true, example: '+44 20 7946 0000' })
  phone: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'Analytical Engines Ltd' })
  companyName: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'website' })
  source: string | null;

  @ApiProperty({ enum: LeadStatus, enumName: 'LeadStatus', example: LeadStatus.NEW })
  status: LeadStatus;

  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    description: 'Set by POST /leads/{id}/disqualify',
  })
  disqualifyReason: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    example: null,
    description: 'When the lead was converted (status converted)',
  })
  convertedAt: string | null;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    example: null,
    description:
      'The contact the conversion created or reused (null before conversion, or once that contact was deleted)',
  })
  convertedContactId: string | null;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    example: null,
    description:
      'The deal the conversion created (null before conversion, or once that deal was deleted)',
  })
  convertedDealId: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  updatedAt: string;

  static from(l: Lead): LeadDto {
    return withETagOf(
      {
        id: l.id,
        organizationId: l.organizationId,
        ownerId: l.ownerId,
        name: l.name,
        email: l.email,
        phone: l.phone,
        companyName: l.companyName,
        source: l.source,
        status: l.status,
        disqualifyReason: l.disqualifyReason,
        convertedAt: l.convertedAt === null ? null : iso(l.convertedAt),
        convertedContactId: l.convertedContactId,
        convertedDealId: l.convertedDealId,
        createdAt: iso(l.createdAt),
        updatedAt: iso(l.updatedAt),
      },
      'Lead',
      l,
    );
  }
}

/** 201 of POST /leads/{id}/convert. */
export class LeadConversionDto {
  @ApiProperty({ type: LeadDto, description: 'The lead, now with status converted' })
  lead: LeadDto;

  @ApiProperty({
    type: ContactDto,
    description:
      "The organization's contact with the lead's email (case-insensitive), whoever owns it, else a new contact owned by the lead's owner",
  })
  contact: ContactDto;

  @ApiProperty({
    type: CompanyDto,
    nullable: true,
    description:
      "The organization's company named like companyName (case-insensitive), else a new company owned by the lead's owner; null when the lead has no companyName",
  })
  company: CompanyDto | null;

  @ApiProperty({
    type: DealDto,
    description:
      "The new deal: status new, first stage of the pipeline, owned by the lead's owner, for the contact above",
  })
  deal: DealDto;
}
