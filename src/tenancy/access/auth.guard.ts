import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard as PassportAuthGuard } from '@nestjs/passport';
import type { AuthUser } from '../../common/http/request-context';
import { accessRuleOf } from './access.decorator';
import { AppException } from '../../common/errors/app.exception';

const BEARER = /^bearer\s+(\S+)$/i;

/**
 * Access tokens this copy verified, until they expire (at most `max`, the oldest dropped first):
 * a client sends the same token with every request for 15 minutes, and checking its signature
 * and claims again each time was a tenth of the CPU of a read (docs/decisions/0034). Only tokens
 * that passed the whole check are kept, with what the check established (the user), and a hit
 * still honours the token's `exp`. The same idea as fast-jwt's verifier cache, in front of the
 * passport strategy the app already uses.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, { user: AuthUser; expiresAt: number }>();

  constructor(private readonly max = 10_000) {}

  get(token: string, now = Date.now()): AuthUser | undefined {
    const entry = this.entries.get(token);
    if (entry && entry.expiresAt > now) return entry.user;
    if (entry) this.entries.delete(token);
    return undefined;
  }

  /** Keeps a token that was just verified, until the `exp` of its (verified) payload. */
  add(token: string, user: AuthUser): void {
    let exp: unknown;
    try {
      exp = (
        JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp?: unknown }
      ).exp;
    } catch {
      return;
    }
    if (typeof exp !== 'number') return;
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { user, expiresAt: exp * 1000 });
  }
}

interface GuardedRequest {
  headers: Record<string, string | string[] | undefined>;
  user?: AuthUser;
}

/** Guard 1: a verified access token on every route but those marked @Public(). */
@Injectable()
export class AuthGuard extends PassportAuthGuard('jwt') {
  private readonly verified = new VerifiedTokens();

  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const rule = accessRuleOf(this.reflector, context);
    if (rule?.kind === 'public') return true;
    const request = context.switchToHttp().getRequest<GuardedRequest>();
    const header = request.headers.authorization;
    const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    const known = token && this.verified.get(token);
    if (known) {
      request.user = known;
      return true;
    }
    return (super.canActivate(context) as Promise<boolean>).then((ok) => {
      if (ok && token && request.user) this.verified.add(token, request.user);
      return ok;
    });
  }

  override handleRequest<T = AuthUser>(err: unknown, user: T | false): T {
    if (err || !user)
      throw AppException.unauthenticated('Missing, malformed, expired or invalid access token');
    return user;
  }
}
