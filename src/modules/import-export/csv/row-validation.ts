import type { ValidationError } from '@nestjs/common';
import { type ClassConstructor, plainToInstance } from 'class-transformer';
import { validate, type ValidatorOptions } from 'class-validator';
import type { ErrorDetail } from '../../../common/errors/app.exception';
import { isNotText, notTextDetail } from '../../../common/pipes/validation';

/**
 * The options of the global validation pipe (src/common/pipes/validation.ts), so that a CSV
 * row is judged exactly as the same values sent to the single-record endpoint.
 */
const VALIDATOR_OPTIONS: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  validationError: { target: false, value: false },
};

function flatten(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

export type RowResult<T> = { value: T } | { errors: ErrorDetail[] };

/**
 * Builds `dto` from a row's values with class-transformer and validates it with class-validator,
 * as the global pipe does (NUL characters and unpaired surrogates refused first, as there). `fieldOf` renames a DTO
 * property path to the CSV column it came from (e.g. `address.country` -> `country`).
 */
export async function validateRow<T extends object>(
  dto: ClassConstructor<T>,
  plain: Record<string, unknown>,
  fieldOf: (path: string) => string = (path) => path,
): Promise<RowResult<T>> {
  const notText = Object.entries(plain)
    .filter(([, value]) => typeof value === 'string' && isNotText(value))
    .map(([key]) => notTextDetail(fieldOf(key)));
  if (notText.length) return { errors: notText };
  const instance = plainToInstance(dto, plain, { enableImplicitConversion: false });
  const errors = await validate(instance, VALIDATOR_OPTIONS);
  if (!errors.length) return { value: instance };
  return {
    errors: flatten(errors).map(({ field, message }) => ({ field: fieldOf(field), message })),
  };
}
