import { QueryFailedError } from 'typeorm';

interface PgError {
  code?: string;
  constraint?: string;
}

/** True for a unique-constraint violation (optionally of one named constraint or index). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const pg = error.driverError as PgError;
  return pg.code === '23505' && (constraint === undefined || pg.constraint === constraint);
}
