import currencyCodes from 'currency-codes';

/** Every active ISO-4217 code, as published in the `currency-codes` package. */
export const ISO_4217_CODES: readonly string[] = currencyCodes.codes();
