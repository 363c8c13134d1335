import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import {
  DocumentBuilder,
  OpenAPIObject,
  type OperationObject,
  type ResponseObject,
  SchemaObject,
  SwaggerModule,
} from '@nestjs/swagger';
import {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
} from './common/idempotency/idempotency.service';
import { API_KEY_SCHEME } from './tenancy/access/access.decorator';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const;

/**
 * The repository (or image) root: the nearest directory holding package.json above this file,
 * which is src/ under ts-node and dist/src/ in the build (CommonJS, where __dirname exists). Jest
 * runs the sources as ES modules, without __dirname, always from the repository root.
 */
export function packageRoot(): string {
  const start = typeof __dirname === 'string' ? __dirname : process.cwd();
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json in ${start} or above`);
  }
}

/** The package's version (semantic versioning, CHANGELOG.md), which `info.version` follows. */
function packageVersion(): string {
  const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return version;
}

/**
 * Every tag an operation uses (@ApiTags), in the order Swagger UI lists them: a newcomer's way
 * through the API, from signing in to the records, then integration and operations.
 */
const TAGS: [name: string, description: string][] = [
  [
    'auth',
    'Register, sign in (password or single sign-on), rotate and revoke tokens, reset a forgotten ' +
      'password. Public except logout; no X-Organization-Id.',
  ],
  [
    'users',
    'The signed-in user: profile, password, personal data export and account erasure. No ' +
      'X-Organization-Id.',
  ],
  [
    'organizations',
    "Organizations (tenants): the caller's organizations, creating one, and the current " +
      'organization (X-Organization-Id) with its members and their roles.',
  ],
  [
    'roles',
    'The built-in roles (owner, admin, manager, member) and custom roles: which actions on which ' +
      "resources, on the own records or all of them; the caller's effective permissions.",
  ],
  [
    'api-keys',
    'Keys for scripts and integrations: bound to one organization and a role, sent as `Authorization: Bearer crm_...`, revoked at once.',
  ],
  [
    'contacts',
    'People the organization sells to: search, create, replace, delete, bulk writes, CSV import ' +
      'and export. Members see only the contacts they own.',
  ],
  [
    'companies',
    'The organizations contacts work for, with address and social profiles; CSV import and ' +
      'export, bulk writes. Deleting a company unlinks its contacts.',
  ],
  [
    'leads',
    'Prospects before they are customers: new, contacted, qualified, disqualified, and converted ' +
      'in one step into a contact, a company and a deal.',
  ],
  [
    'deals',
    'Opportunities with an amount and a currency, moving through the stages of a pipeline and ' +
      'the statuses new, in_progress, won and lost; bulk writes, CSV export.',
  ],
  [
    'pipelines',
    'Ordered stages with a win probability each; every organization has a default pipeline ' +
      '(qualification, proposal, negotiation, closed).',
  ],
  ['tasks', 'To-dos on a deal with a due date; filter the overdue ones.'],
  [
    'activities',
    "A deal's timeline: comments, and the entries the server writes for status and stage changes and new tasks.",
  ],
  [
    'analytics',
    'Deal figures over the deals the caller may see: summary by status, funnel per stage, ' +
      'weighted forecast.',
  ],
  [
    'notifications',
    "In-app notifications, the caller's preferences per channel (email, in-app, SMS) and the " +
      "organization's notification templates.",
  ],
  [
    'webhooks',
    'HTTPS endpoints that receive the domain events, signed (Standard Webhooks) and retried; ' +
      'their delivery log. Owners and admins.',
  ],
  [
    'events',
    "The organization's domain events (CloudEvents 1.0), the same ones webhooks and RabbitMQ " +
      'receive, kept EVENTS_RETENTION_DAYS.',
  ],
  [
    'audit',
    'Who did what: sign-ins, membership and role changes, API keys, webhooks, imports, exports ' +
      'and deletions. Owners and admins.',
  ],
  ['health', 'Liveness and readiness probes for load balancers and orchestrators. Public.'],
  [
    'operations',
    'Prometheus metrics at /metrics (outside /api/v1), protected by METRICS_TOKEN when it is set.',
  ],
];

/** The OpenAPI document, fixed up where @nestjs/swagger's defaults are wrong for clients. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('CRM API')
    .setDescription(
      'Multi-tenant CRM REST API. Sign in with POST /api/v1/auth/login, click "Authorize" and paste the ' +
        'accessToken; tenant-scoped routes also need the X-Organization-Id header (an id from ' +
        'GET /api/v1/organizations/me). Errors share one body: {statusCode, code, message, details?, requestId}.\n\n' +
        '**New here?** The usage guide, `docs/guide.md` in the repository, walks from sign-up to a won ' +
        'deal, analytics and CSV import/export with copy-paste curl commands.\n\n' +
        'Besides the errors each operation lists, any request can be refused before it reaches an ' +
        'operation, or fail, with the same body:\n\n' +
        '| status | code | when |\n|---|---|---|\n' +
        '| 400 | `BAD_REQUEST` | the HTTP request itself is malformed (e.g. control characters in a header) |\n' +
        '| 400 | `VALIDATION_FAILED` | a JSON body nesting objects or arrays deeper than 32 levels |\n' +
        '| 408 | `REQUEST_TIMEOUT` | the request was not received in time |\n' +
        '| 413 | `PAYLOAD_TOO_LARGE` | a body over the size limit |\n' +
        '| 431 | `HEADERS_TOO_LARGE` | the request line and headers (URL and query included) over 16 KB |\n' +
        '| 500 | `INTERNAL_ERROR` | an unexpected failure of the server (quote the `requestId` when reporting it) |\n' +
        '| 503 | `NOT_READY` | the server is shutting down or the database is busy (`Retry-After`) |\n\n' +
        '**Safe retries.** Every authenticated POST accepts an optional `Idempotency-Key` header (1..255 ' +
        'printable ASCII characters). Its first completed answer (status, body, Content-Type, Location and ' +
        'ETag) is kept for 24 hours per caller (user, or API key), organization (`X-Organization-Id`) and ' +
        'key, 4xx answers included; a retry with the same key, URL and body gets that answer again, byte ' +
        'for byte, with `Idempotent-Replayed: true`, and changes nothing. The same key with another request ' +
        'answers 422 `IDEMPOTENCY_KEY_REUSED`; a retry while the first request still runs, 409 ' +
        '`IDEMPOTENCY_KEY_IN_USE`. 5xx answers are not kept. Public operations (register, login, refresh, ' +
        'password reset) and the rest of /auth ignore the header: replaying a sign-in answer to whoever ' +
        'knows its key would hand out tokens. Multipart uploads (imports) are identified by URL only: the ' +
        'file is not part of the comparison.',
    )
    .setVersion(packageVersion())
    .addServer('/', 'This server; every operation is under /api/v1, except /metrics')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'crm_...',
        description:
          "An API key (POST /api/v1/api-keys): `Authorization: Bearer crm_...`. Bound to its organization (X-Organization-Id optional) and role; only the organization's routes accept it.",
      },
      API_KEY_SCHEME,
    )
    .build();
  config.tags = TAGS.map(([name, description]) => ({ name, description }));
  // No e-mail or site to give (the package is private): a name, not an invented address.
  config.info.contact = { name: 'CRM API maintainers' };
  config.info.license = { name: 'Proprietary (package.json: UNLICENSED)' };
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) =>
      `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
    // An operation is listed under the tags its controller or method names (those of TAGS),
    // never under the controller's class name (ImportExport, Bulk) as well.
    autoTagControllers: false,
  });
  // Routes without a security requirement are public: say so explicitly (security: []),
  // otherwise generated clients and linters assume the global default.
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation && !operation.security) operation.security = [];
    }
  }
  for (const schema of Object.values(document.components?.schemas ?? {})) {
    if ('$ref' in schema) continue;
    moveDefaultsOfOptionalProperties(schema);
    exampleIdsAndTimes(schema);
  }
  documentIdempotencyKeys(document);
  documentRefusalsBeforeHandlers(document);
  documentPermissions(document);
  return document;
}

