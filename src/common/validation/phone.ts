import { IsString, Length, Matches } from 'class-validator';
import { Trim } from './transforms';

/** Digits with an optional leading +, spaces, dashes, dots and parentheses (API.md section 5). */
export const PHONE = /^\+?(?=[^+]*\d)[\d ().-]+$/;
const PHONE_MESSAGE =
  'phone must be digits with an optional leading +, spaces, dashes, dots or parentheses';

/**
 * A phone number by the contacts' rule (API.md section 5), used by every resource with a phone:
 * trimmed, 5 to 32 characters, PHONE. Pair with `@IsOptional()` where it may be null.
 */
export const IsPhone = (): PropertyDecorator => (target: object, property: string | symbol) => {
  Trim()(target, property);
  IsString()(target, property);
  Length(5, 32)(target, property);
  Matches(PHONE, { message: PHONE_MESSAGE })(target, property);
};
