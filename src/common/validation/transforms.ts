import { Transform } from 'class-transformer';
import { ValidateIf } from 'class-validator';

/** A repeatable query parameter (`status=new&status=won`): one value becomes an array of one. */
export const ToArray = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? [value] : value));

/** Trims strings; leaves other values for the validators to reject. */
export const Trim = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value));

/** Trims and lower-cases strings (emails, domains). */
export const TrimLower = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toLowerCase() : value,
  );

/** Upper-cases strings (currency codes; input is case-insensitive). */
export const Upper = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toUpperCase() : value,
  );

/**
 * Like @IsOptional(), but only for an absent property: an explicit null is validated (and
 * rejected) instead of slipping through to a NOT NULL column.
 */
export const OptionalNotNull = (): PropertyDecorator =>
  ValidateIf((_object: object, value: unknown) => value !== undefined);
