import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard as PassportAuthGuard } from '@nestjs/passport';
import type { AuthUser } from '../../common/http/request-context';
import { accessRuleOf } from './access.decorator';
import { AppException } from '../../common/errors/app.exception';

/** Guard 1: a verified access token on every route but those marked @Public(). */
@Injectable()
export class AuthGuard extends PassportAuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const rule = accessRuleOf(this.reflector, context);
    if (rule?.kind === 'public') return true;
    return super.canActivate(context) as Promise<boolean>;
  }

  override handleRequest<T = AuthUser>(err: unknown, user: T | false): T {
    if (err || !user)
      throw AppException.unauthenticated('Missing, malformed, expired or invalid access token');
    return user;
  }
}
