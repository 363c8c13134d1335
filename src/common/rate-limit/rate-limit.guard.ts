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

const LOGIN_LIMIT_KEY = 'crm:login-rate-limit';
const WINDOW_MS = 60_000;

/** Marks the login route: attempts per (email, client address) get their own, low limit. */
export const LoginRateLimit = (): MethodDecorator => SetMetadata(LOGIN_LIMIT_KEY, true);

/**
 * The rate limits of API.md section 2, after authentication so that signed-in callers are
 * counted per user (not per shared office address):
 * - every request: RATE_LIMIT_USER_PER_MINUTE per user, or per client address when anonymous;
 * - login: RATE_LIMIT_LOGIN_PER_MINUTE attempts per (email, client address), successful or not.
 * Over a limit: 429 RATE_LIMITED with Retry-After in seconds.
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
    const caller = req.user ? `user:${req.user.id}` : `ip:${req.ip}`;
    await this.count(http.getResponse<FastifyReply>(), `all:${caller}`, userPerMinute);
    if (this.reflector.get<boolean>(LOGIN_LIMIT_KEY, context.getHandler())) {
      const email = typeof req.body?.email === 'string' ? req.body.email.trim().toLowerCase() : '';
      await this.count(
        http.getResponse<FastifyReply>(),
        `login:${email}|${req.ip}`,
        loginPerMinute,
      ).catch((error: unknown) => {
        loginAttempts.inc({ result: 'rate_limited' });
        throw error;
      });
    }
    return true;
  }

  private async count(reply: FastifyReply, key: string, limit: number): Promise<void> {
    const { count, resetInMs } = await this.store.hit(key, WINDOW_MS);
    if (count <= limit) return;
    void reply.header('Retry-After', String(Math.max(1, Math.ceil(resetInMs / 1000))));
    throw new AppException(
      HttpStatus.TOO_MANY_REQUESTS,
      ErrorCode.RATE_LIMITED,
      'Too many requests; retry later',
    );
  }
}
