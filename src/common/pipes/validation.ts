import {
  ArgumentMetadata,
  Param,
  ParseUUIDPipe,
  ValidationError,
  ValidationPipe,
} from '@nestjs/common';
import { AppException, ErrorDetail } from '../errors/app.exception';
import { MalformedJsonBody } from '../http/json-body';

function flatten(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** Answers the 400 of a body that did not parse, now that the guards have run. */
class AppValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (value instanceof MalformedJsonBody)
      return Promise.reject(AppException.validation([], value.message));
    return super.transform(value, metadata) as Promise<unknown>;
  }
}

/** Global pipe: whitelist + forbidNonWhitelisted + transform, errors as VALIDATION_FAILED with details. */
export function createValidationPipe(): ValidationPipe {
  return new AppValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => AppException.validation(flatten(errors)),
  });
}

/** A path parameter that must be a UUID (400 VALIDATION_FAILED otherwise). */
export const UuidParam = (name: string): ParameterDecorator =>
  Param(
    name,
    new ParseUUIDPipe({
      exceptionFactory: () =>
        AppException.validation([{ field: name, message: `${name} must be a UUID` }]),
    }),
  );
