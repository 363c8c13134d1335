import type { INestApplication } from '@nestjs/common';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { OpenAPIObject, ResponseObject } from '@nestjs/swagger';
import {
  OpenAPIBackend,
  SetMatchType,
  ValidationContext,
  type Document,
  type Operation,
} from 'openapi-backend';
import type { Response, Test } from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { buildOpenApiDocument } from '../../src/swagger';

/**
 * Every answer an e2e test receives through `createTestApp().http()` is checked against the
 * OpenAPI document the app builds (the one /docs-json serves), with openapi-backend: its router
 * finds the operation by method and path, its Ajv validators check the body against the schema
 * of that operation and status, and the documented headers. A mismatch is recorded here and fails
 * the running test in `afterEach` (test/support/openapi-responses.setup.ts). What counts as a
 * mismatch: docs/decisions/0044-responses-checked-against-the-document.md.
 */

export interface ResponseMismatch {
  method: string;
  path: string;
  status: number;
  problems: string[];
  body: string;
}

/**
 * Answers the document declares once, in the table of its description, for any request (refused
 * before it reaches an operation, or failed): status -> the codes its error body may carry.
 */
function answersToAnyRequest(document: OpenAPIObject): Map<number, string[]> {
  const answers = new Map<number, string[]>();
  const rows = (document.info.description ?? '').matchAll(/^\| (\d{3}) \| `([A-Z_]+)` \|/gm);
  for (const [, status, code] of rows) {
    answers.set(Number(status), [...(answers.get(Number(status)) ?? []), code]);
  }
  return answers;
}

const BODY_SHOWN = 400;

interface Checker {
  api: OpenAPIBackend;
  errorBody: ValidateFunction;
  answersToAnyRequest: Map<number, string[]>;
}

/** Built once per test file (Jest gives each file its own modules): every app has the same routes. */
let checker: Promise<Checker> | undefined;
let ready: Checker | undefined;
const mismatches: ResponseMismatch[] = [];
const unchecked = new WeakSet<Test>();

/** Builds the document of `app` and its validators, unless a previous app of this file did. */
export function prepareResponseChecks(app: INestApplication): Promise<void> {
  checker ??= (async () => {
    const api = new OpenAPIBackend({
      // A JSON copy, as /docs-json serves it (the built one shares objects with the decorators).
      definition: allowNullNextToCompositions<Document>(
        JSON.parse(JSON.stringify(buildOpenApiDocument(app))),
      ),
      strict: true,
      validate: true,
      // Validators are compiled per operation on its first answer, not all up front.
      quick: true,
      // uuid, date-time, email, uri...: Ajv knows none of OpenAPI's formats by itself.
      customizeAjv: (ajv) => addFormats(ajv),
      // Every problem of an answer at once (a valid answer is checked in full either way).
      ajvOpts: { allErrors: true },
    });
    await api.init();
    const errorSchema = (api.definition as unknown as OpenAPIObject).components?.schemas
      ?.ErrorResponseDto;
    if (!errorSchema) throw new Error('the document has no ErrorResponseDto schema');
    const errorBody = api.validator.getAjv(ValidationContext.Response).compile(errorSchema);
    ready = {
      api,
      errorBody,
      answersToAnyRequest: answersToAnyRequest(api.definition as unknown as OpenAPIObject),
    };
    return ready;
  })();
  return checker.then(() => undefined);
}

/**
 * `nullable: true` next to `allOf`/`oneOf`/`anyOf` (what @nestjs/swagger writes for a nullable
 * property of a DTO type: `{nullable: true, allOf: [{$ref}]}`) allows null, as the document's
 * readers take it (openapi-typescript types it `X | null`, Swagger UI shows it nullable). In
 * JSON Schema, which Ajv applies, the `allOf` would still refuse null: it becomes
 * `anyOf: [null, the rest]`, in place.
 */
function allowNullNextToCompositions<T>(node: T): T {
  if (Array.isArray(node)) {
    node.forEach(allowNullNextToCompositions);
  } else if (node && typeof node === 'object') {
    const schema = node as Record<string, unknown>;
    Object.values(schema).forEach(allowNullNextToCompositions);
    if (schema.nullable === true && (schema.allOf || schema.oneOf || schema.anyOf)) {
      const rest = { ...schema };
      delete rest.nullable;
      for (const key of Object.keys(schema)) delete schema[key];
      schema.anyOf = [{ type: 'null' }, rest];
    }
  }
  return node;
}

/**
 * `agent` whose every request's answer is checked against the document. Hooked on superagent's
 * 'response' event, which fires with the parsed body before the test sees it.
 */
export function checkedAgent(agent: TestAgent): TestAgent {
  const methods = ['get', 'post', 'put', 'patch', 'delete', 'del', 'head', 'options'] as const;
  const wrapped = { ...agent } as TestAgent;
  for (const method of methods) {
    const send = agent[method] as ((url: string) => Test) | undefined;
    if (!send) continue;
    (wrapped as unknown as Record<string, (url: string) => Test>)[method] = (url: string) => {
      const test = send.call(agent, url);
      test.on('response', (res: Response) => {
        const found = check(test, res);
        if (found) mismatches.push(found);
      });
      return test;
    };
  }
  return wrapped;
}

/**
 * Opts one request out of the operation check, for tests that send deliberately malformed HTTP
 * (fuzzing, hardening): its answer is only checked against the error body when it is an error.
 */
