/**
 * `npm run postman [-- --check]` (docs/decisions/0047): generates the Postman collection and
 * environment under `postman/` from the committed `openapi.json` with Portman (which converts
 * with Postman's openapi-to-postmanv2 and adds contract tests: status code, content type, JSON
 * body, JSON schema of the response), configured by `postman/portman-config.json`,
 * `postman/openapi-to-postman.json` and `postman/openapi-filter.json`. With --check it writes
 * nothing and exits 1 when a committed file differs (test/newman.e2e-spec.ts runs it).
 *
 * The same document always gives the same bytes: the converter fills values the document has no
 * example for with json-schema-faker, which draws from Math.random and the clock (both fixed
 * during the conversion), and Portman gives every item a random id (removed here: Postman and
 * Newman assign their own on import, and the collection keeps one fixed `_postman_id`, so a
 * re-import replaces it). Portman reads
 * `PORTMAN_*` variables and a `.env` file of its working directory into the collection: it runs
 * in an empty temporary directory, without those variables.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../swagger';
import { parse, runCli, writeOrCheck } from './cli-context';

const USAGE = `usage: npm run postman [-- --check]`;

const COLLECTION_FILE = 'postman/crm-api.postman_collection.json';
const ENVIRONMENT_FILE = 'postman/crm-api.postman_environment.json';

/** Fixed ids, so that importing a newer file into Postman replaces the older one. */
const COLLECTION_ID = '5b0a6a53-6f1e-4c3a-9d55-2b8e0c7f4a10';
const ENVIRONMENT_ID = '8d2f4c1e-3a7b-4e6d-b0c9-6f1a2e5d7c34';

/** The random numbers of the conversion: always the same sequence (mulberry32). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The clock of the conversion: always the same instant (the faker derives dates from "now").
 * Only `new Date()` and `Date.now()` change; every other use of Date behaves as usual.
 */
function fixedClock(time: number): DateConstructor {
  const RealDate = Date;
  return class FixedDate extends RealDate {
    constructor(...args: unknown[]) {
      super(...((args.length ? args : [time]) as [number]));
    }

    static override now(): number {
      return time;
    }
  } as DateConstructor;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The collection without Portman's random ids, with the fixed collection id. */
function withStableIds(collection: { [key: string]: Json }): { [key: string]: Json } {
  const strip = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== 'object') return value;
    const copy: { [key: string]: Json } = {};
    for (const [key, child] of Object.entries(value)) {
      if (key !== 'id') copy[key] = strip(child);
    }
    return copy;
  };
  const { info, ...rest } = collection;
  // `_` holds a second random id (postman-collection's own copy of it).
  delete rest._;
  const stripped = strip(rest) as { [key: string]: Json };
  return { info: { ...(info as object), _postman_id: COLLECTION_ID }, ...stripped };
}

/**
 * The environment QA teams import next to the collection: where the API is, and where the
 * webhook the run creates should point. The values a run captures (accessToken, organizationId,
 * the ids it creates) are collection variables, set by the requests' test scripts: an
 * environment value of the same name would take precedence over them (Postman and Newman resolve
 * the environment first, disabled entries included), so the environment holds none of them.
 */
function environment(): object {
  return {
    id: ENVIRONMENT_ID,
    name: 'CRM API (local)',
    values: [
      { key: 'baseUrl', value: 'http://localhost:3000', type: 'default', enabled: true },
      {
        key: 'webhookUrl',
        value: 'https://hooks.example.com/crm',
        type: 'default',
        enabled: true,
      },
    ],
    _postman_variable_scope: 'environment',
  };
}

/**
 * Portman turns OpenAPI 3.0's `nullable: true` into a JSON Schema type list (`["object",
 * "null"]`) but keeps an `allOf` next to it, which a null then fails. @nestjs/swagger writes
 * every nullable nested DTO so (`{nullable: true, type: "object", allOf: [{$ref}]}`, e.g. a
 * company's `address`), so such a node becomes `anyOf: [null, the node without null]`.
 */
function allowNullComposites(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(allowNullComposites);
  if (schema === null || typeof schema !== 'object') return schema;
  const node: { [key: string]: Json } = {};
  for (const [key, child] of Object.entries(schema)) node[key] = allowNullComposites(child);
  const types = node.type;
  const composite = 'allOf' in node || 'oneOf' in node || 'anyOf' in node;
  if (!Array.isArray(types) || !types.includes('null') || !composite) return node;
  const rest = types.filter((type) => type !== 'null');
  const notNull: { [key: string]: Json } = { ...node, type: rest.length === 1 ? rest[0] : rest };
  if (!rest.length) delete notNull.type;
  return { anyOf: [{ type: 'null' }, notNull] };
}

