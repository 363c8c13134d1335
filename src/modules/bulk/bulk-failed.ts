import { ArgumentsHost, Catch, type ExceptionFilter, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppException } from '../../common/errors/app.exception';
import { toErrorBody } from '../../common/errors/error-body';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { BulkResult } from './dto/bulk.dto';

/**
 * 409 BULK_FAILED (atomic=true): an operation failed and nothing was applied. Its error body
 * also carries `results` (API.md section 17), which BulkFailedFilter adds.
 */
export class BulkFailedException extends AppException {
  constructor(
    readonly results: BulkResult[],
    failedIndex: number,
  ) {
    super(
      HttpStatus.CONFLICT,
      ErrorCode.BULK_FAILED,
      `Operation ${failedIndex} failed; nothing was applied`,
    );
  }
}

/** API.md's error body of a BulkFailedException, plus its `results`. */
@Catch(BulkFailedException)
export class BulkFailedFilter implements ExceptionFilter {
  catch(exception: BulkFailedException, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { body } = toErrorBody(exception, request.id);
    void reply
      .status(body.statusCode)
      .header('content-type', 'application/json; charset=utf-8')
      .send({ ...body, results: exception.results });
  }
}
