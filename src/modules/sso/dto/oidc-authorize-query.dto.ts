import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

/** GET /auth/oidc/authorize (API.md section 16). */
export class OidcAuthorizeQueryDto {
  @ApiPropertyOptional({
    maxLength: 2048,
    format: 'uri',
    example: 'https://app.example.com/sso/done',
    description:
      "Where the callback sends the browser, with the tokens in the URL fragment (#accessToken=...&refreshToken=...&tokenType=Bearer&expiresIn=900), instead of answering the login body. Must be an absolute http(s) URL without fragment, on OIDC_ALLOWED_REDIRECTS (same origin, path at or below an entry's path); otherwise 400 VALIDATION_FAILED",
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  redirectTo?: string;
}
