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
} from './common/idempotency/idempotency.interceptor';
import { API_KEY_SCHEME } from './tenancy/access/access.decorator';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const;

/** The OpenAPI document, fixed up where @nestjs/swagger's defaults are wrong for clients. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('CRM API')
    .setDescription(
      'Multi-tenant CRM REST API. Sign in with POST /api/v1/auth/login, click "Authorize" and paste the ' +
        'accessToken; tenant-scoped routes also need the X-Organization-Id header (an id from ' +
        'GET /api/v1/organizations/me). Errors share one body: {statusCode, code, message, details?, requestId}.\n\n' +
        'Besides the errors each operation lists, any request can be refused before it reaches an ' +
        'operation, with the same body:\n\n' +
        '| status | code | when |\n|---|---|---|\n' +
        '| 400 | `BAD_REQUEST` | the HTTP request itself is malformed (e.g. control characters in a header) |\n' +
        '| 400 | `VALIDATION_FAILED` | a JSON body nesting objects or arrays deeper than 32 levels |\n' +
        '| 408 | `REQUEST_TIMEOUT` | the request was not received in time |\n' +
        '| 413 | `PAYLOAD_TOO_LARGE` | a body over the size limit |\n' +
        '| 431 | `HEADERS_TOO_LARGE` | the request line and headers (URL and query included) over 16 KB |\n' +
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
    .setVersion('1.0.0')
    .addServer('/')
    .addTag('auth', 'Register, sign in, rotate and revoke tokens')
    .addTag('users', 'The signed-in user')
    .addTag('organizations', 'Organizations (tenants) and their members')
    .addTag('health', 'Liveness and readiness')
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
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) =>
      `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
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
    if (!('$ref' in schema)) moveDefaultsOfOptionalProperties(schema);
  }
  documentIdempotencyKeys(document);
  documentPermissions(document);
  return document;
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
