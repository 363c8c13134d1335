import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  UseInterceptors,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { type Observable, of } from 'rxjs';
import { IdempotencyService } from './idempotency.service';

/**
 * Idempotency-Key on one route (IdempotencyService does the work). Per route, not global: a
 * global interceptor puts Nest's rxjs pipeline on every request, GETs included (decision 0050).
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(private readonly idempotency: IdempotencyService) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // A replay: the handler does not run; the onSend hook swaps in the kept answer.
    return (await this.idempotency.begin(request)) === 'replay' ? of(undefined) : next.handle();
  }
}

/**
 * Idempotency-Key on a POST route (API.md section 17). Every authenticated POST outside /auth
 * has it: the tenant route decorators for POST (TenantCreate, TenantAction) and the bulk routes
 * add it; a route declared with a bare @Post adds it itself. An e2e test sends an invalid key to
 * every POST the OpenAPI document lists with the header and expects its 400.
 */
export const Idempotent = (): MethodDecorator => UseInterceptors(IdempotencyInterceptor);
