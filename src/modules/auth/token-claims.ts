export const JWT_ALGORITHM = 'HS256' as const;
export const JWT_ISSUER = 'crm-api';

/** Registered claims every token we issue carries (jsonwebtoken verifies `exp` only when present). */
interface IssuedClaims {
  iss: typeof JWT_ISSUER;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expiry, seconds since the epoch; always later than `iat`. */
  exp: number;
}

export interface AccessClaims {
  sub: string;
  typ: 'access';
  /**
   * Session: the refresh token family (login) the token was issued with, so a request knows
   * which of the user's sessions it comes from (a password change keeps this one). Tokens issued
   * before it existed have none.
   */
  sid?: string;
}

export interface RefreshClaims {
  sub: string;
  typ: 'refresh';
  /** Refresh token row id. */
  jti: string;
  /** Family: every token descended from one login. */
  fam: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);
const isSeconds = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0;

/**
 * The shape of a verified token's claims as we issue them: a signature proves who signed a token,
 * not that its claims are well formed (a token signed without `exp` would never expire; a `sub`
 * that is not a UUID would reach the database). Anything else is refused as unauthenticated.
 */
function hasIssuedShape(claims: Record<string, unknown>, typ: 'access' | 'refresh'): boolean {
  return (
    claims.typ === typ &&
    claims.iss === JWT_ISSUER &&
    isUuid(claims.sub) &&
    isSeconds(claims.iat) &&
    isSeconds(claims.exp) &&
    claims.exp > claims.iat
  );
}

export function isAccessClaims(claims: unknown): claims is AccessClaims & IssuedClaims {
  if (typeof claims !== 'object' || claims === null) return false;
  const c: Record<string, unknown> = { ...claims };
  return hasIssuedShape(c, 'access') && (c.sid === undefined || isUuid(c.sid));
}

export function isRefreshClaims(claims: unknown): claims is RefreshClaims & IssuedClaims {
  if (typeof claims !== 'object' || claims === null) return false;
  const c: Record<string, unknown> = { ...claims };
  return hasIssuedShape(c, 'refresh') && isUuid(c.jti) && isUuid(c.fam);
}