export function uncheckedOperation<T extends Test>(test: T): T {
  unchecked.add(test);
  return test;
}

/** The mismatches recorded since the last call (the setup file's afterEach takes them). */
export function takeResponseMismatches(): ResponseMismatch[] {
  return mismatches.splice(0);
}

export function describeMismatches(found: ResponseMismatch[]): string {
  const lines = found.map(
    (m) =>
      `${m.method} ${m.path} -> ${m.status}\n` +
      m.problems.map((p) => `    - ${p}\n`).join('') +
      `    body: ${m.body}`,
  );
  return (
    `${found.length} response(s) did not match the OpenAPI document ` +
    `(docs/decisions/0044-responses-checked-against-the-document.md):\n\n${lines.join('\n\n')}`
  );
}

/** The problems of one answer, or undefined when it matches the document (or is not checked). */
export function check(test: Test, res: Response): ResponseMismatch | undefined {
  if (!ready) return undefined;
  const request = test as Test & { method: string; url: string };
  const method = request.method.toLowerCase();
  const path = new URL(request.url).pathname;
  const problems = unchecked.has(test)
    ? errorBodyProblems(ready, res)
    : answerProblems(ready, method, path, res);
  if (!problems.length) return undefined;
  return { method: method.toUpperCase(), path, status: res.status, problems, body: shown(res) };
}

function answerProblems(c: Checker, method: string, path: string, res: Response): string[] {
  const operation = c.api.router.matchOperation({ method, path, headers: {} });
  // Routes outside the document (/docs, /docs-json, unknown paths): only an error body is checked.
  if (!operation) return errorBodyProblems(c, res);
  const responses = operation.responses as Record<string, ResponseObject>;
  const documented =
    responses[res.status] ?? responses[`${Math.floor(res.status / 100)}XX`] ?? responses.default;
  if (!documented) {
    const codes = c.answersToAnyRequest.get(res.status);
    if (!codes) {
      return [
        `status ${res.status} is not documented for ${operation.operationId} ` +
          `(documented: ${Object.keys(responses).join(', ')})`,
      ];
    }
    const code = (res.body as { code?: unknown } | undefined)?.code;
    const problems = errorBodyProblems(c, res);
    if (typeof code === 'string' && !codes.includes(code)) {
      problems.push(`code ${code} is not one the document allows any request with ${res.status}`);
    }
    return problems;
  }
  return [...bodyProblems(c, operation, documented, res), ...headerProblems(c, operation, res)];
}

function bodyProblems(
  c: Checker,
  operation: Operation,
  documented: ResponseObject,
  res: Response,
): string[] {
  const types = Object.keys(documented.content ?? {});
  const received = res.type;
  if (!hasBody(res)) {
    return types.length && res.request.method !== 'HEAD'
      ? [`no body, documented: ${types.join(', ')}`]
      : [];
  }
  if (!types.length) return [`a ${received || 'body'} body where the document declares none`];
  if (!types.some((type) => mediaTypeMatches(type, received))) {
    return [`Content-Type ${received || '(none)'}, documented: ${types.join(', ')}`];
  }
  if (received !== 'application/json') return [];
  const result = c.api.validator.validateResponse(res.body, operation, res.status);
  return (result.errors ?? []).map(describeError);
}

/** Ajv's message, with what it names (allowed values, unknown property...) when it adds to it. */
function describeError(e: ErrorObject): string {
  const said = `${e.instancePath || '(body)'} ${e.message ?? e.keyword}`;
  return ['type', 'required', 'anyOf'].includes(e.keyword)
    ? said
    : `${said} ${JSON.stringify(e.params)}`;
}

function headerProblems(c: Checker, operation: Operation, res: Response): string[] {
  const result = c.api.validator.validateResponseHeaders(res.headers, operation, {
    statusCode: res.status,
    setMatchType: SetMatchType.Superset,
  });
  return (result.errors ?? []).map(
    (e) => `header ${e.instancePath.replace(/^\/headers\/?/, '') || ''}: ${e.message ?? e.keyword}`,
  );
}

/** Errors share one body (API.md section 1), wherever they come from. */
function errorBodyProblems(c: Checker, res: Response): string[] {
  if (res.status < 400 || !hasBody(res)) return [];
  if (res.type !== 'application/json') {
    return [`Content-Type ${res.type || '(none)'} for an error, documented: application/json`];
  }
  if (c.errorBody(res.body)) return [];
  return (c.errorBody.errors ?? []).map((e) => `${describeError(e)} (error body)`);
}

function hasBody(res: Response): boolean {
  if (typeof res.text === 'string') return res.text.length > 0;
  if (Buffer.isBuffer(res.body)) return res.body.length > 0;
  return Number(res.headers['content-length'] ?? 0) > 0;
}

/** `text/*` and `*\/*` in the document cover any subtype. */
function mediaTypeMatches(documented: string, received: string): boolean {
  const [type, subtype] = documented.split(';')[0].trim().split('/');
  const [rType, rSubtype] = received.split('/');
  return (type === '*' || type === rType) && (subtype === '*' || subtype === rSubtype);
}

function shown(res: Response): string {
  // The parsed body for JSON (what was validated), the text otherwise.
  const text =
    res.type === 'application/json' || typeof res.text !== 'string'
      ? (JSON.stringify(res.body) ?? '')
      : res.text;
  return text.length > BODY_SHOWN ? `${text.slice(0, BODY_SHOWN)}… (${text.length} chars)` : text;
}
