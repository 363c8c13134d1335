/**
 * Pure rules of single sign-on (API.md section 16): where the tokens may be sent, and how.
 */

/** The URL of an http(s) address, or null (relative, another scheme, unparsable). */
function httpUrl(value: string): URL | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
}

/**
 * Whether `target` (a `redirectTo`) is on the allow-list `allowed` (OIDC_ALLOWED_REDIRECTS): an
 * absolute http(s) URL without credentials or fragment whose origin (scheme, host, port, as
 * parsed) equals an entry's and whose path is the entry's path or below it (segment by segment:
 * `/app` admits `/app` and `/app/x`, not `/application`). Both sides are parsed, never compared
 * as strings, so `https://app.example.com.evil.test`, `https://app.example.com@evil.test` or
 * `/app/../admin` (normalized to `/admin`) do not pass. An entry's query and fragment are ignored.
 */
export function isAllowedRedirect(target: string, allowed: readonly string[]): boolean {
  const url = httpUrl(target);
  if (!url || url.username || url.password || url.hash || target.includes('#')) return false;
  return allowed.some((entry) => {
    const base = httpUrl(entry);
    if (!base || base.username || base.password || base.origin !== url.origin) return false;
    const prefix = base.pathname;
    if (prefix === '/' || prefix.endsWith('/')) return url.pathname.startsWith(prefix);
    return url.pathname === prefix || url.pathname.startsWith(`${prefix}/`);
  });
}

/** `redirectTo` with the token pair in its fragment (never sent to a server, nor in Referer). */
export function withTokensInFragment(
  redirectTo: string,
  pair: { accessToken: string; refreshToken: string; tokenType: string; expiresIn: number },
): string {
  const url = new URL(redirectTo);
  url.hash = new URLSearchParams({
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    tokenType: pair.tokenType,
    expiresIn: String(pair.expiresIn),
  }).toString();
  return url.toString();
}

/** Claims of the provider that name the user; what the callback reads from them. */
export interface ProviderClaims {
  sub: string;
  email?: unknown;
  email_verified?: unknown;
  name?: unknown;
}

const EMAIL = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u;

/**
 * The verified email of `claims` (trimmed, lower-cased), or why there is none. Only a boolean
 * `email_verified: true` counts (some providers send the string "true": refused, as the claim's
 * type is boolean in OpenID Connect Core 5.1).
 */
export function verifiedEmailOf(
  claims: ProviderClaims,
): { email: string } | { refused: 'email_missing' | 'email_not_verified' } {
  const email = typeof claims.email === 'string' ? claims.email.trim().toLowerCase() : '';
  if (!email || email.length > 254 || !EMAIL.test(email)) return { refused: 'email_missing' };
  if (claims.email_verified !== true) return { refused: 'email_not_verified' };
  return { email };
}

/** The name of a new user: the `name` claim (1..200 characters), else the email's local part. */
export function nameOf(claims: ProviderClaims, email: string): string {
  // Control characters (NUL among them, which PostgreSQL refuses) are dropped; the length is
  // counted in characters (code points), as the column counts it.
  const clean = (value: string): string =>
    Array.from(value.replace(/\p{Cc}/gu, '').trim())
      .slice(0, 200)
      .join('');
  const name = typeof claims.name === 'string' ? clean(claims.name) : '';
  return name || clean(email.slice(0, email.lastIndexOf('@'))) || clean(email);
}
