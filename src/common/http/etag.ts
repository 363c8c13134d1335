import { hash } from 'node:crypto';

/**
 * Entity tags of single records (API.md section 17). A record's ETag is a strong validator
 * derived from what identifies one state of it: its kind, its id and its version (a counter the
 * database increments on every change of the row). Opaque to clients: the version is not
 * readable from it, and two records never share one.
 */
export function etagOf(entityName: string, record: { id: string; version: number }): string {
  const digest = hash('sha256', `${entityName}:${record.id}:${record.version}`, 'base64url');
  return `"${digest.slice(0, 22)}"`;
}

/** Where a response body carries its ETag: a symbol, never serialized. */
const ETAG = Symbol('etag');

/**
 * Attaches `etag` to `body` as a non-enumerable symbol property: the JSON body stays exactly as
 * it is, and the ETag hook (etag-headers.ts) sets the `ETag` header from it. Spreading or serializing the
 * body drops it, so only the object a handler returns as a whole carries it.
 */
export function withETag<T extends object>(body: T, etag: string): T {
  Object.defineProperty(body, ETAG, { value: etag, enumerable: false, configurable: true });
  return body;
}

/**
 * `body` with the ETag of the record `entity` when it was read with its version (a whole row),
 * else `body` as it is (list rows select only the representation's columns).
 */
export function withETagOf<T extends object>(
  body: T,
  entityName: string,
  entity: { id: string; version?: number | null },
): T {
  return typeof entity.version === 'number'
    ? withETag(body, etagOf(entityName, { id: entity.id, version: entity.version }))
    : body;
}

/** The ETag a response body carries (withETag), if any. */
export function etagOfBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const etag = (body as { [ETAG]?: unknown })[ETAG];
  return typeof etag === 'string' ? etag : undefined;
}

/**
 * The entity tags of an `If-Match` / `If-None-Match` header (RFC 9110 section 13.1): `'*'`, or
 * the list of tags as written (`"abc"`, `W/"abc"`). Malformed members are dropped: a header
 * with none left matches nothing. A repeated header counts as one list.
 */
export function parseETagList(header: string | string[] | undefined): string[] | '*' | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header.join(',') : header).trim();
  if (value === '*') return '*';
  return value.match(/(?:W\/)?"[\x21\x23-\x7e\x80-\xff]*"/g) ?? [];
}

const opaque = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);

/** If-None-Match: weak comparison (a `W/` prefix on either side is ignored). */
export function matchesWeakly(tags: string[] | '*', etag: string): boolean {
  return tags === '*' || tags.some((tag) => opaque(tag) === opaque(etag));
}

/** If-Match: strong comparison (weak tags never match). */
export function matchesStrongly(tags: string[] | '*', etag: string): boolean {
  return tags === '*' || (!etag.startsWith('W/') && tags.includes(etag));
}
