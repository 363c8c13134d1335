import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsArray, IsIn, IsOptional } from 'class-validator';

/**
 * `include=contact,tasks` as a list without repeats. A repeated parameter (`include=contact&
 * include=tasks`, which Fastify's parser makes an array) is read the same way. Empty names are
 * kept so that `include=` or a trailing comma fails validation instead of being ignored.
 */
function splitNames({ value }: { value: unknown }): unknown {
  const parts = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(parts) || !parts.every((part) => typeof part === 'string')) return value;
  return [...new Set(parts.flatMap((part: string) => part.split(',').map((name) => name.trim())))];
}

/**
 * Comma-separated values in one query parameter (OpenAPI `style: form`, `explode: false`).
 * @nestjs/swagger copies these keys from a query DTO's property onto its parameter, though its
 * property options do not declare them.
 */
const COMMA_SEPARATED = { style: 'form', explode: false } as ApiPropertyOptions;

/**
 * The `include` query parameter of API.md section 18, on a query DTO: a comma-separated subset
 * of `names`, the related records to embed in the answer. Parsed into an array of names without
 * repeats; any other name is 400 VALIDATION_FAILED with a detail on `include`, like every query
 * error. Documented as an array of the enum `enumName`, comma-separated (`style: form`,
 * `explode: false`), so typed clients get the names as a union type.
 */
export function IncludeNames(
  names: readonly string[],
  enumName: string,
  description: string,
): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      enum: names,
      enumName,
      isArray: true,
      ...COMMA_SEPARATED,
      description: `${description} Comma-separated, e.g. include=${names.slice(0, 2).join(',')}.`,
    }),
    IsOptional(),
    Transform(splitNames),
    IsArray(),
    IsIn(names, {
      each: true,
      message: `include must be a comma-separated list of: ${names.join(', ')}`,
    }),
  );
}
