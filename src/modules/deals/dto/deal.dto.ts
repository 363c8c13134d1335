import { ApiProperty } from '@nestjs/swagger';
import { withETagOf } from '../../../common/http/etag';
import type { Deal } from '../deal.entity';
import { DealStatus } from '../deal.enums';

/** The columns of a deal's representation (lists, exports), in order. */
export const DEAL_COLUMNS = [
  'id',
  'organizationId',
  'contactId',
  'pipelineId',
  'ownerId',
  'title',
  'amount',
  'currency',
  'status',
  'stage',
  'lostReason',
  'createdAt',
  'updatedAt',
] as const;

/** A timestamp as ISO 8601 text: a Date as it is (no copy), a string through a Date. */
const isoTimestamp = (value: Date | string): string =>
  (value instanceof Date ? value : new Date(value)).toISOString();

export class DealDto {
  @ApiProperty({ format: 'uuid', example: '3c9d2e1f-7a6b-4c5d-8e9f-0a1b2c3d4e5f' })
  id: string;

  @ApiProperty({ format: 'uuid', example: '5d1f3f7e-8a37-4a51-9f0a-1e2b3c4d5e6f' })
  organizationId: string;

  @ApiProperty({ format: 'uuid', example: '9b2f1c7e-0d4a-4c3b-8e6f-1a2b3c4d5e6f' })
  contactId: string;

  @ApiProperty({ format: 'uuid', example: '7e1d2c3b-4a59-4867-9f00-112233445566' })
  pipelineId: string;

  @ApiProperty({ format: 'uuid', example: '0b6a3c52-3f44-4d0e-a8e5-9b1d3b0f1c11' })
  ownerId: string;

  @ApiProperty({ example: 'Annual licence renewal' })
  title: string;

  @ApiProperty({
    pattern: '^\\d+\\.\\d{2}$',
    example: '1500.00',
    description: 'Decimal string, two fraction digits',
  })
  amount: string;

  @ApiProperty({ example: 'USD', description: 'ISO-4217 code' })
  currency: string;

  @ApiProperty({ enum: DealStatus, enumName: 'DealStatus', example: DealStatus.NEW })
  status: DealStatus;

  @ApiProperty({
    example: 'qualification',
    description:
      "A stage key of the deal's pipeline (default pipeline: qualification < proposal < negotiation < closed)",
  })
  stage: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example: null,
    description: 'Set by POST /deals/{id}/lose',
  })
  lostReason: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-21T10:00:00.000Z' })
  updatedAt: string;

  static from(d: Deal): DealDto {
    return withETagOf(
      {
        id: d.id,
        organizationId: d.organizationId,
        contactId: d.contactId,
        pipelineId: d.pipelineId,
        ownerId: d.ownerId,
        title: d.title,
        amount: d.amount,
        currency: d.currency,
        status: d.status,
        stage: d.stage,
        lostReason: d.lostReason,
        createdAt: isoTimestamp(d.createdAt),
        updatedAt: isoTimestamp(d.updatedAt),
      },
      'Deal',
      d,
    );
  }
}