const AUTH_PATH = /^\/api\/v\d+\/auth\//;

/**
 * Answers the guards and the validation pipe give before a handler runs, on the operations where
 * they can happen (the e2e tests fail on any status an operation does not list, decision 0044):
 * 403 to an API key outside the organization's routes (API.md section 16: a key never reaches
 * /auth/*, public ones included, nor the signed-in user's own routes), and 415 to a JSON body
 * sent with another Content-Type.
 */
function documentRefusalsBeforeHandlers(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const security = operation.security ?? [];
      const takesKeys = security.some((requirement) => API_KEY_SCHEME in requirement);
      if (!takesKeys && (security.length || AUTH_PATH.test(path))) {
        addErrorCode(
          operation,
          403,
          'FORBIDDEN',
          "an API key was sent: keys call only the organization's routes",
        );
      }
      const body = operation.requestBody;
      if (body && !('$ref' in body) && body.content['application/json']) {
        addErrorCode(
          operation,
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          'the body was sent with another Content-Type than application/json',
        );
      }
    }
  }
}

/**
 * The permission each tenant-scoped operation requires (API.md section 16), from the
 * `x-permissions` its @Can() declares, at the end of its description, so that Swagger UI users
 * see it next to the operation.
 */
function documentPermissions(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation: (OperationObject & { 'x-permissions'?: string[] }) | undefined =
        item[method];
      const permissions = operation?.['x-permissions'];
      if (!operation || !permissions) continue;
      const access = permissions.length
        ? `**Requires** ${permissions.map((p) => `\`${p}\``).join(' and ')} (GET /api/v1/users/me/permissions lists the caller's).`
        : '**Any member** of the organization.';
      operation.description = operation.description
        ? `${operation.description}\n\n${access}`
        : access;
    }
  }
}

/** Routes whose POSTs ignore Idempotency-Key although they may require a token (tokens are never replayed). */
const IDEMPOTENCY_EXEMPT_PATH = /^\/api\/v\d+\/auth\//;

