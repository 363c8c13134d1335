import { Matches } from 'class-validator';
import { applyDecorators } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';
import { Upper } from './transforms';

/** A currency code field: case-insensitive input, 3 letters (400), upper-cased. */
export const IsCurrencyCode = (): PropertyDecorator =>
  applyDecorators(
    Upper(),
    Matches(/^[A-Z]{3}$/, {
      message: ({ property }) => `${property} must be a 3-letter ISO-4217 code`,
    }),
  );

/** Throws 422 UNSUPPORTED_CURRENCY unless `code` (already upper-cased) is in the configured list. */
export function assertSupportedCurrency(config: Pick<AppConfig, 'currencies'>, code: string): void {
  if (!config.currencies.has(code)) {
    throw AppException.unprocessable(
      ErrorCode.UNSUPPORTED_CURRENCY,
      `Currency ${code} is not supported`,
    );
  }
}
