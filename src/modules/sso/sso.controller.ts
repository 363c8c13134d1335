import { Controller, Get, Header, HttpStatus, Query, Redirect, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, ApiValidationError } from '../../common/decorators/api-error.decorator';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { requestMeta } from '../../common/http/request-context';
import { Public } from '../../tenancy/access/access.decorator';
import { LoginResponseDto } from '../auth/dto/auth-response.dto';
import { OidcAuthorizeQueryDto } from './dto/oidc-authorize-query.dto';
import { SsoService } from './sso.service';

const NOT_CONFIGURED = 'NOT_FOUND: single sign-on is not configured (no OIDC_ISSUER)';
const PROVIDER_DOWN = 'NOT_READY: the identity provider cannot be reached (discovery failed)';

/** Single sign-on with OpenID Connect (API.md section 16). */
@ApiTags('auth')
@Controller('auth/oidc')
export class SsoController {
  constructor(private readonly sso: SsoService) {}

  @Get('authorize')
  @Public()
  @Redirect()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Start single sign-on: redirect to the identity provider',
    description:
      'Redirects (302) to the OpenID Connect provider\'s authorization endpoint: authorization code flow with PKCE (S256), state and nonce, scope "openid email profile". The sign-in must be finished at /auth/oidc/callback within 10 minutes, once. Open it in a browser (not with fetch/XHR).',
  })
  @ApiResponse({
    status: 302,
    description: "Redirect to the identity provider's authorization endpoint",
    headers: { Location: { description: 'The authorization URL', schema: { type: 'string' } } },
  })
  @ApiValidationError()
  @ApiError(404, [ErrorCode.NOT_FOUND], NOT_CONFIGURED)
  @ApiError(503, [ErrorCode.NOT_READY], PROVIDER_DOWN)
  async authorize(
    @Query() query: OidcAuthorizeQueryDto,
  ): Promise<{ url: string; statusCode: number }> {
    const url = await this.sso.authorizationUrl(query.redirectTo);
    return { url, statusCode: HttpStatus.FOUND };
  }

  @Get('callback')
  @Public()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: "Finish single sign-on: the identity provider's redirect",
    description:
      "Checks state (single use, 10 minutes), the PKCE verifier and the ID token (signature, issuer, audience, nonce), then signs in the user with the provider's verified email (email_verified must be true): the user linked to this provider account, else the user with that email, else a new user without a password (created on first sign-in). Answers the login body of POST /auth/login, or, when the sign-in was started with redirectTo, redirects (302) there with the tokens in the URL fragment. A bad, unknown, expired or reused state, an error from the provider, a failed code exchange or an unverified email: 401 UNAUTHENTICATED.",
  })
  @ApiQuery({ name: 'code', type: String, required: false, description: 'The authorization code' })
  @ApiQuery({
    name: 'state',
    type: String,
    required: false,
    description: 'The state of /authorize',
  })
  @ApiQuery({ name: 'error', type: String, required: false, description: "The provider's error" })
  @ApiQuery({
    name: 'error_description',
    type: String,
    required: false,
    description:
      "The provider's error description (other parameters of the provider, such as iss, are accepted)",
  })
  @ApiOkResponse({ type: LoginResponseDto, description: 'Signed in (flow without redirectTo)' })
  @ApiResponse({
    status: 302,
    description: 'Signed in; redirect to redirectTo with the tokens in the fragment',
    headers: {
      Location: {
        description: 'redirectTo#accessToken=...&refreshToken=...&tokenType=Bearer&expiresIn=900',
        schema: { type: 'string' },
      },
    },
  })
  @ApiError(401, [ErrorCode.UNAUTHENTICATED])
  @ApiError(404, [ErrorCode.NOT_FOUND], NOT_CONFIGURED)
  @ApiError(503, [ErrorCode.NOT_READY], PROVIDER_DOWN)
  async callback(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    // The provider's parameters are read from the raw query: providers add their own (iss,
    // session_state, ...), which a strict query DTO would refuse.
    const query = new URL(req.url, 'http://localhost').searchParams;
    const result = await this.sso.callback(query, requestMeta(req));
    // Two answers with two statuses: the reply is written here (@Res), not by Nest.
    if (result.redirectUrl) {
      void reply.header('referrer-policy', 'no-referrer').redirect(result.redirectUrl, 302);
    } else {
      void reply.status(200).send(result.login);
    }
  }
}
