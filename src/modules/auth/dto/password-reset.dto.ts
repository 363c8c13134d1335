import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { IsEmail, IsString, Length, MaxLength, registerDecorator } from 'class-validator';
import { TrimLower } from '../../../common/validation/transforms';

/** What a new password must be (API.md section 2), as the error detail says it. */
export const PASSWORD_RULES =
  'password must contain a letter and a digit, fit in 72 bytes, and differ from the email';

/**
 * The password rules of registration (API.md section 2) for a new password given without the
 * email next to it (reset, change): 8..72 characters, a letter and a digit, at most 72 bytes in
 * UTF-8 (bcrypt reads no further). "Not the email" is checked by the service, which knows it.
 * The same rules as RegisterDto's PasswordPolicy (not exported from auth-input.dto.ts).
 */
export function IsNewPassword(): PropertyDecorator {
  const policy: PropertyDecorator = (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'newPasswordPolicy',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown): boolean =>
          typeof value === 'string' &&
          /\p{L}/u.test(value) &&
          /\p{Nd}/u.test(value) &&
          Buffer.byteLength(value, 'utf8') <= 72,
        defaultMessage: () => PASSWORD_RULES,
      },
    });
  return applyDecorators(IsString(), Length(8, 72), policy);
}

/** True when `password` is the account's email (refused: API.md section 2). */
export const isTheEmail = (password: string, email: string): boolean =>
  password.toLowerCase() === email.trim().toLowerCase();

export class ForgotPasswordDto {
  @ApiProperty({
    format: 'email',
    maxLength: 254,
    example: 'ada@example.com',
    description: 'Trimmed and lower-cased',
  })
  @TrimLower()
  @IsEmail({}, { message: 'email must be an email' })
  @MaxLength(254)
  email: string;
}

export class ForgotPasswordResponseDto {
  @ApiProperty({
    example: 'If an account exists for this email, a password reset link has been sent to it.',
    description: 'The same answer whether or not an account exists for the email',
  })
  message: string;
}

export class ResetPasswordDto {
  @ApiProperty({
    description:
      'The token from the reset email (the `token` parameter of its link): 43 characters of base64url',
    minLength: 1,
    maxLength: 256,
    example: 'q3Vx0m1tYxk0c1p8Zk9wS2tQb3JlbUlwc3VtRG9sb3I',
  })
  @IsString()
  @Length(1, 256)
  token: string;

  @ApiProperty({
    minLength: 8,
    maxLength: 72,
    example: 'new-horse-43',
    description: 'The new password: a letter and a digit; not the email',
  })
  @IsNewPassword()
  password: string;
}
