import { createHmac, randomUUID } from 'node:crypto';
import { Agent, ClientRequest, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';

/**
 * Generators, HTTP client and response checks of the property-based fuzz test
 * (test/fuzz.e2e-spec.ts): random malformed bodies, queries, path ids and headers for every
 * operation of the OpenAPI document, each answer checked against API.md section 1.
 */

// ---------------------------------------------------------------------------------------------
// The OpenAPI document
// ---------------------------------------------------------------------------------------------

export interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  nullable?: boolean;
  example?: unknown;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  description?: string;
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  schema?: Schema;
}

interface DocOperation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema?: Schema }> };
  security?: unknown[];
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, DocOperation>>;
  components?: { schemas?: Record<string, Schema> };
}

export interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The OpenAPI path, with `{param}` placeholders. */
  path: string;
  isPublic: boolean;
  pathParams: string[];
  query: Parameter[];
  body?: { kind: 'json'; schema: Schema } | { kind: 'multipart'; csvColumns: string[] };
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** Every operation of the document (public ones have an empty `security`, see src/swagger.ts). */
export function operationsOf(doc: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = op.parameters ?? [];
      const content = op.requestBody?.content ?? {};
      let body: Operation['body'];
      if (content['application/json']?.schema) {
        body = { kind: 'json', schema: resolve(doc, content['application/json'].schema) };
      } else if (content['multipart/form-data']) {
        // "CSV with the header name,email,phone,companyName"
        const file = content['multipart/form-data'].schema?.properties?.file;
        const header = /header ([\w,]+)/.exec(file?.description ?? '')?.[1] ?? 'name';
        body = { kind: 'multipart', csvColumns: header.split(',') };
      }
      operations.push({
        method: method.toUpperCase() as Operation['method'],
        path,
        isPublic: Array.isArray(op.security) && op.security.length === 0,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params
          .filter((p) => p.in === 'query')
          .map((p) => ({ ...p, schema: resolve(doc, p.schema ?? {}) })),
        body,
      });
    }
  }
  return operations;
}

/** Inlines `$ref`s and merges `allOf`, a few levels deep (the DTOs nest at most three). */
function resolve(doc: OpenApiDocument, schema: Schema, depth = 0): Schema {
  if (depth > 6) return {};
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return resolve(doc, doc.components?.schemas?.[name] ?? {}, depth + 1);
  }
  let out: Schema = { ...schema };
  if (schema.allOf) {
    delete out.allOf;
    for (const part of schema.allOf) out = { ...resolve(doc, part, depth + 1), ...out };
  }
  if (out.oneOf) out.oneOf = out.oneOf.map((s) => resolve(doc, s, depth + 1));
  if (out.anyOf) out.anyOf = out.anyOf.map((s) => resolve(doc, s, depth + 1));
  if (out.items) out.items = resolve(doc, out.items, depth + 1);
  if (out.properties) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([k, v]) => [k, resolve(doc, v, depth + 1)]),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Values whose report stays short
// ---------------------------------------------------------------------------------------------

/** A long string, shown in fast-check's reports by its recipe instead of its text. */
export class Repeat {
  constructor(
    readonly unit: string,
    readonly times: number,
  ) {}
  toString(): string {
    return this.unit.repeat(this.times);
  }
  toJSON(): string {
    return this.toString();
  }
  [fc.toStringMethod](): string {
    return `Repeat(${JSON.stringify(this.unit)}, ${this.times})`;
  }
}

/** A value nested `depth` levels deep in arrays or objects (built when serialized). */
export class Nested {
  constructor(
    readonly depth: number,
    readonly kind: 'array' | 'object',
  ) {}
  toJSON(): unknown {
    let value: unknown = 1;
    for (let i = 0; i < this.depth; i++) value = this.kind === 'array' ? [value] : { a: value };
    return value;
  }
  [fc.toStringMethod](): string {
    return `Nested(${this.kind}, ${this.depth})`;
  }
}

/** JSON text nested `depth` levels deep, closed or not (never parsed or built on our side). */
export class DeepText {
  constructor(
    readonly depth: number,
    readonly open: '[' | '{"a":',
    readonly closed: boolean,
  ) {}
  toString(): string {
    const close = this.open === '[' ? ']' : '}';
    return this.open.repeat(this.depth) + '1' + (this.closed ? close.repeat(this.depth) : '');
  }
  [fc.toStringMethod](): string {
    return `DeepText(${JSON.stringify(this.open)} x ${this.depth}${this.closed ? '' : ', unclosed'})`;
  }
}

type Text = string | Repeat | DeepText;

// ---------------------------------------------------------------------------------------------
// The fixture the generators draw real values from
// ---------------------------------------------------------------------------------------------

export type IdKind = 'contact' | 'company' | 'deal' | 'lead' | 'task' | 'pipeline' | 'user';

export interface FuzzFixture {
  userId: string;
  accessToken: string;
  refreshToken: string;
  organizationId: string;
  /** An organization the fuzzing user is not a member of. */
  foreignOrganizationId: string;
  ids: Record<IdKind, string[]>;
  /**
   * Targets of /organizations/current/members/{userId}: members other than the fuzzing user,
   * who must stay the owner (a random body could demote them once another owner exists).
   */
  memberTargets: string[];
  emails: string[];
  stageKeys: string[];
  /** A real `nextCursor` of some lists, by OpenAPI path. */
  cursors: Record<string, string>;
  accessSecret: string;
  refreshSecret: string;
}

const ID_KIND_BY_SEGMENT: Record<string, IdKind> = {
  contacts: 'contact',
  companies: 'company',
  deals: 'deal',
  leads: 'lead',
  tasks: 'task',
  pipelines: 'pipeline',
};

