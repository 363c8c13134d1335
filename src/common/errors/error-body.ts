import { HttpException, HttpStatus } from '@nestjs/common';
import { AppException, ErrorDetail } from './app.exception';
import { ErrorCode } from './error-code.enum';

export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  message: string;
  details?: ErrorDetail[];
  requestId: string;
}

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: ErrorCode.VALIDATION_FAILED,
  401: ErrorCode.UNAUTHENTICATED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  429: ErrorCode.RATE_LIMITED,
  503: ErrorCode.NOT_READY,
};

/** Messages we are willing to show for framework errors; anything else gets a generic text. */
const SAFE_MESSAGE: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.VALIDATION_FAILED]: 'Malformed request',
  [ErrorCode.UNAUTHENTICATED]: 'Authentication required',
  [ErrorCode.FORBIDDEN]: 'Forbidden',
  [ErrorCode.NOT_FOUND]: 'Resource not found',
  [ErrorCode.PAYLOAD_TOO_LARGE]: 'Request body is too large',
  [ErrorCode.UNSUPPORTED_MEDIA_TYPE]: 'Unsupported Content-Type; send application/json',
  [ErrorCode.RATE_LIMITED]: 'Too many requests; retry later',
  [ErrorCode.NOT_READY]: 'Service is not ready',
};

export const FRAMEWORK_MESSAGE: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'Malformed JSON body',
  FST_ERR_CTP_EMPTY_JSON_BODY: "Body is empty but Content-Type is 'application/json'",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
};

/** Fastify's own errors (body parsing, limits) carry a `code` starting with FST_ and a statusCode. */
interface FrameworkError {
  statusCode: number;
  code: string;
}

function isFrameworkError(e: unknown): e is FrameworkError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as FrameworkError).statusCode === 'number' &&
    typeof (e as FrameworkError).code === 'string' &&
    (e as FrameworkError).code.startsWith('FST_')
  );
}

/** pg-pool gave up waiting for a free connection (overload, not a bug): a 503, not a 500. */
export function isPoolExhausted(e: unknown): boolean {
  return e instanceof Error && e.message === 'timeout exceeded when trying to connect';
}

/** Socket errors of a database that cannot be reached (down, restarting, network cut). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
/** PostgreSQL's answers of a server going away or not ready: connection exceptions, shutdown. */
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3])/;

/**
 * Why the database could not serve a statement, when that is not the request's fault: it is
 * unreachable (API.md section 15: 503 NOT_READY while PostgreSQL is down), or the statement ran
 * past DB_STATEMENT_TIMEOUT_MS (57014, canceled). Undefined otherwise.
 */
export function databaseUnavailable(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  // Duck-typed: errors of Node's sockets may come from another realm than this module's Error.
  const driver = ((e as { driverError?: unknown }).driverError ?? e) as {
    code?: unknown;
    message?: unknown;
  };
  const code = typeof driver.code === 'string' ? driver.code : undefined;
  const message = typeof driver.message === 'string' ? driver.message : '';
  if (code === '57014') return 'The request took too long and was stopped; retry shortly';
  if (
    (code !== undefined && (UNREACHABLE.has(code) || UNAVAILABLE_SQLSTATE.test(code))) ||
    /^Connection terminated/.test(message)
  ) {
    return 'The database is not reachable; retry shortly';
  }
  return undefined;
}

/**
 * Maps any thrown value to API.md's error body. `internal` is true when the error is not one
 * we expected: the caller logs it with its stack, and the client sees only a generic 500.
 */
export function toErrorBody(
  exception: unknown,
  requestId: string,
): { body: ErrorBody; internal: boolean } {
  if (exception instanceof AppException) {
    const body: ErrorBody = {
      statusCode: exception.status,
      code: exception.code,
      message: exception.message,
      requestId,
    };
    if (exception.details) body.details = exception.details;
    return { body, internal: false };
  }
  let status: number | undefined;
  // Fastify's own errors reach us raw, or wrapped by Nest in an HttpException (as its cause).
  let framework: FrameworkError | undefined;
  if (exception instanceof HttpException) {
    status = exception.getStatus();
    if (isFrameworkError(exception.cause)) framework = exception.cause;
  } else if (isFrameworkError(exception)) {
    status = exception.statusCode;
    framework = exception;
  }
  const message = framework ? FRAMEWORK_MESSAGE[framework.code] : undefined;
  const unavailable = status === undefined ? databaseUnavailable(exception) : undefined;
  if (unavailable) {
    return {
      body: {
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        code: ErrorCode.NOT_READY,
        message: unavailable,
        requestId,
      },
      internal: false,
    };
  }
  if (status === undefined && isPoolExhausted(exception)) {
    return {
      body: {
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        code: ErrorCode.NOT_READY,
        message: 'The database is busy; retry shortly',
        requestId,
      },
      internal: false,
    };
  }
  const code = status !== undefined ? CODE_BY_STATUS[status] : undefined;
  if (status === undefined || code === undefined) {
    return {
      body: {
        statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
        code: ErrorCode.INTERNAL_ERROR,
        message: `Internal server error; quote request id ${requestId} when reporting it`,
        requestId,
      },
      internal: true,
    };
  }
  return {
    body: { statusCode: status, code, message: message ?? SAFE_MESSAGE[code]!, requestId },
    internal: false,
  };
}
