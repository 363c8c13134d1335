import { HttpStatus } from '@nestjs/common';
import { AppException } from '../common/errors/app.exception';
import { ErrorCode } from '../common/errors/error-code.enum';
import { etagOf, matchesStrongly } from '../common/http/etag';
import type { Actor } from './actor';

/**
 * `If-Match` (API.md section 17): 412 PRECONDITION_FAILED unless the request's If-Match names
 * the current ETag of `record` (or is `*`). Called by a service inside its transaction, once
 * it holds the row lock of the record the route names (FOR UPDATE, or FOR NO KEY UPDATE), so
 * the check and the write see the same version: of two writers sending the same ETag, the
 * second waits for the lock, then finds the version moved on.
 *
 * Precedence (API.md section 1): after the record's visibility (404: a record the caller may not
 * see, or that does not exist, is never 412) and the other records the request names; before
 * the record's own rules (403, 409, 422). Nothing without If-Match, and nothing for another
 * record than the route's `:id` (the contact or deal a request also locks).
 */
export function assertPrecondition(
  actor: Pick<Actor, 'ifMatch'>,
  entityName: string,
  record: { id: string; version: number },
): void {
  const ifMatch = actor.ifMatch;
  if (!ifMatch || ifMatch.id !== record.id) return;
  if (matchesStrongly(ifMatch.etags, etagOf(entityName, record))) return;
  throw new AppException(
    HttpStatus.PRECONDITION_FAILED,
    ErrorCode.PRECONDITION_FAILED,
    `${entityName} has changed since the ETag of If-Match was read; read it again`,
  );
}