function idKindOfField(name: string): IdKind | undefined {
  const m = /^(contact|company|deal|lead|task|pipeline|owner|user)Id$/.exec(name);
  if (!m) return undefined;
  return m[1] === 'owner' ? 'user' : (m[1] as IdKind);
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

type QueryPair = [key: string, value: Text, raw?: boolean];

export type AuthChoice =
  | { kind: 'valid' }
  | { kind: 'none' }
  /** `refused`: the server must answer 401 wherever a token is required. */
  | { kind: 'raw'; value: Text; refused: boolean }
  /** A hand-made JWT; `refused`: the server must answer 401 wherever a token is required. */
  | { kind: 'forged'; label: string; token: string; refused: boolean };

export type BodyChoice =
  | { kind: 'none' }
  | { kind: 'json'; label: string; value: unknown }
  | { kind: 'text'; label: string; text: Text }
  | { kind: 'bytes'; label: string; bytes: number[] }
  | { kind: 'multipart'; label: string; boundary: string; parts: Text };

export interface FuzzCase {
  path: { value: Text; raw: boolean }[];
  query: QueryPair[];
  auth: AuthChoice;
  organization: { kind: 'valid' } | { kind: 'none' } | { kind: 'value'; value: string | string[] };
  contentType: { kind: 'auto' } | { kind: 'none' } | { kind: 'value'; value: string };
  body: BodyChoice;
  headers: [string, Text][];
}

export interface WireRequest {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer;
}

/** What kind of case `c` is, in a few words (groups the problems of FUZZ_COLLECT). */
export function caseLabel(c: FuzzCase): string {
  const auth = c.auth.kind === 'forged' ? `forged token: ${c.auth.label}` : `${c.auth.kind} token`;
  const body = c.body.kind === 'none' ? 'no body' : c.body.label;
  return `${auth}, ${body}`;
}

/** Percent-encodes every byte but the unreserved ones (lone surrogates become U+FFFD). */
export function pct(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The bytes on the wire for `c` against `op`. */
export function materialize(op: Operation, c: FuzzCase, fx: FuzzFixture): WireRequest {
  let i = 0;
  const path = op.path.replace(/\{[^}]+\}/g, () => {
    const p = c.path[i++];
    return p.raw ? String(p.value) : pct(String(p.value));
  });
  const query = c.query
    .map(([k, v, raw]) => (raw ? `${k}=${String(v)}` : `${pct(k)}=${pct(String(v))}`))
    .join('&');
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of c.headers) headers[name] = String(value);
  if (c.auth.kind === 'valid') headers.authorization = `Bearer ${fx.accessToken}`;
  else if (c.auth.kind === 'raw') headers.authorization = String(c.auth.value);
  else if (c.auth.kind === 'forged') headers.authorization = `Bearer ${c.auth.token}`;
  if (c.organization.kind === 'valid') headers['x-organization-id'] = fx.organizationId;
  else if (c.organization.kind === 'value') headers['x-organization-id'] = c.organization.value;

  let body: Buffer | undefined;
  let type: string | undefined;
  switch (c.body.kind) {
    case 'json':
      body = Buffer.from(JSON.stringify(c.body.value) ?? 'null', 'utf8');
      type = 'application/json';
      break;
    case 'text':
      body = Buffer.from(String(c.body.text), 'utf8');
      type = 'application/json';
      break;
    case 'bytes':
      body = Buffer.from(c.body.bytes);
      type = 'application/json';
      break;
    case 'multipart':
      body = Buffer.from(String(c.body.parts), 'utf8');
      type = `multipart/form-data; boundary=${c.body.boundary}`;
      break;
  }
  if (c.contentType.kind === 'auto' && type) headers['content-type'] = type;
  else if (c.contentType.kind === 'value') headers['content-type'] = c.contentType.value;
  if (body) headers['content-length'] = body.length;
  return { method: op.method, path: query ? `${path}?${query}` : path, headers, body };
}

/** Bytes of the request line and headers (Node refuses more than 16 KB: HTTP 431). */
export function headBytes(req: WireRequest): number {
  let n = req.method.length + req.path.length + 12;
  for (const [k, v] of Object.entries(req.headers)) {
    for (const one of Array.isArray(v) ? v : [v]) n += k.length + String(one).length + 4;
  }
  return n;
}

/**
 * Whether the request reaches the guards: Node answers over-long headers (431), and Fastify
 * bodies over the limit (413), content types it has no parser for (415) and URLs it cannot
 * decode or route (400/404/414) first.
 */
export function reachesGuards(c: FuzzCase, req: WireRequest, bodyLimit: number): boolean {
  const type = req.headers['content-type'];
  // a body without Content-Type is 415, as is any type without a parser
  const cleanType =
    type === undefined
      ? !req.body
      : typeof type === 'string' && /^application\/json(; charset=utf-8)?$/i.test(type);
  // Fastify's router refuses path parameters over 100 characters (414)
  const cleanPath = c.path.every((p) => !p.raw && /^[\w-]{1,100}$/.test(String(p.value)));
  const cleanQuery = c.query.every(([, , raw]) => !raw);
  const small = headBytes(req) < 15_000 && (req.body?.length ?? 0) <= bodyLimit;
  return cleanType && cleanPath && cleanQuery && small;
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const CONTROL_CHARS = [
  '\u0000',
  '\u0001',
  '\u0007',
  '\b',
  '\t',
  '\n',
  '\r',
  '\u000b',
  '\u001b',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\u202e',
  '\ufeff',
  '\ufffe',
  'a',
  'é',
  '\u{1f600}',
  '"',
  '\\',
  "'",
  '%',
];

/** Control, invisible and escaping characters; with `surrogates`, unpaired UTF-16 halves too. */
/** Control characters, and unpaired UTF-16 surrogates where a string may carry them (bodies). */
const controlUnit = (surrogates: boolean): fc.Arbitrary<string> =>
  fc.constantFrom(...CONTROL_CHARS, ...(surrogates ? ['\ud800', '\udfff'] : []));
const CONTROL_UNIT = controlUnit(false);

const WEIRD_SCALARS: unknown[] = [
  null,
  true,
  false,
  0,
  -0,
  -1,
  1.5,
  0.001,
  1e308,
  -1e308,
  2 ** 31,
  2 ** 53 + 2,
  2 ** 64,
  Number.MIN_VALUE,
  '',
  ' ',
  '\u0000',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '1e309',
  '0x10',
  '١٢٣',
  '1_000',
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '__proto__',
  'constructor',
  '../../etc/passwd',
  "' OR '1'='1' --",
  '<script>alert(1)</script>',
  '%00',
  '${jndi:ldap://x}',
  '=cmd|/c calc!A0',
  '2026-02-30',
  '0000-00-00',
  '9999-12-31T23:59:59.999Z',
  [],
  {},
  [null],
  { '': '' },
  ['a', 'b'],
];

const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'id',
  'organizationId',
  'createdAt',
  'deletedAt',
  'role',
  'isAdmin',
  'passwordHash',
  '',
  ' ',
  '\u0000',
  'a.b',
  '$where',
];

