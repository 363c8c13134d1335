import { createHash } from 'node:crypto';

/** 1..255 printable ASCII characters (API.md section 17). */
const VALID_KEY = /^[\x20-\x7e]{1,255}$/;

/** Why an Idempotency-Key header value is refused, or undefined when it is valid. */
export function invalidKeyReason(value: string | string[]): string | undefined {
  if (Array.isArray(value)) return 'must be sent once';
  if (value.length === 0) return 'must not be empty';
  if (value.length > 255) return 'must be at most 255 characters';
  if (!VALID_KEY.test(value)) return 'must contain only printable ASCII characters';
  return undefined;
}

/**
 * JSON with the keys of every object sorted, so that two bodies that differ only in the order
 * of their properties (or in whitespace) have one fingerprint. Values JSON drops (undefined,
 * functions) are dropped here too; a non-plain object (a marker of a body that did not parse)
 * is named by its class.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && typeof v !== 'function')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`);
  const prototype = Object.getPrototypeOf(value) as object | null;
  const name =
    prototype === Object.prototype || prototype === null
      ? ''
      : (prototype.constructor as { name?: string } | undefined)?.name;
  return `${name ?? ''}{${entries.join(',')}}`;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The request's fingerprint: SHA-256 of method, URL (path and query) and canonical body. */
export function requestFingerprint(method: string, url: string, body: unknown): string {
  return sha256(`${method}\n${url}\n${canonicalJson(body)}`);
}

/** The scope of a key: the caller (API key id when present, else user id) and the organization. */
export function keyScope(
  user: { id: string; apiKey?: { id: string } },
  organization: string | undefined,
): string {
  const principal = user.apiKey ? `api-key:${user.apiKey.id}` : `user:${user.id}`;
  return sha256(`${principal}\n${organization ?? ''}`);
}
