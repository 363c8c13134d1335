import { applyDecorators, type Type as ClassType } from '@nestjs/common';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsObject, ValidateNested } from 'class-validator';

/**
 * An array of `min..max` objects, each validated as `type`. Each item must be an object first:
 * `ValidateNested({ each: true })` alone lets an item that is itself an array through unchecked
 * (`[[]]` reached the service as a permission with no actions, found by the fuzz suite).
 */
export const ArrayOfObjects = (
  type: () => ClassType<unknown>,
  options: { min?: number; max: number; message?: string },
): PropertyDecorator =>
  applyDecorators(
    IsArray(),
    ...(options.min === undefined ? [] : [ArrayMinSize(options.min)]),
    ArrayMaxSize(options.max),
    IsObject({
      each: true,
      message: options.message ?? 'each item of $property must be an object',
    }),
    ValidateNested({ each: true }),
    Type(type),
  );