/** Values that are wrong almost anywhere: wrong types, edge numbers, huge or odd strings, nesting. */
function hostileValue(maxHuge: number, control: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...WEIRD_SCALARS), weight: 5 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
    { arbitrary: fc.string({ unit: control, minLength: 1, maxLength: 30 }), weight: 3 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 3 },
    { arbitrary: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), weight: 1 },
    { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 1 },
    {
      arbitrary: fc
        .tuple(
          fc.constantFrom('a', '9', ' ', 'é', '\u{1f600}', '\u0000', '\n'),
          fc.constantFrom(255, 256, 1001, 5001, 70_000, maxHuge),
        )
        .map(([unit, times]) => new Repeat(unit, times)),
      weight: 2,
    },
    {
      arbitrary: fc
        .tuple(
          fc.integer({ min: 2, max: 300 }),
          fc.constantFrom('array' as const, 'object' as const),
        )
        .map(([depth, kind]) => new Nested(depth, kind)),
      weight: 1,
    },
  );
}

const today = (offsetDays = 0): string =>
  new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

/** Random request parts for every operation, drawing real ids and tokens from `fx`. */
export class FuzzGenerators {
  private readonly allIds: string[];

  constructor(private readonly fx: FuzzFixture) {
    // the fuzzing user's own id stays out of path parameters (see memberTargets)
    this.allIds = Object.values(fx.ids)
      .flat()
      .filter((id) => id !== fx.userId);
  }

  private hostile(): fc.Arbitrary<unknown> {
    return hostileValue(300_000, controlUnit(true));
  }

  private realId(kind: IdKind | undefined): fc.Arbitrary<string> {
    const pool = kind ? this.fx.ids[kind] : this.allIds;
    return fc.constantFrom(...(pool.length ? pool : this.allIds));
  }

  /** A value that satisfies `schema` or comes close (examples, real ids, bounds). */
  validish(schema: Schema, name = '', depth = 0): fc.Arbitrary<unknown> {
    const arb = this.validishInner(schema, name, depth);
    return schema.nullable ? fc.oneof({ arbitrary: arb, weight: 4 }, fc.constant(null)) : arb;
  }

  private validishInner(schema: Schema, name: string, depth: number): fc.Arbitrary<unknown> {
    if (schema.oneOf?.length || schema.anyOf?.length) {
      const options = (schema.oneOf ?? schema.anyOf ?? []).map((s) =>
        this.validish(s, name, depth),
      );
      return fc.oneof(...options);
    }
    if (schema.enum?.length) return fc.constantFrom(...schema.enum);
    const min = schema.minimum;
    const max = schema.maximum;
    switch (schema.type) {
      case 'object': {
        if (depth > 4 || !schema.properties) return fc.constant({});
        const props = Object.fromEntries(
          Object.entries(schema.properties).map(([k, s]) => [k, this.validish(s, k, depth + 1)]),
        );
        return fc.record(props, { requiredKeys: schema.required ?? [] });
      }
      case 'array':
        if (depth > 4) return fc.constant([]);
        return fc.array(this.validish(schema.items ?? {}, name, depth + 1), {
          minLength: Math.min(schema.minItems ?? 0, 3),
          maxLength: Math.min(schema.maxItems ?? 3, 3),
        });
      case 'number':
      case 'integer':
        return fc.oneof(
          fc.constant(typeof schema.example === 'number' ? schema.example : (min ?? 1)),
          fc.integer({ min: Math.ceil(min ?? -1000), max: Math.floor(max ?? 100_000) }),
          fc.constantFrom(...[min, max, 1, 20, 100].filter((n): n is number => n !== undefined)),
        );
      case 'boolean':
        return fc.boolean();
    }
    // strings (and untyped values)
    const idKind = idKindOfField(name);
    if (schema.format === 'uuid' || idKind) {
      return fc.oneof(
        { arbitrary: this.realId(idKind), weight: 4 },
        { arbitrary: this.realId(undefined), weight: 1 },
        { arbitrary: fc.uuid(), weight: 1 },
      );
    }
    if (schema.format === 'email' || name === 'email') {
      return fc.oneof(
        fc.constantFrom(...this.fx.emails),
        fc.stringMatching(/^[a-z][a-z0-9.]{0,15}@[a-z]{1,10}\.example$/),
      );
    }
    if (schema.format === 'date')
      return fc.constantFrom(today(), today(1), today(-1), '2099-12-31');
    if (schema.format === 'date-time')
      return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
    if (name === 'currency') return fc.constantFrom('USD', 'eur', 'JPY', 'XXX', 'ZZZ', 'usd ');
    if (name === 'stage') return fc.constantFrom(...this.fx.stageKeys, 'closed', 'nope');
    if (name === 'refreshToken') return fc.constantFrom(this.fx.refreshToken, this.fx.accessToken);
    if (name === 'password') return fc.constantFrom('correct-horse-42', 'short', 'a'.repeat(73));
    const cursors = Object.values(this.fx.cursors);
    if (name === 'cursor' && cursors.length) return fc.constantFrom(...cursors);
    if (schema.pattern) {
      try {
        return fc.stringMatching(new RegExp(schema.pattern), { maxLength: 40 });
      } catch {
        // an ECMAScript-incompatible pattern: fall through
      }
    }
    const lengths = {
      minLength: schema.minLength ?? 0,
      maxLength: Math.min(schema.maxLength ?? 40, 40),
    };
    const examples = typeof schema.example === 'string' ? [schema.example] : [];
    return fc.oneof(
      ...examples.map((e) => fc.constant(e)),
      fc.string(lengths),
      fc.string({ ...lengths, unit: 'grapheme' }),
    );
  }

