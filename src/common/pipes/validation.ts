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

/** The paths of string values holding a NUL character, which PostgreSQL cannot store or compare. */
function nulPaths(value: unknown, path: string, found: string[] = []): string[] {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) found.push(path || 'value');
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => nulPaths(v, `${path}[${i}]`, found));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) nulPaths(v, path ? `${path}.${k}` : k, found);
  }
  return found;
}

/**
 * Answers the 400 of a body that did not parse (now that the guards have run), refuses NUL
 * characters anywhere in body, query and path parameters, then validates as usual.
 */
class AppValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (value instanceof MalformedJsonBody) {
      return Promise.reject(AppException.validation([], value.message));
    }
    if (metadata.type !== 'custom') {
      const withNul = nulPaths(value, metadata.type === 'param' ? (metadata.data ?? '') : '');
      if (withNul.length) {
        const details = withNul.map((field) => ({
          field,
          message: `${field} must not contain NUL characters`,
        }));
        return Promise.reject(AppException.validation(details));
      }
    }
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
