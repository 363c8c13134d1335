import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import type { AuthUser } from '../../common/http/request-context';
import { AccessClaims, JWT_ALGORITHM, JWT_ISSUER } from './token-claims';

/**
 * Verifies access tokens: HS256 only (no `none`, no algorithm confusion), the access secret
 * (refresh tokens are signed with another one), our issuer, not expired, and `typ: access`.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: config.jwt.accessSecret,
      algorithms: [JWT_ALGORITHM],
      issuer: JWT_ISSUER,
      ignoreExpiration: false,
    });
  }

  validate(claims: Partial<AccessClaims>): AuthUser | false {
    if (claims.typ !== 'access' || typeof claims.sub !== 'string') return false;
    return { id: claims.sub };
  }
}
