import { RequestMethod } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { ErrorCode } from '../errors/error-code.enum';
import { ApiError } from './api-error.decorator';

/** @nestjs/swagger's metadata key of an operation's responses (DECORATORS.API_RESPONSE). */
const API_RESPONSE = 'swagger/apiResponse';

interface ResponseEntry {
  description?: string;
  headers?: Record<string, unknown>;
  [key: string]: unknown;
}

const ETAG_HEADER = {
  ETag: {
    description:
      'Strong validator of the record returned: changes with every change of the record. Send it ' +
      'back in If-Match (writes) or If-None-Match (GET).',
    schema: { type: 'string', example: '"kF3nJ2q0Xw8hY1bVz5cAeT"' },
  },
};

/**
 * Documents the conditional requests of a single-record route (API.md section 17), from the
 * route it decorates: a GET of a record takes `If-None-Match` (304 when it matches); a write of
 * a record (PATCH, PUT, DELETE, a POST action on `:id`) takes `If-Match` (412
 * PRECONDITION_FAILED when it no longer matches); every answer with a record carries `ETag`,
 * creations (201) included.
 *
 * `etag: false` for a write whose answer is not the record (lead conversion: several records).
 *
 * Place it ABOVE the route decorator (decorators apply bottom-up): it reads the route's method,
 * path and documented success responses, and fails loudly otherwise.
 */
export function ApiConditional({ etag = true }: { etag?: boolean } = {}): MethodDecorator {
  return (target, key, descriptor) => {
    const handler = descriptor.value as object;
    const method = Reflect.getMetadata('method', handler) as RequestMethod | undefined;
    const path = Reflect.getMetadata('path', handler) as string | string[] | undefined;
    const responses = Reflect.getMetadata(API_RESPONSE, handler) as
      Record<string, ResponseEntry> | undefined;
    if (method === undefined || path === undefined || !responses) {
      throw new Error(`@ApiConditional() on ${String(key)}: place it above the route decorator`);
    }
    const namesRecord = [path].flat().some((p) => p.includes(':id'));
    const updated: Record<string, ResponseEntry> = { ...responses };
    for (const status of etag ? ['200', '201'] : []) {
      const entry = responses[status];
      if (entry) updated[status] = { ...entry, headers: { ...entry.headers, ...ETAG_HEADER } };
    }
    if (method === RequestMethod.GET) {
      updated['304'] = {
        description:
          'Not Modified: If-None-Match names the current ETag of the record (or is *); no body',
        headers: ETAG_HEADER,
      };
    }
    Reflect.defineMetadata(API_RESPONSE, updated, handler);
    if (!namesRecord) return descriptor;
    if (method === RequestMethod.GET) {
      ApiHeader({
        name: 'If-None-Match',
        required: false,
        description:
          'ETags (or *) of the record the client holds: when one matches the current one, the ' +
          'answer is 304 without a body (weak comparison)',
      })(target, key, descriptor);
      return descriptor;
    }
    ApiHeader({
      name: 'If-Match',
      required: false,
      description:
        'The ETag of the record as the client last read it (or *): when the record has changed ' +
        'since, the answer is 412 PRECONDITION_FAILED and nothing changes. Checked after the ' +
        "record's visibility (404), before its rules (403, 409, 422).",
    })(target, key, descriptor);
    ApiError(
      412,
      [ErrorCode.PRECONDITION_FAILED],
      'PRECONDITION_FAILED: If-Match does not name the current ETag of the record',
    )(target, key, descriptor);
    return descriptor;
  };
}
