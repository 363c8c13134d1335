import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorCode } from '../errors/error-code.enum';
import { ErrorResponseDto } from '../dto/error-response.dto';

/** Documents one error status with the codes it can carry. */
export function ApiError(
  status: number,
  codes: ErrorCode[],
  description?: string,
): MethodDecorator & ClassDecorator {
  return ApiResponse({
    status,
    description: description ?? codes.join(' | '),
    type: ErrorResponseDto,
    example: {
      statusCode: status,
      code: codes[0],
      message: '…',
      requestId: '6f1c2a9e-3a0b-4f4e-9d55-2b1f0c7d9a10',
    },
  });
}

/** The 400 every endpoint with input can answer. */
export const ApiValidationError = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ApiError(
      400,
      [ErrorCode.VALIDATION_FAILED],
      'VALIDATION_FAILED: malformed, missing, unknown or out-of-range input',
    ),
  );
