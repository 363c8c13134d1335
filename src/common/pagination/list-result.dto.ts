import { applyDecorators, Type } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiProperty, getSchemaPath } from '@nestjs/swagger';

export class PageDto<T> {
  @ApiProperty({ type: 'array', items: { type: 'object' } })
  items: T[];

  @ApiProperty({ example: 57 })
  total: number;

  @ApiProperty({ example: 1 })
  page: number;

  @ApiProperty({ example: 20 })
  pageSize: number;
}

export class CursorPageDto<T> {
  @ApiProperty({ type: 'array', items: { type: 'object' } })
  items: T[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` for the next page; null on the last page',
    example: 'eyJzIjoi…',
  })
  nextCursor: string | null;
}

export type ListResult<T> = PageDto<T> | CursorPageDto<T>;

/**
 * 200 with `{items: Model[], total, page, pageSize}` (page/pageSize) or
 * `{items: Model[], nextCursor}` (limit/cursor) in the OpenAPI document.
 */
export const ApiListResponse = <M extends Type<unknown>>(
  model: M,
  description?: string,
): MethodDecorator => {
  const items = { type: 'array', items: { $ref: getSchemaPath(model) } };
  return applyDecorators(
    ApiExtraModels(PageDto, CursorPageDto, model),
    ApiOkResponse({
      description:
        description ?? 'A page of items: offset page, or keyset page when limit/cursor is used',
      schema: {
        oneOf: [
          { allOf: [{ $ref: getSchemaPath(PageDto) }, { properties: { items } }] },
          { allOf: [{ $ref: getSchemaPath(CursorPageDto) }, { properties: { items } }] },
        ],
      },
    }),
  );
};
