import { ApiProperty } from '@nestjs/swagger';
import { IsText } from '../../../common/validation/text';
import {
  IsEmail,
  IsString,
  Length,
  MaxLength,
  registerDecorator,
  ValidationArguments,
} from 'class-validator';
import { Trim, TrimLower } from '../../../common/validation/transforms';

/**
 * API.md section 2: 8..72 characters, a letter and a digit, not the email. bcrypt reads only
 * the first 72 bytes, so a password longer than that in UTF-8 is refused too (it would
 * otherwise be silently truncated).
 */
function PasswordPolicy(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'passwordPolicy',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate(value: unknown, args: ValidationArguments): boolean {
          if (typeof value !== 'string') return false;
          const email = (args.object as { email?: unknown }).email;
          return (
            /\p{L}/u.test(value) &&
            /\p{Nd}/u.test(value) &&
            Buffer.byteLength(value, 'utf8') <= 72 &&
            (typeof email !== 'string' || value.toLowerCase() !== email.trim().toLowerCase())
          );
        },
        defaultMessage: () =>
          'password must contain a letter and a digit, fit in 72 bytes, and differ from the email',
      },
    });
}

const EMAIL_EXAMPLE = 'ada@example.com';

export class RegisterDto {
  @ApiProperty({
    format: 'email',
    maxLength: 254,
    example: EMAIL_EXAMPLE,
    description: 'Trimmed and lower-cased',
  })
  @TrimLower()
  @IsEmail({}, { message: 'email must be an email' })
  @MaxLength(254)
  email: string;

  @ApiProperty({
    minLength: 8,
    maxLength: 72,
    example: 'correct-horse-42',
    description: 'A letter and a digit; not the email',
  })
  @IsString()
  @Length(8, 72)
  @PasswordPolicy()
  password: string;

  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Ada Lovelace' })
  @Trim()
  @IsText(1, 200)
  name: string;

  @ApiProperty({ minLength: 1, maxLength: 200, example: 'Analytical Engines Ltd' })
  @Trim()
  @IsText(1, 200)
  organizationName: string;
}

export class LoginDto {
  @ApiProperty({ format: 'email', example: EMAIL_EXAMPLE })
  @TrimLower()
  @IsEmail({}, { message: 'email must be an email' })
  @MaxLength(254)
  email: string;

  @ApiProperty({ example: 'correct-horse-42' })
  @IsString()
  @Length(1, 1024)
  password: string;
}

export class RefreshTokenDto {
  @ApiProperty({
    description: 'The refresh token from register, login or the previous refresh',
    minLength: 1,
    maxLength: 4096,
    example: 'eyJhbGciOiJIUzI1NiJ9…',
  })
  // Opaque to clients: any string that is not a live refresh token is answered 401
  // INVALID_REFRESH_TOKEN by the service (API.md section 2), not 400 for its format.
  @IsString()
  @Length(1, 4096)
  refreshToken: string;
}
