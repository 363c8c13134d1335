import { Transform } from 'class-transformer';
import { registerDecorator, ValidationArguments } from 'class-validator';

const MONEY = /^\d{1,12}(\.\d{1,2})?$/;
/** numeric(14,2): up to 12 integer digits. */
export const MAX_AMOUNT = '999999999999.99';

/** "1500" -> "1500.00", "12.5" -> "12.50": the canonical two-decimal string. */
export function formatAmount(value: string): string {
  const [whole, fraction = ''] = value.split('.');
  return `${BigInt(whole).toString()}.${fraction.padEnd(2, '0')}`;
}

/**
 * Money input (API.md section 1): a JSON number or a numeric string, at most two fraction
 * digits, not negative, at most 999999999999.99; normalised to a two-decimal string.
 */
export function IsMoney(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) => {
    Transform(({ value }: { value: unknown }) => {
      if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
      return typeof value === 'string' && MONEY.test(value.trim())
        ? formatAmount(value.trim())
        : value;
    })(target, propertyName);
    registerDecorator({
      name: 'isMoney',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && /^\d{1,12}\.\d{2}$/.test(value),
        defaultMessage: (args?: ValidationArguments) => {
          const value: unknown = args?.value;
          const negative =
            (typeof value === 'number' || typeof value === 'string') && Number(value) < 0;
          return negative
            ? `${args?.property} must not be negative`
            : `${args?.property} must be a number or numeric string with at most two decimals, up to ${MAX_AMOUNT}`;
        },
      },
    });
  };
}
