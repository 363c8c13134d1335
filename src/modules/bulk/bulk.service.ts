import { Injectable, Logger, type Type } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import { toErrorBody } from '../../common/errors/error-body';
import { createValidationPipe } from '../../common/pipes/validation';
import type { Actor } from '../../tenancy/actor';
import type { Action, Resource } from '../../tenancy/permissions';
import { UnitOfWork } from '../../tenancy/unit-of-work';
import { BulkFailedException } from './bulk-failed';
import type { BulkOp, BulkResult } from './dto/bulk.dto';

/** One operation of a bulk request, as the envelope's validation let it through. */
export interface BulkOperation {
  op: BulkOp;
  id?: string;
  data?: Record<string, unknown>;
}

/**
 * What a bulk endpoint applies its operations with: the DTO classes of the single-record
 * endpoints (POST and PATCH) and their service calls, which carry every rule (visibility,
 * ownership, uniqueness, state machines) and record the events.
 */
export interface BulkTarget<C extends object, U extends object> {
  /** The resource of the permissions `<resource>:create|update|delete` of the operations. */
  resource: Resource;
  create: { dto: Type<C>; apply: (actor: Actor, input: C) => Promise<{ id: string }> };
  update: { dto: Type<U>; apply: (actor: Actor, id: string, input: U) => Promise<unknown> };
  remove: (actor: Actor, id: string) => Promise<unknown>;
}

/** The success status of each operation: that of POST, PATCH and DELETE. */
const SUCCESS_STATUS: Record<BulkOp, number> = { create: 201, update: 200, delete: 204 };

/** The permission action of each operation: that of its single-record route. */
const ACTION: Record<BulkOp, Action> = { create: 'create', update: 'update', delete: 'delete' };

/** Rolls back an atomic bulk request at its first failed operation. */
class FirstFailure extends Error {
  constructor(readonly index: number) {
    super(`bulk operation ${index} failed`);
  }
}

/**
 * Bulk writes (API.md section 17): each operation as its single-record endpoint would apply it,
 * in order. Not atomic: each one is its own transaction (the service's), and the answer reports
 * every outcome. Atomic: all of them in one transaction (UnitOfWork.atomic, which the services'
 * transactions join); the first failure rolls everything back (no row, no event).
 */
@Injectable()
export class BulkService {
  private readonly logger = new Logger('Bulk');
  /** The app's validation pipe (ValidationPipe options, VALIDATION_FAILED details) for `data`. */
  private readonly pipe = createValidationPipe();

  constructor(private readonly uow: UnitOfWork) {}

  async apply<C extends object, U extends object>(
    actor: Actor,
    target: BulkTarget<C, U>,
    operations: BulkOperation[],
    atomic: boolean,
  ): Promise<BulkResult[]> {
    const results: BulkResult[] = [];
    const requirement = actor.requirement;
    try {
      return await this.applyAll(actor, target, operations, atomic, results);
    } finally {
      actor.requirement = requirement;
    }
  }

  private async applyAll<C extends object, U extends object>(
    actor: Actor,
    target: BulkTarget<C, U>,
    operations: BulkOperation[],
    atomic: boolean,
    results: BulkResult[],
  ): Promise<BulkResult[]> {
    if (!atomic) {
      for (const [index, operation] of operations.entries()) {
        const { result } = await this.one(actor, target, operation, index, false);
        results.push(result);
      }
      return results;
    }
    try {
      await this.uow.atomic(async () => {
        for (const [index, operation] of operations.entries()) {
          const { result, failed } = await this.one(actor, target, operation, index, true);
          results.push(result);
          if (failed) throw new FirstFailure(index);
        }
      });
    } catch (e) {
      if (e instanceof FirstFailure) throw new BulkFailedException(results, e.index);
      throw e;
    }
    return results;
  }

  /**
   * Validates and applies one operation; a failure becomes its result. In an atomic request, a
   * server-side failure (5xx: the database unavailable, a bug) is thrown instead: it is the
   * request's own answer, as it would be the single endpoint's (everything rolls back).
   */
  private async one<C extends object, U extends object>(
    actor: Actor,
    target: BulkTarget<C, U>,
    { op, id, data }: BulkOperation,
    index: number,
    atomic: boolean,
  ): Promise<{ result: BulkResult; failed?: true }> {
    try {
      // What the single route's guard checks (its permission, 403), then what its scope limits
      // (the unit of work reads the actor's requirement), then its body (400).
      const { resource } = target;
      const action = ACTION[op];
      if (!actor.grants.allows(resource, action)) {
        throw AppException.forbidden(`Your role lacks the permission ${resource}:${action}`);
      }
      actor.requirement = { resource, action };
      let recordId: string;
      if (op === 'create') {
        const input = await this.validate(target.create.dto, data);
        recordId = (await target.create.apply(actor, input)).id;
      } else if (op === 'update') {
        const input = await this.validate(target.update.dto, data);
        await target.update.apply(actor, id!, input);
        recordId = id!;
      } else {
        await target.remove(actor, id!);
        recordId = id!;
      }
      return { result: { index, status: SUCCESS_STATUS[op], id: recordId } };
    } catch (error) {
      const { body, internal } = toErrorBody(error, actor.requestId);
      if (atomic && body.statusCode >= 500) throw error;
      if (internal) {
        this.logger.error(
          `bulk operation ${index} (${op}) failed, request ${actor.requestId}`,
          error instanceof Error ? error.stack : String(error),
        );
      }
      return { result: { index, status: body.statusCode, error: body }, failed: true };
    }
  }

  /** `data` validated and transformed as the single endpoint's body would be (400 otherwise). */
  private async validate<T extends object>(dto: Type<T>, data: unknown): Promise<T> {
    return (await this.pipe.transform(data, { type: 'body', metatype: dto })) as T;
  }
}
