import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard as PassportAuthGuard } from '@nestjs/passport';
import type { AuthUser } from '../../common/http/request-context';
import { ApiKeyAuthenticator, isApiKey } from '../api-keys';
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
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  user?: AuthUser;
}

/**
 * Guard 1: a verified access token on every route but those marked @Public(), or an API key
 * (`crm_...`, API.md section 16) on the organization's routes only: a key never reaches
 * `/auth/*`, the signed-in user's own routes or `/api-keys` (403 FORBIDDEN).
 */
@Injectable()
export class AuthGuard extends PassportAuthGuard('jwt') {
  private readonly verified = new VerifiedTokens();

  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeyAuthenticator,
  ) {
    super();
  }

  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const rule = accessRuleOf(this.reflector, context);
    const request = context.switchToHttp().getRequest<GuardedRequest>();
    const header = request.headers.authorization;
    const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    if (rule?.kind === 'public') {
      // Keys never reach /auth/* (API.md section 16), not even its public routes.
      if (token && isApiKey(token) && request.url?.includes('/auth/')) {
        throw AppException.forbidden('API keys cannot call the authentication endpoints');
      }
      return true;
    }
    if (token && isApiKey(token)) return this.byApiKey(request, token, rule?.kind === 'tenant');
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

  private async byApiKey(
    request: GuardedRequest,
    token: string,
    tenant: boolean,
  ): Promise<boolean> {
    const user = await this.apiKeys.authenticate(token);
    if (!user) throw AppException.unauthenticated('Unknown, revoked or expired API key');
    if (!tenant) {
      throw AppException.forbidden("API keys may call only the organization's resources");
    }
    request.user = user;
    return true;
  }

  override handleRequest<T = AuthUser>(err: unknown, user: T | false): T {
    if (err || !user)
      throw AppException.unauthenticated('Missing, malformed, expired or invalid access token');
    return user;
  }
}
