export const JWT_ALGORITHM = 'HS256' as const;
export const JWT_ISSUER = 'crm-api';

export interface AccessClaims {
  sub: string;
  typ: 'access';
}

export interface RefreshClaims {
  sub: string;
  typ: 'refresh';
  /** Refresh token row id. */
  jti: string;
  /** Family: every token descended from one login. */
  fam: string;
}
