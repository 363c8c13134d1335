import { ApiProperty } from '@nestjs/swagger';
import { withETagOf } from '../../../common/http/etag';
import type { Contact } from '../contact.entity';

export class ContactDto {
  @ApiProperty({ format: 'uuid', example: '9b2f1c7e-0d4a-4c3b-8e6f-1a2b3c4d5e6f' })
  id: string;

  @ApiProperty({ format: 'uuid', example: '5d1f3f7e-8a37-4a51-9f0a-1e2b3c4d5e6f' })
  organizationId: string;

  @ApiProperty({ format: 'uuid', example: '0b6a3c52-3f44-4d0e-a8e5-9b1d3b0f1c11' })
  ownerId: string;

  @ApiProperty({ example: 'Grace Hopper' })
  name: string;

  @ApiProperty({ type: String, format: 'email', nullable: true, example: 'grace@navy.example' })
  email: string | null;

  @ApiProperty({ type: String, nullable: true, example: '+1 (555) 010-2030' })
  phone: string | null;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    example: '2a7c9e1b-4d3f-4e5a-9b8c-7d6e5f4a3b2c',
    description: 'The company the contact works for; null when none',
  })
  companyId: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  updatedAt: string;

  static from(c: Contact): ContactDto {
    return withETagOf(
      {
        id: c.id,
        organizationId: c.organizationId,
        ownerId: c.ownerId,
        name: c.name,
        email: c.email,
        phone: c.phone,
        companyId: c.companyId,
        createdAt: c.createdAt.toISOString(),
        updatedAt: c.updatedAt.toISOString(),
      },
      'Contact',
      c,
    );
  }
}
