import { HttpStatus } from '@nestjs/common';
import { ErrorCode } from './error-code.enum';

export interface ErrorDetail {
  field: string;
  message: string;
}

/**
 * A domain error with a stable code. Services throw these; the exception filter turns them
 * into API.md's error body. Messages are written for API clients: no internals.
 */
export class AppException extends Error {
  constructor(
    readonly status: HttpStatus,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'AppException';
  }

  static validation(details: ErrorDetail[], message = 'Validation failed'): AppException {
    return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, message, details);
  }

  static notFound(what = 'Resource'): AppException {
    return new AppException(HttpStatus.NOT_FOUND, ErrorCode.NOT_FOUND, `${what} not found`);
  }

  static forbidden(message = 'Your role does not allow this action'): AppException {
    return new AppException(HttpStatus.FORBIDDEN, ErrorCode.FORBIDDEN, message);
  }

  static unauthenticated(message = 'Authentication required'): AppException {
    return new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.UNAUTHENTICATED, message);
  }

  static conflict(code: ErrorCode, message: string): AppException {
    return new AppException(HttpStatus.CONFLICT, code, message);
  }

  static unprocessable(code: ErrorCode, message: string): AppException {
    return new AppException(HttpStatus.UNPROCESSABLE_ENTITY, code, message);
  }
}
