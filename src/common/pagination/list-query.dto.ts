import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  Length,
  Min,
  registerDecorator,
  ValidationArguments,
} from 'class-validator';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;

export const SORT_ORDERS = ['asc', 'desc'] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

/** Keyset parameters (limit, cursor) may not be mixed with offset ones (page, pageSize). */
function NotWithPageParameters(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'notWithPageParameters',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (_: unknown, args: ValidationArguments) => {
          const q = args.object as ListQueryDto;
          return q.page === undefined && q.pageSize === undefined;
        },
        defaultMessage: (args: ValidationArguments) =>
          `${args.property} cannot be combined with page or pageSize`,
      },
    });
}

/**
 * The highest `page`: its offset (at most 10^11 rows in) stays an exact integer in JavaScript and
 * in PostgreSQL's bigint, far past any list's end. A larger page is a 400, not a query that fails.
 */
export const MAX_PAGE = 1_000_000_000;

/**
 * The list parameters of API.md section 1, extended by each list's filters and `orderBy`:
 * offset pages (`page`, `pageSize`) or keyset pages (`limit`, `cursor`), never both.
 */
export class ListQueryDto {
  @ApiPropertyOptional({
    minimum: 1,
    maximum: MAX_PAGE,
    default: 1,
    description: 'Offset pagination: page number',
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE)
  page?: number;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 100,
    default: 20,
    description: 'Offset pagination: page size',
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  pageSize?: number;

  // No default in the document: Swagger UI would send it next to page/pageSize (a 400).
  @ApiPropertyOptional({
    minimum: 1,
    maximum: 100,
    description: 'Keyset pagination: items per page (20 when omitted). Not with page/pageSize.',
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  @NotWithPageParameters()
  limit?: number;

  @ApiPropertyOptional({
    description:
      'Keyset pagination: the nextCursor of the previous answer (opaque). Not with page/pageSize.',
  })
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  @NotWithPageParameters()
  cursor?: string;

  @ApiPropertyOptional({ enum: SORT_ORDERS, default: 'desc' })
  @IsOptional()
  @IsIn(SORT_ORDERS)
  order: SortOrder = 'desc';

  get isKeyset(): boolean {
    return this.limit !== undefined || this.cursor !== undefined;
  }
}
