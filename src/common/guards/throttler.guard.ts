import { ExecutionContext, HttpStatus, Injectable, SetMetadata } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerOptions } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';

const LOGIN_THROTTLE_KEY = 'crm:login-throttle';

/** Marks the login route: it gets the per-(email, client address) limit on top of the default one. */
export const LoginThrottle = (): MethodDecorator => SetMetadata(LOGIN_THROTTLE_KEY, true);

function isLoginRoute(context: ExecutionContext): boolean {
  return Reflect.getMetadata(LOGIN_THROTTLE_KEY, context.getHandler()) === true;
}

/**
 * The two limits of API.md section 2: every caller (user id when signed in, else client
 * address) gets `perMinute`; login attempts per email and client address get `loginPerMinute`.
 */
export function throttlers(perMinute: number, loginPerMinute: number): ThrottlerOptions[] {
  return [
    {
      name: 'default',
      ttl: 60_000,
      limit: perMinute,
      getTracker: (req) => {
        const { user, ip } = req as FastifyRequest;
        return user ? `user:${user.id}` : `ip:${ip}`;
      },
    },
    {
      name: 'login',
      ttl: 60_000,
      limit: loginPerMinute,
      skipIf: (context) => !isLoginRoute(context),
      getTracker: (req) => {
        const { body, ip } = req as FastifyRequest<{ Body: { email?: unknown } | undefined }>;
        const email = typeof body?.email === 'string' ? body.email.trim().toLowerCase() : '';
        return `login:${email}|${ip}`;
      },
    },
  ];
}

/** Answers 429 RATE_LIMITED with Retry-After (seconds), whichever limit was hit. */
@Injectable()
export class AppThrottlerGuard extends ThrottlerGuard {
  protected override throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    void reply.header('Retry-After', String(Math.max(1, detail.timeToBlockExpire)));
    throw new AppException(
      HttpStatus.TOO_MANY_REQUESTS,
      ErrorCode.RATE_LIMITED,
      'Too many requests; retry later',
    );
  }
}
