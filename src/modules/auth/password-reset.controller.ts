import { Body, Controller, Delete, Headers, HttpCode, HttpStatus, Post } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiNoContentResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiError, ApiValidationError } from '../../common/decorators/api-error.decorator';
import { ErrorCode } from '../../common/errors/error-code.enum';
import type { AuthUser, RequestMeta } from '../../common/http/request-context';
import { AttemptLimit } from '../../common/rate-limit/rate-limit.guard';
import { Authenticated, Public } from '../../tenancy/access/access.decorator';
import { ClientMeta, CurrentUser } from '../../tenancy/access/context.decorators';
import { ChangePasswordDto, DeleteAccountDto } from '../users/dto/account.dto';
import {
  ForgotPasswordDto,
  ForgotPasswordResponseDto,
  ResetPasswordDto,
} from './dto/password-reset.dto';
import { PasswordResetService } from './password-reset.service';
import { Idempotent } from '../../common/idempotency/idempotency.interceptor';

/**
 * Attempts are limited like login (API.md section 2): RATE_LIMIT_LOGIN_PER_MINUTE per minute, in
 * buckets of their own: a reset request per (email, client address); the routes that check the
 * current password per signed-in user (guessing it with a stolen access token is as slow as
 * guessing it at login).
 */
const PasswordRateLimit = (kind: 'forgot' | 'confirm'): MethodDecorator =>
  kind === 'forgot'
    ? AttemptLimit('password-forgot', 'email')
    : AttemptLimit('password-confirm', 'user');

/** POST /auth/password/forgot and /auth/password/reset (API.md section 16). */
@ApiTags('auth')
@Controller('auth/password')
export class PasswordResetController {
  constructor(private readonly resets: PasswordResetService) {}

  @Post('forgot')
  @Public()
  @PasswordRateLimit('forgot')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Ask for a password reset email',
    description:
      'Always 202 with the same body, whether or not an account exists for the email (no account ' +
      'enumeration): the work is done after answering. For an existing account (also one without ' +
      'a password, created by single sign-on, which may set one this way) an email is sent with a ' +
      'link `<PUBLIC_URL>/reset-password?token=...` and the token itself; the token works once, ' +
      'for 1 hour. Asking again sends a new token; earlier unexpired tokens stay valid until one ' +
      'of them is used (a reset or a password change spends them all). Rate-limited like login: ' +
      'more than RATE_LIMIT_LOGIN_PER_MINUTE (default 5) requests per minute for one email from ' +
      'one client address answer 429 with Retry-After (counted apart from login attempts).',
  })
  @ApiAcceptedResponse({ type: ForgotPasswordResponseDto })
  @ApiValidationError()
  @ApiError(429, [ErrorCode.RATE_LIMITED])
  forgot(
    @Body() body: ForgotPasswordDto,
    @ClientMeta() meta: RequestMeta,
  ): ForgotPasswordResponseDto {
    return this.resets.forgot(body.email, meta);
  }

  @Post('reset')
  @Public()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Set a new password with a reset token',
    description:
      'The token of the reset email and the new password (the rules of registration: 8..72 ' +
      'characters, a letter and a digit, not the email). Spends the token and every other ' +
      'outstanding reset token of the user, and revokes every refresh token of the user (every ' +
      'session must sign in again; access tokens already issued expire within 15 minutes). A ' +
      'token that is unknown, already used or expired is 400 VALIDATION_FAILED with a detail on ' +
      '`token`.',
  })
  @ApiNoContentResponse({ description: 'Password changed' })
  @ApiValidationError()
  @ApiError(429, [ErrorCode.RATE_LIMITED])
  reset(@Body() body: ResetPasswordDto, @ClientMeta() meta: RequestMeta): Promise<void> {
    return this.resets.reset(body, meta);
  }
}

/**
 * POST /users/me/password and DELETE /users/me (API.md section 16). They live in the auth
 * module, which holds the password and token services (the users module cannot import it:
 * the auth module imports the users module).
 */
@ApiTags('users')
@Controller('users')
export class AccountController {
  constructor(private readonly resets: PasswordResetService) {}

  @Post('me/password')
  @Idempotent()
  @Authenticated()
  @PasswordRateLimit('confirm')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Change my password',
    description:
      'No X-Organization-Id header. `currentPassword` must be the current one (else 401 ' +
      'INVALID_CREDENTIALS; an account without a password, created by single sign-on, sets one ' +
      'through POST /auth/password/forgot instead); `newPassword` follows the rules of ' +
      'registration (8..72 characters, a letter and a digit, not the email). Revokes the refresh ' +
      'tokens of every other session of the user: the session of this access token keeps ' +
      'working. Outstanding reset tokens are spent. More than RATE_LIMIT_LOGIN_PER_MINUTE ' +
      '(default 5) attempts per minute: 429 with Retry-After.',
  })
  @ApiNoContentResponse({ description: 'Password changed' })
  @ApiValidationError()
  @ApiError(401, [ErrorCode.UNAUTHENTICATED, ErrorCode.INVALID_CREDENTIALS])
  @ApiError(403, [ErrorCode.FORBIDDEN], 'FORBIDDEN: an API key may not change the account')
  @ApiError(429, [ErrorCode.RATE_LIMITED])
  changePassword(
    @CurrentUser() user: AuthUser,
    @Headers('authorization') authorization: string | undefined,
    @Body() body: ChangePasswordDto,
    @ClientMeta() meta: RequestMeta,
  ): Promise<void> {
    const token = /^bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? null;
    return this.resets.changePassword(user, token, body, meta);
  }

  @Delete('me')
  @Authenticated()
  @PasswordRateLimit('confirm')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Erase my account',
    description:
      'No X-Organization-Id header. Confirmed with the password (else 401 INVALID_CREDENTIALS; ' +
      'an account without a password, created by single sign-on, first sets one through POST ' +
      '/auth/password/forgot). 409 LAST_OWNER while the user is the last owner of an ' +
      'organization that has other members (nothing is changed). Otherwise, in one transaction: ' +
      'in each organization of the user, the contacts, companies, leads and deals they own move ' +
      "to the organization's first owner (the oldest owner membership; tasks follow their deal), " +
      'each with its `*.updated` event, and the membership is removed (`member.removed` event); ' +
      'an organization whose only member the user is is deleted with everything in it; ' +
      'activities they wrote stay without an author; the account, its sessions and its tokens ' +
      'are deleted. The erasure is audited (`user_deleted`) in each organization it touched.',
  })
  @ApiBody({ type: DeleteAccountDto })
  @ApiNoContentResponse({ description: 'Account erased' })
  @ApiValidationError()
  @ApiError(401, [ErrorCode.UNAUTHENTICATED, ErrorCode.INVALID_CREDENTIALS])
  @ApiError(403, [ErrorCode.FORBIDDEN], 'FORBIDDEN: an API key may not erase the account')
  @ApiError(409, [ErrorCode.LAST_OWNER])
  @ApiError(429, [ErrorCode.RATE_LIMITED])
  deleteMe(
    @CurrentUser() user: AuthUser,
    @Body() body: DeleteAccountDto,
    @ClientMeta() meta: RequestMeta,
  ): Promise<void> {
    return this.resets.deleteAccount(user, body, meta);
  }
}