/**
 * Idempotency-Key (API.md section 17) on every POST that takes part (authenticated, outside
 * /auth): the optional header parameter, `Idempotent-Replayed` on its success answers, and its
 * 409 IDEMPOTENCY_KEY_IN_USE and 422 IDEMPOTENCY_KEY_REUSED (the 400 of an invalid key is the
 * VALIDATION_FAILED every POST documents). Run after the public operations got `security: []`.
 */
function documentIdempotencyKeys(document: OpenAPIObject): void {
  const components = (document.components ??= {});
  components.parameters = {
    ...components.parameters,
    IdempotencyKey: {
      name: IDEMPOTENCY_KEY_HEADER,
      in: 'header',
      required: false,
      description:
        'Makes a retry safe: the first completed answer for this key (per caller and organization) is ' +
        'kept 24 h and replayed to a retry with the same URL and body (Idempotent-Replayed: true). ' +
        '1..255 printable ASCII characters, e.g. a UUID.',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x20-\\x7E]+$' },
    },
  };
  components.headers = {
    ...components.headers,
    IdempotentReplayed: {
      description:
        'Present (true) when this is the kept answer of an earlier request with the same Idempotency-Key',
      schema: { type: 'string', enum: ['true'] },
    },
  };
  for (const [path, item] of Object.entries(document.paths)) {
    const operation = item.post;
    if (!operation?.security?.length || IDEMPOTENCY_EXEMPT_PATH.test(path)) continue;
    operation.parameters = [
      ...(operation.parameters ?? []),
      { $ref: '#/components/parameters/IdempotencyKey' },
    ];
    for (const [status, response] of Object.entries(operation.responses)) {
      if (!response || !/^2\d\d$/.test(status) || '$ref' in response) continue;
      response.headers = {
        ...response.headers,
        [IDEMPOTENT_REPLAYED_HEADER]: { $ref: '#/components/headers/IdempotentReplayed' },
      };
    }
    addErrorCode(
      operation,
      409,
      'IDEMPOTENCY_KEY_IN_USE',
      'a request with this Idempotency-Key is still running',
    );
    addErrorCode(
      operation,
      422,
      'IDEMPOTENCY_KEY_REUSED',
      'this Idempotency-Key was used with another request',
    );
  }
}

/** Adds an error code to an operation's answer of that status (created when absent). */
function addErrorCode(
  operation: OperationObject,
  status: number,
  code: string,
  when: string,
): void {
  const existing = operation.responses[status] as ResponseObject | undefined;
  if (existing && !('$ref' in existing)) {
    existing.description = `${existing.description} | ${code}: ${when}`;
    return;
  }
  operation.responses[status] = {
    description: `${code}: ${when}`,
    content: {
      'application/json': {
        schema: { $ref: '#/components/schemas/ErrorResponseDto' },
        example: {
          statusCode: status,
          code,
          message: '…',
          requestId: '6f1c2a9e-3a0b-4f4e-9d55-2b1f0c7d9a10',
        },
      },
    },
  };
}

/** The time of every `date-time` property without an example of its own (API.md's example time). */
const EXAMPLE_TIME = '2026-11-21T10:00:00.000Z';

/**
 * A realistic example for every id and time property that has none, so that Swagger UI and the
 * Postman collection show plausible bodies rather than "string": a UUID derived from the
 * property's name (the same `organizationId` in every schema, different from `ownerId`), and
 * one ISO time.
 */
function exampleIdsAndTimes(schema: SchemaObject): void {
  const properties = schema.properties ?? {};
  for (const [name, property] of Object.entries(properties)) {
    if ('$ref' in property || property.example !== undefined) continue;
    const example =
      property.format === 'uuid'
        ? exampleUuid(name)
        : property.format === 'date-time'
          ? EXAMPLE_TIME
          : undefined;
    // A new object: the property may be the decorator's metadata, shared between builds.
    if (example !== undefined) properties[name] = { ...property, example };
  }
}

/** A version-4-shaped UUID made from `name`'s SHA-256: stable from one build to the next. */
function exampleUuid(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * An optional property of a component schema keeps its default in the description only.
 * openapi-typescript (defaultNonNullable, on by default) types a property that has a `default`
 * as always present, in requests too: a generated client would have to send every defaulted
 * field (POST /deals without `status`: "Property 'status' is missing"). Query parameters are
 * not affected (their defaults stay).
 */
function moveDefaultsOfOptionalProperties(schema: SchemaObject): void {
  const properties = schema.properties ?? {};
  for (const [name, property] of Object.entries(properties)) {
    if ('$ref' in property || property.default === undefined) continue;
    if (schema.required?.includes(name)) continue;
    // A new object: the property may be the decorator's metadata, shared between builds.
    const rest = { ...property };
    delete rest.default;
    const note = `Default when omitted: ${JSON.stringify(property.default)}.`;
    properties[name] = {
      ...rest,
      description: rest.description ? `${rest.description.replace(/\.?$/, '.')} ${note}` : note,
    };
  }
}

/** Swagger UI at /docs, the document at /docs-json. */
export function setupSwagger(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  });
}
