import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsText, IsUuid } from '../../../common/validation/text';
import { IsArray, IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { ListQueryDto } from '../../../common/pagination/list-query.dto';
import { IsCurrencyCode } from '../../../common/validation/currency';
import { IncludeNames } from '../../../common/validation/include';
import { IsMoney } from '../../../common/validation/money';
import { OptionalNotNull, ToArray, Trim } from '../../../common/validation/transforms';
import { DEAL_STATUSES, DealStatus } from '../deal.enums';
import {
  DEAL_INCLUDE_DESCRIPTION,
  DEAL_INCLUDES,
  type DealInclude,
} from './deal-with-relations.dto';

const STAGE_KEY = /^[a-z][a-z0-9_]{0,39}$/;

const MONEY_SCHEMA = {
  oneOf: [
    { type: 'number', minimum: 0, example: 1500 },
    { type: 'string', pattern: '^\\d{1,12}(\\.\\d{1,2})?$', example: '1500.00' },
  ],
  description: 'Not negative, at most two fraction digits',
};

export class CreateDealDto {
  @ApiProperty({ format: 'uuid', description: 'A contact visible to the caller' })
  @IsUuid()
  contactId: string;

  @ApiPropertyOptional({
    format: 'uuid',
    description: 'A pipeline of the organization; the default pipeline when omitted',
  })
  @OptionalNotNull()
  @IsUuid()
  pipelineId?: string;

  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Annual licence renewal' })
  @Trim()
  @IsString()
  @IsText(1, 200)
  title: string;

  @ApiPropertyOptional({ ...MONEY_SCHEMA, default: '0.00' })
  @OptionalNotNull()
  @IsMoney()
  amount?: string;

  @ApiPropertyOptional({
    example: 'EUR',
    description: "ISO-4217 (case-insensitive); defaults to the organization's, else the server's",
  })
  @OptionalNotNull()
  @IsCurrencyCode()
  currency?: string;

  @ApiPropertyOptional({ enum: DealStatus, enumName: 'DealStatus', default: DealStatus.NEW })
  @OptionalNotNull()
  @IsIn(DEAL_STATUSES)
  status?: DealStatus;

  @ApiPropertyOptional({
    example: 'qualification',
    description: 'A stage key; defaults to the first stage',
  })
  @OptionalNotNull()
  @IsString()
  @Matches(STAGE_KEY, { message: 'stage must be a stage key' })
  stage?: string;

  @ApiPropertyOptional({
    format: 'uuid',
    description: 'Owners, admins and managers only; a member of the organization',
  })
  @OptionalNotNull()
  @IsUuid()
  ownerId?: string;
}

export class UpdateDealDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200, example: 'Annual plan, 40 seats' })
  @OptionalNotNull()
  @Trim()
  @IsString()
  @IsText(1, 200)
  title?: string;

  @ApiPropertyOptional(MONEY_SCHEMA)
  @OptionalNotNull()
  @IsMoney()
  amount?: string;

  @ApiPropertyOptional({ example: 'EUR' })
  @OptionalNotNull()
  @IsCurrencyCode()
  currency?: string;

  @ApiPropertyOptional({
    enum: DealStatus,
    enumName: 'DealStatus',
    description:
      'new -> in_progress | lost, in_progress -> won | lost (409 INVALID_STATUS_TRANSITION otherwise); ' +
      'won needs an amount above 0 (422 AMOUNT_REQUIRED_TO_WIN) and closes the stage',
  })
  @OptionalNotNull()
  @IsIn(DEAL_STATUSES)
  status?: DealStatus;

  @ApiPropertyOptional({ example: 'proposal' })
  @OptionalNotNull()
  @IsString()
  @Matches(STAGE_KEY, { message: 'stage must be a stage key' })
  stage?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @OptionalNotNull()
  @IsUuid()
  ownerId?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @OptionalNotNull()
  @IsUuid()
  contactId?: string;
}

export const DEAL_ORDER_BY = ['createdAt', 'updatedAt', 'amount', 'title'] as const;

export class DealListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({
    enum: DealStatus,
    enumName: 'DealStatus',
    isArray: true,
    description: 'Repeatable: status=new&status=won',
  })
  @IsOptional()
  @ToArray()
  @IsArray()
  @IsIn(DEAL_STATUSES, { each: true })
  status?: DealStatus[];

  @ApiPropertyOptional({ example: 'proposal' })
  @IsOptional()
  @IsString()
  @Matches(STAGE_KEY, { message: 'stage must be a stage key' })
  stage?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUuid()
  pipelineId?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUuid()
  ownerId?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUuid()
  contactId?: string;

  @ApiPropertyOptional({ type: String, example: '1000', description: 'Inclusive' })
  @IsOptional()
  @IsMoney()
  minAmount?: string;

  @ApiPropertyOptional({ type: String, example: '50000.00', description: 'Inclusive' })
  @IsOptional()
  @IsMoney()
  maxAmount?: string;

  @ApiPropertyOptional({ enum: DEAL_ORDER_BY, default: 'createdAt' })
  @IsOptional()
  @IsIn(DEAL_ORDER_BY)
  orderBy: (typeof DEAL_ORDER_BY)[number] = 'createdAt';

  @IncludeNames(DEAL_INCLUDES, 'DealInclude', DEAL_INCLUDE_DESCRIPTION)
  include?: DealInclude[];
}

export class MoveStageDto {
  @ApiProperty({ example: 'negotiation', description: "A stage key of the deal's pipeline" })
  @IsString()
  @Matches(STAGE_KEY, { message: 'stage must be a stage key' })
  stage: string;
}

export class LoseDealDto {
  @ApiProperty({ minLength: 1, maxLength: 1000, example: 'Chose a competitor' })
  @Trim()
  @IsText(1, 1000)
  reason: string;
}

/** POST /deals/{id}/win takes no properties: anything sent is refused (400), not ignored. */
export class WinDealDto {}
