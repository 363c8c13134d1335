import { loginAttempts } from '../metrics/metrics';
import {
  CanActivate,
  ExecutionContext,
  HttpStatus,
  Inject,
  Injectable,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '../../config/app-config';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';
import { RATE_LIMIT_STORE, type RateLimitStore } from './rate-limit.store';

const ATTEMPT_LIMIT_KEY = 'crm:attempt-rate-limit';
const WINDOW_MS = 60_000;

/** What an attempt limit counts by: the body's email with the client address, or the user. */
interface AttemptLimitRule {
  bucket: string;
  by: 'email' | 'user';
}

/**
 * Marks a route whose attempts get their own, low limit (RATE_LIMIT_LOGIN_PER_MINUTE), counted
 * in `bucket` per (email of the body, client address) or per signed-in user: login, the password
 * reset request, and the routes that check the current password.
 */
export const AttemptLimit = (bucket: string, by: AttemptLimitRule['by']): MethodDecorator =>
  SetMetadata(ATTEMPT_LIMIT_KEY, { bucket, by } satisfies AttemptLimitRule);

/** The login route: attempts per (email, client address). */
export const LoginRateLimit = (): MethodDecorator => AttemptLimit('login', 'email');

/**
 * The rate limits of API.md section 2, after authentication so that signed-in callers are
 * counted per user (not per shared office address):
 * - every request: RATE_LIMIT_USER_PER_MINUTE per user, or per client address when anonymous;
 * - login (and the other @AttemptLimit routes): RATE_LIMIT_LOGIN_PER_MINUTE attempts per
 *   (email, client address), successful or not, or per user.
 * Every answer of a limited route carries RateLimit-Limit, RateLimit-Remaining and
 * RateLimit-Reset (seconds) of the limit closest to being reached; over a limit: 429
 * RATE_LIMITED with Retry-After in seconds. The counters are the RATE_LIMIT_STORE's: Redis,
 * shared by the copies, when REDIS_URL is set.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(RATE_LIMIT_STORE) private readonly store: RateLimitStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const req = http.getRequest<FastifyRequest<{ Body: { email?: unknown } | undefined }>>();
    const { userPerMinute, loginPerMinute } = this.config.rateLimit;
    const reply = http.getResponse<FastifyReply>();
    const caller = req.user ? `user:${req.user.id}` : `ip:${req.ip}`;
    const windows = [await this.count(`all:${caller}`, userPerMinute)];
    const attempts = this.reflector.get<AttemptLimitRule | undefined>(
      ATTEMPT_LIMIT_KEY,
      context.getHandler(),
    );
    if (attempts) {
      const email = typeof req.body?.email === 'string' ? req.body.email.trim().toLowerCase() : '';
      const who = attempts.by === 'email' ? `${email}|${req.ip}` : caller;
      windows.push(await this.count(`${attempts.bucket}:${who}`, loginPerMinute));
    }
    // The headers of API.md section 15 describe the limit closest to being reached.
    const tightest = windows.reduce((a, b) => (b.remaining < a.remaining ? b : a));
    void reply.header('RateLimit-Limit', String(tightest.limit));
    void reply.header('RateLimit-Remaining', String(Math.max(0, tightest.remaining)));
    void reply.header('RateLimit-Reset', String(tightest.resetS));
    const exceeded = windows.find((w) => w.remaining < 0);
    if (exceeded) {
      if (exceeded === windows[1] && attempts?.bucket === 'login') {
        loginAttempts.inc({ result: 'rate_limited' });
      }
      void reply.header('Retry-After', String(exceeded.resetS));
      throw new AppException(
        HttpStatus.TOO_MANY_REQUESTS,
        ErrorCode.RATE_LIMITED,
        'Too many requests; retry later',
      );
    }
    return true;
  }

  /** One hit of a window: its limit, what remains (negative: over it), seconds to its reset. */
  private async count(
    key: string,
    limit: number,
  ): Promise<{ limit: number; remaining: number; resetS: number }> {
    const { count, resetInMs } = await this.store.hit(key, WINDOW_MS);
    return { limit, remaining: limit - count, resetS: Math.max(1, Math.ceil(resetInMs / 1000)) };
  }
}
