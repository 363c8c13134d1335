import { createSecretKey } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import type { AuthUser } from '../../common/http/request-context';
import { isAccessClaims, JWT_ALGORITHM, JWT_ISSUER } from './token-claims';

/**
 * Verifies access tokens: HS256 only (no `none`, no algorithm confusion), the access secret
 * (refresh tokens are signed with another one), our issuer, not expired, and claims shaped as
 * we issue them (`typ: access`, a UUID `sub`, numeric `iat` and `exp`: a token without `exp`
 * would otherwise never expire).
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // A KeyObject, not the string: jsonwebtoken otherwise tries to parse a string secret as a
      // public key on every verify (measured: ~2,900 vs ~130,000 verifies/s; docs/performance.md).
      // passport-jwt hands it to jsonwebtoken as is, which accepts a KeyObject (its typings
      // only name string | Buffer).
      secretOrKey: createSecretKey(
        Buffer.from(config.jwt.accessSecret, 'utf8'),
      ) as unknown as Buffer,
      algorithms: [JWT_ALGORITHM],
      issuer: JWT_ISSUER,
      ignoreExpiration: false,
    });
  }

  validate(claims: unknown): AuthUser | false {
    return isAccessClaims(claims) ? { id: claims.sub } : false;
  }
}