/** A test script whose inlined response schema (`const schema = {...}`) is fixed as above. */
function withNullableComposite(script: Json): Json {
  if (typeof script !== 'string') return script;
  return script.replace(/^const schema = (.+)$/m, (_line, schema: string) => {
    const fixed = allowNullComposites(JSON.parse(schema) as Json);
    return `const schema = ${JSON.stringify(fixed)}`;
  });
}

/** The collection with every test script's response schema fixed. */
function withNullableComposites(collection: Json): Json {
  if (Array.isArray(collection)) return collection.map(withNullableComposites);
  if (collection === null || typeof collection !== 'object') return collection;
  const copy: { [key: string]: Json } = {};
  for (const [key, child] of Object.entries(collection)) {
    copy[key] =
      key === 'exec' && Array.isArray(child)
        ? child.map(withNullableComposite)
        : withNullableComposites(child);
  }
  return copy;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}

/**
 * "No auth" on the requests of public operations (`security: []` in the document: register,
 * login, health...). The converter leaves them inheriting the collection's bearer token, which
 * would then be sent to them.
 */
function withPublicOperations(collection: Json, document: OpenApiDocument): Json {
  const publicOperations = new Set(
    Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, operation]) => operation.security?.length === 0)
        .map(([method]) => `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`),
    ),
  );
  const visit = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    const copy: { [key: string]: Json } = {};
    for (const [key, child] of Object.entries(node)) copy[key] = visit(child);
    const request = copy.request as { [key: string]: Json } | undefined;
    const url = request?.url as { path?: string[] } | undefined;
    if (request && url?.path && typeof request.method === 'string') {
      const operation = `${request.method} /${url.path.join('/')}`;
      if (publicOperations.has(operation)) copy.request = { ...request, auth: { type: 'noauth' } };
    }
    return copy;
  };
  return visit(collection);
}

const text = (value: object): string => `${JSON.stringify(value, null, 2)}\n`;

/** Runs Portman on openapi.json in a temporary directory and returns the collection. */
async function convert(root: string): Promise<{ [key: string]: Json }> {
  const work = mkdtempSync(join(tmpdir(), 'crm-postman-'));
  const cwd = process.cwd();
  const random = Math.random;
  const clock = globalThis.Date;
  const portmanVariables = Object.keys(process.env).filter((key) => key.startsWith('PORTMAN_'));
  for (const key of portmanVariables) delete process.env[key];
  try {
    Math.random = seededRandom(17);
    globalThis.Date = fixedClock(Date.UTC(2026, 0, 1));
    process.chdir(work);
    // Loaded only now: the converter's faker keeps a reference to Math.random when it loads.
    const { Portman } = await import('@apideck/portman/dist/Portman.js');
    const output = join(work, 'collection.json');
    const config = (name: string): string => join(root, 'postman', name);
    await new Portman({
      oaLocal: join(root, 'openapi.json'),
      output,
      includeTests: true,
      portmanConfigFile: config('portman-config.json'),
      portmanConfigPath: config('portman-config.json'),
      postmanConfigFile: config('openapi-to-postman.json'),
      postmanConfigPath: config('openapi-to-postman.json'),
      filterFile: config('openapi-filter.json'),
      envFile: join(work, '.env'),
      logAssignVariables: false,
      warn: true,
    }).run();
    return JSON.parse(readFileSync(output, 'utf8')) as { [key: string]: Json };
  } finally {
    Math.random = random;
    globalThis.Date = clock;
    process.chdir(cwd);
    rmSync(work, { recursive: true, force: true });
  }
}

async function postman(args: string[]): Promise<void> {
  const { values } = parse(args, { check: { type: 'boolean' } });
  const root = packageRoot();
  const document = JSON.parse(readFileSync(join(root, 'openapi.json'), 'utf8')) as OpenApiDocument;
  const converted = withNullableComposites(withPublicOperations(await convert(root), document));
  const files = [
    {
      file: join(root, COLLECTION_FILE),
      text: text(withStableIds(converted as { [key: string]: Json })),
    },
    { file: join(root, ENVIRONMENT_FILE), text: text(environment()) },
  ];
  writeOrCheck(files, values.check === true, 'postman');
}

runCli(USAGE, postman);
