import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import type { RequestMeta } from '../../common/http/request-context';
import type { SystemTx } from '../../tenancy/unit-of-work';
import { TokenPairDto } from './dto/auth-response.dto';
import { RefreshToken } from './refresh-token.entity';
import {
  AccessClaims,
  isAccessClaims,
  isRefreshClaims,
  JWT_ALGORITHM,
  JWT_ISSUER,
  RefreshClaims,
} from './token-claims';

export const hashToken = (token: string): string =>
  createHash('sha256').update(token).digest('hex');

/**
 * Issues and reads tokens. Access and refresh tokens use distinct secrets and carry an explicit
 * `typ`, so neither can stand in for the other; the algorithm is pinned on both sides.
 */
@Injectable()
export class TokenService {
  constructor(
    private readonly jwt: JwtService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Signs a new pair and stores the refresh token's hash in `tx`. `familyId` continues a chain
   * (refresh); omitted, a new chain starts (register, login).
   */
  async issue(
    tx: SystemTx,
    userId: string,
    meta: RequestMeta,
    familyId: string = randomUUID(),
  ): Promise<{ pair: TokenPairDto; refreshTokenId: string }> {
    const { accessSecret, refreshSecret, accessTtlSeconds, refreshTtlSeconds } = this.config.jwt;
    const id = randomUUID();
    const accessClaims: AccessClaims = { sub: userId, typ: 'access', sid: familyId };
    const refreshClaims: RefreshClaims = { sub: userId, typ: 'refresh', jti: id, fam: familyId };
    const [accessToken, refreshToken] = await Promise.all([
      this.jwt.signAsync(accessClaims, {
        secret: accessSecret,
        algorithm: JWT_ALGORITHM,
        issuer: JWT_ISSUER,
        expiresIn: accessTtlSeconds,
        // A unique id, so that two access tokens issued in the same second differ (a refresh
        // always returns a new pair).
        jwtid: randomUUID(),
      }),
      this.jwt.signAsync(refreshClaims, {
        secret: refreshSecret,
        algorithm: JWT_ALGORITHM,
        issuer: JWT_ISSUER,
        expiresIn: refreshTtlSeconds,
      }),
    ]);
    await tx.repo(RefreshToken).insert({
      id,
      userId,
      familyId,
      tokenHash: hashToken(refreshToken),
      expiresAt: new Date(Date.now() + refreshTtlSeconds * 1000),
      createdByIp: meta.ip,
      userAgent: meta.userAgent,
    });
    return {
      pair: { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: accessTtlSeconds },
      refreshTokenId: id,
    };
  }

  /**
   * The session (`sid`: refresh token family) of a well-signed, unexpired access token; null for
   * anything else, and for tokens issued without one.
   */
  async sessionOf(accessToken: string): Promise<string | null> {
    try {
      const claims = await this.jwt.verifyAsync<object>(accessToken, {
        secret: this.config.jwt.accessSecret,
        algorithms: [JWT_ALGORITHM],
        issuer: JWT_ISSUER,
      });
      return isAccessClaims(claims) ? (claims.sid ?? null) : null;
    } catch {
      return null;
    }
  }

  /** The claims of a well-signed, unexpired refresh token; null for anything else. */
  async readRefreshToken(token: string): Promise<RefreshClaims | null> {
    try {
      const claims = await this.jwt.verifyAsync<object>(token, {
        secret: this.config.jwt.refreshSecret,
        algorithms: [JWT_ALGORITHM],
        issuer: JWT_ISSUER,
      });
      return isRefreshClaims(claims) ? claims : null;
    } catch {
      return null;
    }
  }
}
