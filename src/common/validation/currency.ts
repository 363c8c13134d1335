import { AppConfig } from '../../config/app-config';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';

/** Throws 422 UNSUPPORTED_CURRENCY unless `code` (already upper-cased) is in the configured list. */
export function assertSupportedCurrency(config: Pick<AppConfig, 'currencies'>, code: string): void {
  if (!config.currencies.has(code)) {
    throw AppException.unprocessable(
      ErrorCode.UNSUPPORTED_CURRENCY,
      `Currency ${code} is not supported`,
    );
  }
}
