import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  HttpStatus,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { AppException } from './app.exception';
import { toErrorBody } from './error-body';
import { ErrorCode } from './error-code.enum';

const RID = 'req-123';

describe('toErrorBody', () => {
  describe('AppException', () => {
    it('keeps status, code and message', () => {
      const result = toErrorBody(
        AppException.conflict(ErrorCode.EMAIL_TAKEN, 'Email already registered'),
        RID,
      );
      expect(result).toEqual({
        body: {
          statusCode: 409,
          code: ErrorCode.EMAIL_TAKEN,
          message: 'Email already registered',
          requestId: RID,
        },
        internal: false,
      });
      expect(result.body).not.toHaveProperty('details');
    });

    it('includes details when present', () => {
      const details = [
        { field: 'email', message: 'email must be an email' },
        { field: 'address.city', message: 'city should not be empty' },
      ];
      const { body, internal } = toErrorBody(AppException.validation(details), RID);
      expect(internal).toBe(false);
      expect(body).toEqual({
        statusCode: 400,
        code: ErrorCode.VALIDATION_FAILED,
        message: 'Validation failed',
        details,
        requestId: RID,
      });
    });

    it('maps the static helpers', () => {
      expect(toErrorBody(AppException.notFound('Contact'), RID).body).toMatchObject({
        statusCode: 404,
        code: ErrorCode.NOT_FOUND,
        message: 'Contact not found',
      });
      expect(toErrorBody(AppException.forbidden(), RID).body).toMatchObject({
        statusCode: 403,
        code: ErrorCode.FORBIDDEN,
      });
      expect(toErrorBody(AppException.unauthenticated(), RID).body).toMatchObject({
        statusCode: 401,
        code: ErrorCode.UNAUTHENTICATED,
      });
      expect(
        toErrorBody(AppException.unprocessable(ErrorCode.LAST_OWNER, 'Last owner'), RID).body,
      ).toMatchObject({ statusCode: 422, code: ErrorCode.LAST_OWNER, message: 'Last owner' });
    });
  });

  describe('HttpException', () => {
    it.each<[number, ErrorCode]>([
      [400, ErrorCode.VALIDATION_FAILED],
      [401, ErrorCode.UNAUTHENTICATED],
      [403, ErrorCode.FORBIDDEN],
      [404, ErrorCode.NOT_FOUND],
      [413, ErrorCode.PAYLOAD_TOO_LARGE],
      [415, ErrorCode.UNSUPPORTED_MEDIA_TYPE],
      [429, ErrorCode.RATE_LIMITED],
      [503, ErrorCode.NOT_READY],
    ])('maps status %d to %s with a safe message', (status, code) => {
      const { body, internal } = toErrorBody(
        new HttpException('internal detail: /srv/app/secret.ts', status),
        RID,
      );
      expect(internal).toBe(false);
      expect(body.statusCode).toBe(status);
      expect(body.code).toBe(code);
      expect(body.requestId).toBe(RID);
      expect(typeof body.message).toBe('string');
      expect(body.message.length).toBeGreaterThan(0);
      expect(body.message).not.toContain('secret');
      expect(body).not.toHaveProperty('details');
    });

    it.each<[HttpException, number, string]>([
      [new BadRequestException('x'), 400, 'Malformed request'],
      [new UnauthorizedException('x'), 401, 'Authentication required'],
      [new ForbiddenException('x'), 403, 'Forbidden'],
      [new NotFoundException('Cannot GET /internal'), 404, 'Resource not found'],
      [new PayloadTooLargeException('x'), 413, 'Request body is too large'],
      [
        new UnsupportedMediaTypeException('x'),
        415,
        'Unsupported Content-Type; send application/json',
      ],
      [new HttpException('x', HttpStatus.TOO_MANY_REQUESTS), 429, 'Too many requests; retry later'],
      [new ServiceUnavailableException('x'), 503, 'Service is not ready'],
    ])('uses the generic message for %p', (exception, status, message) => {
      expect(toErrorBody(exception, RID).body).toMatchObject({ statusCode: status, message });
    });

    it('gives "Malformed JSON body" for a wrapped Fastify JSON parse error', () => {
      const cause = Object.assign(new SyntaxError('Unexpected token } in JSON at position 7'), {
        statusCode: 400,
        code: 'FST_ERR_CTP_INVALID_JSON_BODY',
      });
      const { body, internal } = toErrorBody(
        new BadRequestException('Unexpected token } in JSON at position 7', { cause }),
        RID,
      );
      expect(internal).toBe(false);
      expect(body).toEqual({
        statusCode: 400,
        code: ErrorCode.VALIDATION_FAILED,
        message: 'Malformed JSON body',
        requestId: RID,
      });
    });

    it('gives the empty-body message for a wrapped FST_ERR_CTP_EMPTY_JSON_BODY', () => {
      const cause = { statusCode: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY' };
      expect(toErrorBody(new BadRequestException('x', { cause }), RID).body.message).toBe(
        "Body is empty but Content-Type is 'application/json'",
      );
    });

    it('ignores a cause that is not a Fastify error', () => {
      const cause = { statusCode: 400, code: 'ECONNRESET' };
      expect(toErrorBody(new BadRequestException('x', { cause }), RID).body.message).toBe(
        'Malformed request',
      );
    });

    it('treats an unmapped HTTP status as an internal error', () => {
      const { body, internal } = toErrorBody(new HttpException('teapot', 418), RID);
      expect(internal).toBe(true);
      expect(body.statusCode).toBe(500);
      expect(body.code).toBe(ErrorCode.INTERNAL_ERROR);
    });
  });

  describe('raw Fastify errors', () => {
    it('maps a plain Fastify error object by its statusCode and code', () => {
      const error = Object.assign(new Error('Body is too large: 2097152 bytes'), {
        statusCode: 413,
        code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      });
      expect(toErrorBody(error, RID)).toEqual({
        body: {
          statusCode: 413,
          code: ErrorCode.PAYLOAD_TOO_LARGE,
          message: 'Request body is too large',
          requestId: RID,
        },
        internal: false,
      });
    });

    it('uses the framework message for a raw invalid JSON error', () => {
      const error = { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY', message: 'raw' };
      expect(toErrorBody(error, RID).body).toEqual({
        statusCode: 400,
        code: ErrorCode.VALIDATION_FAILED,
        message: 'Malformed JSON body',
        requestId: RID,
      });
    });

    it('maps a raw unsupported media type error', () => {
      const error = { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' };
      expect(toErrorBody(error, RID).body).toMatchObject({
        statusCode: 415,
        code: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
      });
    });

    it('does not trust a statusCode on an error whose code is not FST_*', () => {
      const error = Object.assign(new Error('ENOENT: /etc/secret'), {
        statusCode: 404,
        code: 'ENOENT',
      });
      const { body, internal } = toErrorBody(error, RID);
      expect(internal).toBe(true);
      expect(body.statusCode).toBe(500);
    });
  });

  describe('unexpected errors', () => {
    it.each<[string, unknown]>([
      ['an Error', new Error('password=hunter2 leaked from db')],
      ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'hunter2')")],
      ['a thrown string', 'hunter2 string thrown'],
      ['an object', { message: 'hunter2 object' }],
      ['null', null],
      ['undefined', undefined],
    ])('maps %s to a generic 500 that quotes the request id and leaks nothing', (_, thrown) => {
      const { body, internal } = toErrorBody(thrown, RID);
      expect(internal).toBe(true);
      expect(body.statusCode).toBe(500);
      expect(body.code).toBe(ErrorCode.INTERNAL_ERROR);
      expect(body.requestId).toBe(RID);
      expect(body.message).toContain(RID);
      expect(body.message).not.toContain('hunter2');
      expect(JSON.stringify(body)).not.toContain('hunter2');
      expect(Object.keys(body).sort()).toEqual(['code', 'message', 'requestId', 'statusCode']);
    });
  });
});

describe('toErrorBody for an exhausted connection pool', () => {
  it('answers 503 NOT_READY (overload), not an internal 500', () => {
    const { body, internal } = toErrorBody(
      new Error('timeout exceeded when trying to connect'),
      'req-pool',
    );
    expect(internal).toBe(false);
    expect(body).toEqual({
      statusCode: 503,
      code: 'NOT_READY',
      message: 'The database is busy; retry shortly',
      requestId: 'req-pool',
    });
  });
});