  /** A JSON body for `schema`: valid-ish, or valid-ish with one thing wrong, or anything at all. */
  jsonValue(schema: Schema | undefined): fc.Arbitrary<{ label: string; value: unknown }> {
    const base = schema ? this.validish(schema) : fc.jsonValue({ maxDepth: 2 });
    const properties = Object.keys(schema?.properties ?? {});
    const asObject = (v: unknown): Record<string, unknown> =>
      v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...v } : {};
    const options: fc.Arbitrary<{ label: string; value: unknown }>[] = [
      base.map((value) => ({ label: 'valid-ish', value })),
      fc
        .tuple(
          base,
          fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ unit: 'binary', maxLength: 12 })),
          this.hostile(),
        )
        .map(([v, key, extra]) => {
          const value = asObject(v);
          Object.defineProperty(value, key, {
            value: extra,
            enumerable: true,
            writable: true,
            configurable: true,
          });
          return { label: 'unknown property', value };
        }),
      fc
        .constantFrom(...WEIRD_SCALARS, ...[[1, 2, 3], 'text'])
        .map((value) => ({ label: 'wrong top-level type', value })),
      fc.jsonValue({ maxDepth: 4 }).map((value) => ({ label: 'random JSON', value })),
    ];
    if (properties.length) {
      options.push(
        fc
          .tuple(base, fc.constantFrom(...properties), this.hostile())
          .map(([v, key, bad]) => ({ label: `bad ${key}`, value: { ...asObject(v), [key]: bad } })),
        fc.tuple(base, fc.constantFrom(...properties), this.hostile()).map(([v, key, bad]) => {
          // one level down: a nested object or array property, or the property itself
          const value = asObject(v);
          const inner = value[key];
          if (Array.isArray(inner)) value[key] = [...inner, bad];
          else if (inner && typeof inner === 'object') value[key] = { ...inner, zz: bad };
          else value[key] = [bad];
          return { label: `bad inside ${key}`, value };
        }),
        fc.tuple(base, fc.subarray(properties, { minLength: 1 })).map(([v, drop]) => {
          const value = asObject(v);
          for (const k of drop) delete value[k];
          return { label: `without ${drop.join(',')}`, value };
        }),
      );
    }
    return fc.oneof(...options);
  }

  /** JSON text that does not parse, or parses into something odd. */
  private malformedText(schema: Schema | undefined): fc.Arbitrary<{ label: string; text: Text }> {
    const maxDepth = 20_000;
    return fc.oneof(
      fc
        .constantFrom(
          '',
          ' ',
          '{',
          '}',
          '[',
          '{"a":}',
          '{"a":1,}',
          "{'a':1}",
          '{a:1}',
          '[1,2',
          'nul',
          'tru',
          '"unterminated',
          '{"a":"\\x00"}',
          '{"a":"\\ud800"}',
          '{"a":"\\u0000"}',
          '{"a":"\u0000"}',
          '\ufeff{}',
          '{} {}',
          '{}garbage',
          '1e999',
          '-',
          '123456789012345678901234567890',
          '{"__proto__":{"isAdmin":true}}',
          '{"constructor":{"prototype":{"isAdmin":true}}}',
          '{"name":"a","name":"b"}',
          '/* comment */{}',
          'NaN',
          '\u0000',
          '{"name":1e400}',
          '{"name":-0}',
          '[{"__proto__":[]}]',
        )
        .map((text) => ({ label: 'malformed JSON', text })),
      (schema ? this.validish(schema) : fc.jsonValue())
        .chain((v) => {
          const json = JSON.stringify(v) ?? '';
          return fc.nat({ max: Math.max(0, json.length - 1) }).map((n) => json.slice(0, n));
        })
        .map((text) => ({ label: 'truncated JSON', text })),
      fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ label: 'random text', text })),
      fc
        .tuple(
          fc.integer({ min: 33, max: maxDepth }),
          fc.constantFrom('[' as const, '{"a":' as const),
          fc.boolean(),
        )
        .map(([depth, open, closed]) => ({
          label: 'deep JSON',
          text: new DeepText(depth, open, closed),
        })),
    );
  }

  /** A CSV in a multipart body (or a broken multipart body). */
  private multipart(columns: string[]): fc.Arbitrary<BodyChoice> {
    const cell = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.string({ unit: CONTROL_UNIT, maxLength: 10 }),
      fc.constantFrom('"', '""', '"a,b"', '"unterminated', '=1+1', 'x'.repeat(300), ''),
      this.fx.emails.length ? fc.constantFrom(...this.fx.emails) : fc.constant(''),
    );
    const header = fc.oneof(
      { arbitrary: fc.shuffledSubarray(columns, { minLength: columns.length }), weight: 3 },
      {
        arbitrary: fc.shuffledSubarray([...columns, 'junk', columns[0], ''], { minLength: 0 }),
        weight: 1,
      },
    );
    const plausibleCell = (column: string): fc.Arbitrary<string> => {
      if (column === 'email') return fc.emailAddress();
      if (column === 'domain') return fc.domain();
      if (column === 'phone') return fc.constantFrom('+1 555 0100', '020 7946 0000', '');
      return fc.stringMatching(/^[A-Z][a-z]{1,12}( [A-Z][a-z]{1,12})?$/);
    };
    const rows = (h: string[]): fc.Arbitrary<string[][]> =>
      fc.array(
        fc.oneof(
          { arbitrary: fc.tuple(...h.map(plausibleCell)), weight: 2 },
          { arbitrary: fc.array(cell, { maxLength: columns.length + 2 }), weight: 1 },
        ),
        { maxLength: 6 },
      );
    const csv = fc
      .tuple(
        header.chain((h) => fc.tuple(fc.constant(h), rows(h))),
        fc.boolean(),
      )
      .map(
        ([[h, body], bom]) =>
          (bom ? '\ufeff' : '') + [h, ...body].map((r) => r.join(',')).join('\r\n'),
      );
    const part = (name: string, filename: string | undefined, content: string, b: string): string =>
      `--${b}\r\nContent-Disposition: form-data; name="${name}"` +
      (filename !== undefined ? `; filename="${filename}"` : '') +
      `\r\nContent-Type: text/csv\r\n\r\n${content}\r\n`;
    const boundary = fc.constantFrom('fuzzboundary', 'x', '----WebKitFormBoundary7MA4YWxkTrZu0gW');
    const upload = fc
      .tuple(boundary, csv, fc.constantFrom('a.csv', '', '../../x.csv', 'é.csv'))
      .map(([b, content, filename]): BodyChoice => ({
        kind: 'multipart',
        label: 'CSV upload',
        boundary: b,
        parts: `${part('file', filename, content, b)}--${b}--\r\n`,
      }));
    return fc.oneof(
      { arbitrary: upload, weight: 4 },
      fc
        .tuple(boundary, csv, fc.constantFrom('other', 'FILE', ''), fc.boolean(), fc.boolean())
        .map(([b, content, name, twice, terminated]): BodyChoice => {
          const one =
            part(name, 'a.csv', content, b) + (twice ? part('file', 'b.csv', content, b) : '');
          return {
            kind: 'multipart',
            label: 'odd multipart',
            boundary: b,
            parts: one + (terminated ? `--${b}--\r\n` : ''),
          };
        }),
      fc
        .tuple(boundary, fc.string({ unit: 'binary', maxLength: 200 }))
        .map(([b, junk]): BodyChoice => ({
          kind: 'multipart',
          label: 'junk multipart',
          boundary: b,
          parts: junk,
        })),
    );
  }

  body(op: Operation): fc.Arbitrary<BodyChoice> {
    const schema = op.body?.kind === 'json' ? op.body.schema : undefined;
    const json = this.jsonValue(schema).map(({ label, value }): BodyChoice => ({
      kind: 'json',
      label,
      value,
    }));
    const text = this.malformedText(schema).map(({ label, text }): BodyChoice => ({
      kind: 'text',
      label,
      text,
    }));
    const bytes = fc
      .uint8Array({ minLength: 1, maxLength: 64 })
      .map((b): BodyChoice => ({ kind: 'bytes', label: 'random bytes', bytes: [...b] }));
    const none = fc.constant<BodyChoice>({ kind: 'none' });
    if (op.body?.kind === 'multipart') {
      return fc.oneof(
        { arbitrary: this.multipart(op.body.csvColumns), weight: 6 },
        { arbitrary: json, weight: 1 },
        { arbitrary: text, weight: 1 },
        { arbitrary: none, weight: 1 },
      );
    }
    if (op.body) {
      return fc.oneof(
        { arbitrary: json, weight: 8 },
        { arbitrary: text, weight: 3 },
        { arbitrary: bytes, weight: 1 },
        { arbitrary: none, weight: 1 },
      );
    }
    return fc.oneof(
      { arbitrary: none, weight: 6 },
      { arbitrary: json, weight: 2 },
      { arbitrary: text, weight: 1 },
    );
  }

  private pathValue(op: Operation, index: number): fc.Arbitrary<{ value: Text; raw: boolean }> {
    const name = op.pathParams[index];
    const segments = op.path.split('/');
    const segment = segments[segments.indexOf(`{${name}}`) - 1];
    const real =
      segment === 'members'
        ? fc.constantFrom(...this.fx.memberTargets)
        : this.realId(ID_KIND_BY_SEGMENT[segment] ?? idKindOfField(name));
    const encoded = (arb: fc.Arbitrary<Text>) => arb.map((value) => ({ value, raw: false }));
    // Fastify refuses parameters over 100 characters as sent (percent-encoded): a 400
    const garbage: fc.Arbitrary<Text>[] = [
      fc.constantFrom(
        '00000000-0000-0000-0000-000000000000',
        'ffffffff-ffff-ffff-ffff-ffffffffffff',
        '-1',
        '0',
        '1e5',
        'null',
        'me',
        '..',
        '.',
        ' ',
        '\u0000',
        'é',
        '%',
        '/',
        'a'.repeat(100),
      ),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      fc.string({ unit: CONTROL_UNIT, minLength: 1, maxLength: 10 }),
      fc.uuid().map((u) => `${u}x`),
      fc.uuid().map((u) => `${u}\u0000`),
    ];
    garbage.push(fc.constantFrom(new Repeat('a', 2000), new Repeat('9', 1000)));
    // percent-escapes as sent; Fastify cannot decode the malformed ones (a 400)
    const raw = ['%2e%2e', '%2F', 'a%00b', '%20', '%C3%A9'];
    raw.push('%zz', '%', '%E0%A4%A', '%C0%AE%C0%AE', '%ff%fe', '%u0041');
    return fc.oneof(
      { arbitrary: encoded(real), weight: 8 },
      { arbitrary: encoded(this.realId(undefined)), weight: 1 },
      { arbitrary: encoded(real.map((id) => id.toUpperCase())), weight: 1 },
      { arbitrary: encoded(fc.uuid()), weight: 2 },
      { arbitrary: encoded(fc.oneof(...garbage)), weight: 3 },
      { arbitrary: fc.constantFrom(...raw).map((value) => ({ value, raw: true })), weight: 1 },
    );
  }

  private queryValue(param: Parameter | undefined): fc.Arbitrary<QueryPair[1]> {
    const hostile = fc.oneof(
      fc.constantFrom(
        '',
        '-1',
        '0',
        '1e309',
        '99999999999999999999',
        '9007199254740993',
        '1.5',
        'NaN',
        'Infinity',
        'true',
        '[]',
        '{}',
        'null',
        "'",
        ' ',
        '+1',
        '0x1A',
        '1_000',
        '%',
        '\u0000',
        'a\u0000b',
        'é',
        '\u{1f600}',
        '2026-13-45',
        '\\',
      ),
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.string({ unit: CONTROL_UNIT, maxLength: 10 }),
      fc.base64String({ maxLength: 80 }),
      fc.constantFrom(new Repeat('a', 3000), new Repeat('9', 400), new Repeat('é', 300)),
      Object.keys(this.fx.cursors).length
        ? fc
            .tuple(
              fc.constantFrom(...Object.values(this.fx.cursors)),
              fc.nat(),
              fc.constantFrom('A', '_', '-', '='),
            )
            .map(([c, n, ch]) => {
              const at = n % c.length;
              return c.slice(0, at) + ch + c.slice(at + 1);
            })
        : fc.constant('x'),
    );
    if (!param?.schema) return hostile;
    return fc.oneof(
      this.validish(param.schema, param.name).map((v) =>
        Array.isArray(v) ? String(v[0] ?? '') : String(v),
      ),
      hostile,
    );
  }

  private query(op: Operation): fc.Arbitrary<QueryPair[]> {
    const perParam = op.query.map((param) =>
      fc.oneof(
        { arbitrary: fc.constant<QueryPair[]>([]), weight: 5 },
        { arbitrary: this.queryValue(param).map((v): QueryPair[] => [[param.name, v]]), weight: 4 },
        {
          arbitrary: fc
            .array(this.queryValue(param), { minLength: 2, maxLength: 4 })
            .map((vs): QueryPair[] => vs.map((v) => [param.name, v])),
          weight: 1,
        },
        {
          arbitrary: fc
            .tuple(fc.constantFrom('[]', '[0]', '[a]', '.x', '%00'), this.queryValue(param))
            .map(([suffix, v]): QueryPair[] => [[param.name + suffix, v]]),
          weight: 1,
        },
      ),
    );
    const junk = fc.array(
      fc.oneof(
        fc.tuple(
          fc.oneof(
            fc.constantFrom(
              '__proto__',
              'constructor',
              'toString',
              'hasOwnProperty',
              'page',
              'limit',
              'cursor',
              '',
            ),
            fc.string({ unit: 'binary', maxLength: 12 }),
          ),
          this.queryValue(undefined),
        ),
        fc
          .constantFrom(
            '%zz=1',
            'page=%',
            '=',
            '&&&',
            'a=%E0%A4%A',
            'page',
            'page=1;pageSize=2',
            '%00=%00',
          )
          .map((raw): QueryPair => [raw, '', true]),
      ),
      { maxLength: 3 },
    );
    const hostile = fc
      .tuple(fc.tuple(...perParam), junk)
      .map(([params, extra]) => [...params.flat(), ...(extra as QueryPair[])]);
    // half the time only declared parameters with plausible values, so that lists answer too
    const paging = ['page', 'pageSize', 'limit', 'cursor'];
    const names = new Set(op.query.map((p) => p.name));
    const cursor = this.fx.cursors[op.path];
    const pagination: fc.Arbitrary<QueryPair[]> = names.has('page')
      ? fc.oneof(
          fc.constant<QueryPair[]>([]),
          fc
            .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 100 }))
            .map(([page, size]): QueryPair[] => [
              ['page', String(page)],
              ['pageSize', String(size)],
            ]),
          fc
            .tuple(fc.integer({ min: 1, max: 100 }), fc.boolean())
            .map(([limit, more]): QueryPair[] => [
              ['limit', String(limit)],
              ...(more && cursor ? [['cursor', cursor] as QueryPair] : []),
            ]),
        )
      : fc.constant([]);
    const others = op.query
      .filter((param) => !paging.includes(param.name))
      .map((param) =>
        fc.option(
          this.validish(param.schema ?? {}, param.name).map((v): QueryPair[] =>
            (Array.isArray(v) ? v : [v]).map((one) => [param.name, String(one)]),
          ),
          { nil: [], freq: 3 },
        ),
      );
    const plausible = fc.tuple(pagination, ...others).map((params) => params.flat());
    return fc.oneof(plausible, hostile);
  }

  private forgedToken(): fc.Arbitrary<AuthChoice> {
    const fx = this.fx;
    const now = Math.floor(Date.now() / 1000);
    const good = {
      sub: fx.userId,
      typ: 'access',
      iss: 'crm-api',
      iat: now,
      exp: now + 900,
      jti: randomUUID(),
    };
    type Variant = [
      label: string,
      header: unknown,
      payload: unknown,
      secret: string | null,
      refused: boolean,
    ];
    const hs256 = { alg: 'HS256', typ: 'JWT' };
    const variants: Variant[] = [
      ['expired', hs256, { ...good, iat: now - 1000, exp: now - 60 }, fx.accessSecret, true],
      ['typ refresh', hs256, { ...good, typ: 'refresh' }, fx.accessSecret, true],
      ['no typ', hs256, { ...good, typ: undefined }, fx.accessSecret, true],
      ['typ Access', hs256, { ...good, typ: 'Access' }, fx.accessSecret, true],
      ['other issuer', hs256, { ...good, iss: 'evil' }, fx.accessSecret, true],
      ['no issuer', hs256, { ...good, iss: undefined }, fx.accessSecret, true],
      ['nbf in the future', hs256, { ...good, nbf: now + 3600 }, fx.accessSecret, true],
      ['exp a string', hs256, { ...good, exp: String(now + 900) }, fx.accessSecret, true],
      ['signed with the refresh secret', hs256, good, fx.refreshSecret, true],
      ['signed with another secret', hs256, good, 'not-the-secret', true],
      ['alg none', { alg: 'none', typ: 'JWT' }, good, null, true],
      ['alg HS512', { alg: 'HS512', typ: 'JWT' }, good, fx.accessSecret, true],
      ['alg RS256', { alg: 'RS256', typ: 'JWT' }, good, fx.accessSecret, true],
      ['header not JSON', 'not json', good, fx.accessSecret, true],
      ['payload not JSON', hs256, 'not json', fx.accessSecret, true],
      ['payload an array', hs256, [good], fx.accessSecret, true],
      ['payload a number', hs256, 42, fx.accessSecret, true],
      ['sub a number', hs256, { ...good, sub: 42 }, fx.accessSecret, true],
      ['sub null', hs256, { ...good, sub: null }, fx.accessSecret, true],
      ['sub an object', hs256, { ...good, sub: { id: fx.userId } }, fx.accessSecret, true],
      // well formed, for a user that does not exist: any contract answer will do
      ['sub not a UUID', hs256, { ...good, sub: 'not-a-uuid' }, fx.accessSecret, true],
      ['sub empty', hs256, { ...good, sub: '' }, fx.accessSecret, true],
      ['sub with a NUL', hs256, { ...good, sub: `${fx.userId}\u0000` }, fx.accessSecret, true],
      ['sub SQL', hs256, { ...good, sub: "' OR '1'='1" }, fx.accessSecret, true],
      ['no exp', hs256, { ...good, exp: undefined }, fx.accessSecret, true],
      ['exp 1e300', hs256, { ...good, exp: 1e300 }, fx.accessSecret, true],
      // well formed, for a user that does not exist: any contract answer will do
      ['unknown user', hs256, { ...good, sub: randomUUID() }, fx.accessSecret, false],
      ['valid, hand-made', hs256, good, fx.accessSecret, false],
    ];
    return fc.constantFrom(...variants).map(([label, header, payload, secret, refused]) => ({
      kind: 'forged' as const,
      label,
      token: signJwt(header, payload, secret),
      refused,
    }));
  }

  private auth(): fc.Arbitrary<AuthChoice> {
    const token = this.fx.accessToken;
    const mid = token.length - 10;
    const flipped = token.slice(0, mid) + (token[mid] === 'A' ? 'B' : 'A') + token.slice(mid + 1);
    // [header, refused]: variants that still carry the intact token may be accepted
    const raw = fc
      .oneof(
        fc.constantFrom<[Text, boolean]>(
          ['Bearer', true],
          ['Bearer ', true],
          [`Bearer  ${token}`, false],
          [`bearer ${token}`, false],
          [`BEARER ${token}`, false],
          [`Bearer ${token} extra`, false],
          [`Bearer ${token}x`, true],
          [`Bearer ${flipped}`, true],
          [`Bearer ${token.split('.').slice(0, 2).join('.')}`, true],
          [`Bearer ${this.fx.refreshToken}`, true],
          [`Basic ${Buffer.from('a:b').toString('base64')}`, true],
          [`Token ${token}`, true],
          [token, true],
          ['Bearer a.b.c', true],
          ['Bearer ...', true],
          ['Bearer e30.e30.', true],
          [new Repeat('a', 4000), true],
        ),
        fc
          .string({ unit: 'grapheme-ascii', maxLength: 60 })
          .map((s): [Text, boolean] => [`Bearer ${s}`, true]),
        fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((s): [Text, boolean] => [s, true]),
      )
      .map(([value, refused]): AuthChoice => ({ kind: 'raw', value, refused }));
    return fc.oneof(
      { arbitrary: fc.constant<AuthChoice>({ kind: 'valid' }), weight: 16 },
      { arbitrary: fc.constant<AuthChoice>({ kind: 'none' }), weight: 1 },
      { arbitrary: raw, weight: 2 },
      { arbitrary: this.forgedToken(), weight: 2 },
    );
  }

  private organization(): fc.Arbitrary<FuzzCase['organization']> {
    const org = this.fx.organizationId;
    const value = fc
      .oneof(
        fc.constantFrom<string | string[]>(
          this.fx.foreignOrganizationId,
          org.toUpperCase(),
          ` ${org}`,
          `${org} `,
          `${org},${org}`,
          [org, org],
          [org, this.fx.foreignOrganizationId],
          '',
          'null',
          org.replace(/-/g, ''),
          `{${org}}`,
          this.fx.userId,
        ),
        fc.uuid(),
        fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
      )
      .map((v): FuzzCase['organization'] => ({ kind: 'value', value: v }));
    return fc.oneof(
      { arbitrary: fc.constant<FuzzCase['organization']>({ kind: 'valid' }), weight: 16 },
      { arbitrary: fc.constant<FuzzCase['organization']>({ kind: 'none' }), weight: 1 },
      { arbitrary: value, weight: 3 },
    );
  }

  private contentType(): fc.Arbitrary<FuzzCase['contentType']> {
    const value = fc
      .oneof(
        fc.constantFrom(
          'text/plain',
          'text/plain; charset=utf-8',
          'application/x-www-form-urlencoded',
          'multipart/form-data',
          'multipart/form-data; boundary=',
          'application/json; charset=utf-16',
          'application/json; charset=iso-8859-1',
          'application/json; charset=',
          'APPLICATION/JSON',
          'application/json;;;',
          'application/jsonx',
          'application/vnd.api+json',
          'application/merge-patch+json',
          'application/*',
          '*/*',
          'text/json',
          'text/csv',
          'application/octet-stream',
          'application/xml',
          '',
          ';',
        ),
        fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
      )
      .map((v): FuzzCase['contentType'] => ({ kind: 'value', value: v }));
    return fc.oneof(
      { arbitrary: fc.constant<FuzzCase['contentType']>({ kind: 'auto' }), weight: 20 },
      { arbitrary: fc.constant<FuzzCase['contentType']>({ kind: 'none' }), weight: 1 },
      { arbitrary: value, weight: 3 },
    );
  }

  private headers(): fc.Arbitrary<[string, Text][]> {
    const ascii = (max: number) => fc.string({ unit: 'grapheme-ascii', maxLength: max });
    const header = fc.oneof(
      fc.tuple(
        fc.constant('x-request-id'),
        fc.oneof(
          ascii(200),
          fc.constantFrom<Text>('', 'ok-id_1:2.3', new Repeat('a', 129), new Repeat('a', 128)),
        ),
      ),
      fc.tuple(
        fc.constantFrom('accept', 'accept-encoding', 'accept-language', 'content-encoding'),
        ascii(40),
      ),
      fc.tuple(
        fc.constant('content-encoding'),
        fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'compress, gzip'),
      ),
      fc.tuple(fc.constantFrom('x-forwarded-for', 'x-real-ip', 'forwarded'), ascii(60)),
      fc.tuple(
        fc.constantFrom('origin', 'referer', 'cookie', 'user-agent', 'range', 'if-none-match'),
        ascii(80),
      ),
      fc.tuple(
        fc.constant('x-http-method-override'),
        fc.constantFrom('DELETE', 'PUT', 'GET', 'junk'),
      ),
      fc.tuple(
        fc.stringMatching(/^x-[a-z0-9-]{1,20}$/),
        fc.oneof(ascii(80), fc.constantFrom<Text>(new Repeat('h', 4000))),
      ),
    );
    // over Node's 16 KB of request line and headers: 431 with the error body
    const huge = fc.tuple(
      fc.constant('x-huge'),
      fc.constantFrom<Text>(new Repeat('h', 17_000), new Repeat('h', 40_000)),
    );
    return fc.array(fc.oneof({ arbitrary: header, weight: 40 }, { arbitrary: huge, weight: 1 }), {
      maxLength: 3,
    });
  }

  caseFor(op: Operation): fc.Arbitrary<FuzzCase> {
    return fc.record({
      path: fc.tuple(...op.pathParams.map((_, i) => this.pathValue(op, i))),
      query: this.query(op),
      auth: this.auth(),
      organization: this.organization(),
      contentType: this.contentType(),
      body: this.body(op),
      headers: this.headers(),
    });
  }
}

