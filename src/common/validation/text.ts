import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsString, IsUUID, ValidateBy, type ValidationArguments } from 'class-validator';

/**
 * A string of `min..max` characters counted as PostgreSQL counts them (code points; the
 * `Length` validator skips variation selectors, letting through values a varchar(max) refuses).
 * NUL characters are refused for every input by the validation pipe.
 */
export const IsText = (min: number, max: number): PropertyDecorator =>
  applyDecorators(
    IsString(),
    ValidateBy({
      name: 'isText',
      constraints: [min, max],
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && [...value].length >= min && [...value].length <= max,
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property} must be ${min} to ${max} characters`,
      },
    }),
  );

/** A UUID (case-insensitive input), normalised to lower case so comparisons and storage agree. */
export const IsUuid = (): PropertyDecorator =>
  applyDecorators(
    Transform(({ value }: { value: unknown }) =>
      typeof value === 'string' ? value.toLowerCase() : value,
    ),
    IsUUID('all', { message: ({ property }) => `${property} must be a UUID` }),
  );
