import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;

export const SUMMARY_DAYS_DEFAULT = 30;
export const SUMMARY_DAYS_MAX = 365;

/** A decimal string per ISO-4217 currency: `{"USD": "300.00", "EUR": "10.00"}`. */
const PER_CURRENCY = {
  type: 'object',
  additionalProperties: {
    type: 'string',
    pattern: '^\\d+\\.\\d{2}$',
    description: 'Decimal string, two fraction digits',
  },
  description: 'Keyed by ISO-4217 currency code; amounts are never added across currencies',
} as const;

export class DealSummaryQueryDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: SUMMARY_DAYS_MAX,
    default: SUMMARY_DAYS_DEFAULT,
    description: 'The period of newDealsInPeriod: deals created in the last `days` days',
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(SUMMARY_DAYS_MAX)
  days: number = SUMMARY_DAYS_DEFAULT;
}

export class StatusFigureDto {
  @ApiProperty({ type: 'integer', example: 3, description: 'Deals with this status' })
  count: number;

  @ApiProperty({
    ...PER_CURRENCY,
    example: { USD: '300.00' },
    description:
      'Sum of their amounts per currency (a currency appears when such a deal uses it, ' +
      'even with "0.00"); empty when count is 0',
  })
  amounts: Record<string, string>;
}

export class SummaryByStatusDto {
  @ApiProperty({ type: StatusFigureDto, example: { count: 3, amounts: { USD: '300.00' } } })
  new: StatusFigureDto;

  @ApiProperty({ type: StatusFigureDto, example: { count: 1, amounts: { EUR: '50.00' } } })
  in_progress: StatusFigureDto;

  @ApiProperty({
    type: StatusFigureDto,
    example: { count: 2, amounts: { USD: '200.00', EUR: '10.00' } },
  })
  won: StatusFigureDto;

  @ApiProperty({ type: StatusFigureDto, example: { count: 0, amounts: {} } })
  lost: StatusFigureDto;
}

export class DealSummaryDto {
  @ApiProperty({ type: SummaryByStatusDto, description: 'All four statuses, always present' })
  byStatus: SummaryByStatusDto;

  @ApiProperty({
    ...PER_CURRENCY,
    example: { USD: '200.00', EUR: '10.00' },
    description:
      'Average amount of the won deals, per currency that has won deals, rounded half-up to ' +
      'two decimals',
  })
  wonAverageAmount: Record<string, string>;

  @ApiProperty({
    type: 'integer',
    example: 4,
    description: 'Deals created in the last periodDays days',
  })
  newDealsInPeriod: number;

  @ApiProperty({
    type: 'integer',
    example: 30,
    description: 'The `days` the figures were computed for',
  })
  periodDays: number;
}
