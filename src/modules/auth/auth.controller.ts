import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, Public } from '../../tenancy/access/access.decorator';
import { ApiError, ApiValidationError } from '../../common/decorators/api-error.decorator';
import { ClientMeta, CurrentUser } from '../../tenancy/access/context.decorators';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { LoginRateLimit } from '../../common/rate-limit/rate-limit.guard';
import type { AuthUser, RequestMeta } from '../../common/http/request-context';
import { AuthService } from './auth.service';
import { LoginDto, RefreshTokenDto, RegisterDto } from './dto/auth-input.dto';
import { LoginResponseDto, RegisterResponseDto, TokenPairDto } from './dto/auth-response.dto';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @Public()
  @ApiOperation({
    summary: 'Create an account, its first organization (as owner) and a token pair',
    description:
      'Public. User, organization and owner membership are created in one transaction. The email ' +
      'is trimmed and lower-cased (409 EMAIL_TAKEN when registered); the password has 8..72 ' +
      'characters with a letter and a digit, and is not the email. The answer signs the user in: ' +
      'send its accessToken as `Authorization: Bearer` and `organization.id` as X-Organization-Id.',
  })
  @ApiCreatedResponse({ type: RegisterResponseDto })
  @ApiValidationError()
  @ApiError(409, [ErrorCode.EMAIL_TAKEN])
  @ApiError(429, [ErrorCode.RATE_LIMITED])
  register(
    @Body() body: RegisterDto,
    @ClientMeta() meta: RequestMeta,
  ): Promise<RegisterResponseDto> {
    return this.auth.register(body, meta);
  }

  @Post('login')
  @Public()
  @LoginRateLimit()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Exchange email and password for a token pair',
    description:
      'More than 5 attempts per minute for one email from one client address answer 429 with Retry-After.',
  })
  @ApiOkResponse({ type: LoginResponseDto })
  @ApiValidationError()
  @ApiError(401, [ErrorCode.INVALID_CREDENTIALS])
  @ApiError(429, [ErrorCode.RATE_LIMITED])
  login(@Body() body: LoginDto, @ClientMeta() meta: RequestMeta): Promise<LoginResponseDto> {
    return this.auth.login(body, meta);
  }

  @Post('refresh')
  @Public()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Exchange a refresh token for a new pair (the old one is spent)',
    description: 'Presenting a spent refresh token again revokes every token of its login.',
  })
  @ApiOkResponse({ type: TokenPairDto })
  @ApiValidationError()
  @ApiError(401, [ErrorCode.INVALID_REFRESH_TOKEN])
  @ApiError(429, [ErrorCode.RATE_LIMITED])
  refresh(@Body() body: RefreshTokenDto, @ClientMeta() meta: RequestMeta): Promise<TokenPairDto> {
    return this.auth.refresh(body.refreshToken, meta);
  }

  @Post('logout')
  @Authenticated()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Revoke the refresh token chain of this login',
    description:
      'Send the access token and, in the body, the refresh token of the login to end: it and every ' +
      'refresh token descended from the same login stop working (401 INVALID_REFRESH_TOKEN on ' +
      'refresh). Access tokens already issued stay valid until they expire (15 minutes by default).',
  })
  @ApiNoContentResponse({ description: 'Logged out' })
  @ApiValidationError()
  @ApiError(401, [ErrorCode.UNAUTHENTICATED, ErrorCode.INVALID_REFRESH_TOKEN])
  logout(
    @CurrentUser() user: AuthUser,
    @Body() body: RefreshTokenDto,
    @ClientMeta() meta: RequestMeta,
  ): Promise<void> {
    return this.auth.logout(user.id, body.refreshToken, meta);
  }
}