function b64url(part: unknown): string {
  const text = typeof part === 'string' ? part : JSON.stringify(part);
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** A JWT from raw parts; `secret` null leaves the signature empty. */
export function signJwt(header: unknown, payload: unknown, secret: string | null): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature =
    secret === null ? '' : createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${signature}`;
}

// ---------------------------------------------------------------------------------------------
// Raw requests Node's parser refuses
// ---------------------------------------------------------------------------------------------

export function rawRequests(): fc.Arbitrary<{ label: string; bytes: Text }> {
  const head = 'Host: localhost\r\n';
  const fixed: [string, Text][] = [
    ['NUL in a header', `GET /api/v1/health HTTP/1.1\r\n${head}X-A: a\u0000b\r\n\r\n`],
    ['CR in a header', `GET /api/v1/health HTTP/1.1\r\n${head}X-A: a\rb\r\n\r\n`],
    ['invalid method', `G@T /api/v1/health HTTP/1.1\r\n${head}\r\n`],
    ['HTTP/9.9', `GET /api/v1/health HTTP/9.9\r\n${head}\r\n`],
    [
      'Content-Length not a number',
      `POST /api/v1/auth/login HTTP/1.1\r\n${head}Content-Length: abc\r\n\r\n`,
    ],
    [
      'Content-Length and Transfer-Encoding',
      `POST /api/v1/auth/login HTTP/1.1\r\n${head}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'bad chunk size',
      `POST /api/v1/auth/login HTTP/1.1\r\n${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n`,
    ],
    ['header without colon', `GET /api/v1/health HTTP/1.1\r\n${head}NoColonHere\r\n\r\n`],
    ['space before colon', `GET /api/v1/health HTTP/1.1\r\n${head}X-A : b\r\n\r\n`],
    ['obs-fold', `GET /api/v1/health HTTP/1.1\r\n${head}X-A: a\r\n b\r\n\r\n`],
    ['control byte in the URL', `GET /api/v1/hea\u0001lth HTTP/1.1\r\n${head}\r\n`],
    ['17 KB header', `GET /api/v1/health HTTP/1.1\r\n${head}X-A: ${'a'.repeat(17_000)}\r\n\r\n`],
    ['17 KB URL', `GET /api/v1/health?q=${'a'.repeat(17_000)} HTTP/1.1\r\n${head}\r\n`],
  ];
  return fc.oneof(
    fc.constantFrom(...fixed).map(([label, bytes]) => ({ label, bytes })),
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 60 }).map((junk) => ({
      label: 'junk header line',
      bytes: `GET /api/v1/health HTTP/1.1\r\n${head}${junk}\r\n\r\n`,
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json?: unknown;
}

/**
 * One connection per request: the server closes the connection after some errors (431, 413),
 * and a kept-alive socket could be reused just before its close is noticed ("socket hang up").
 */
export const agent = new Agent({ keepAlive: false });

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Sends `req` to 127.0.0.1:`port` (null on a timeout or a dropped connection, with the reason). */
export function send(port: number, req: WireRequest, timeoutMs = 15_000): Promise<Answer | string> {
  return new Promise((resolve) => {
    let r: ClientRequest;
    try {
      r = httpRequest({
        host: '127.0.0.1',
        port,
        method: req.method,
        path: req.path,
        headers: req.headers,
        agent,
      });
    } catch (error) {
      // Node's client refused to send it (invalid header value): not the server's business
      resolve(`client refused: ${(error as Error).message}`);
      return;
    }
    r.setTimeout(timeoutMs, () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    r.on('error', (error) => resolve(`request failed: ${error.message}`));
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (error) => resolve(`response failed: ${error.message}`));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text) });
      });
    });
    r.end(req.body);
  });
}

/** Writes raw bytes on a fresh connection; the answer, or null when the server only closes it. */
export function sendRaw(port: number, bytes: string, timeoutMs = 5_000): Promise<Answer | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const finish = (): void => {
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(raw);
      if (!m) return resolve(null);
      const headers: Record<string, string> = {};
      for (const line of m[2].split('\r\n')) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      const text = Buffer.from(m[3], 'latin1').toString('utf8');
      resolve({ status: Number(m[1]), headers, text, json: parseJson(text) });
    };
    socket.setTimeout(timeoutMs, finish);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', () => socket.end(Buffer.from(bytes, 'latin1')));
  });
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

const ERROR_KEYS = new Set(['statusCode', 'code', 'message', 'details', 'requestId']);
const LEAK =
  /\n\s+at |node_modules|QueryFailedError|EntityNotFound|TypeError|ReferenceError|\.[jt]s:\d+/;

/** What is wrong with `answer` according to API.md section 1 (empty when nothing). */
export function contractProblems(answer: Answer): string[] {
  const problems: string[] = [];
  if (answer.status >= 500) problems.push(`status ${answer.status}`);
  if (answer.status < 400) return problems;
  const body = answer.json as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    problems.push('error answer without a JSON object body');
    return problems;
  }
  if (body.statusCode !== answer.status)
    problems.push(`statusCode ${String(body.statusCode)} != ${answer.status}`);
  if (typeof body.code !== 'string' || !/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/.test(body.code)) {
    problems.push(`code ${JSON.stringify(body.code)} is not UPPER_SNAKE`);
  }
  if (typeof body.message !== 'string') problems.push('message is not a string');
  if (typeof body.requestId !== 'string') problems.push('requestId is not a string');
  else if (answer.headers['x-request-id'] !== body.requestId)
    problems.push('X-Request-Id header != requestId');
  if (body.details !== undefined && !Array.isArray(body.details))
    problems.push('details is not an array');
  const extra = Object.keys(body).filter((k) => !ERROR_KEYS.has(k));
  if (extra.length) problems.push(`unexpected keys ${extra.join(', ')}`);
  const leaked = LEAK.exec(JSON.stringify([body.message, body.details]));
  if (leaked) problems.push(`internals leak into the body (${leaked[0].trim()})`);
  return problems;
}

const clip = (s: string, n: number): string =>
  s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s;

/** A reproduction: the request on the wire and the answer, clipped. */
export function describeExchange(req: WireRequest, answer: Answer | string | null): string {
  const headers = Object.entries(req.headers)
    .map(([k, v]) => `  ${k}: ${clip(JSON.stringify(v), 300)}`)
    .join('\n');
  const body = req.body ? clip(JSON.stringify(req.body.toString('utf8')), 600) : '(none)';
  const res =
    answer === null || typeof answer === 'string'
      ? String(answer)
      : `${answer.status} ${clip(answer.text, 600)}`;
  return `${req.method} ${clip(req.path, 400)}\n${headers}\n  body: ${body}\n=> ${res}`;
}
