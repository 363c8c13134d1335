import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SchemaObject, SwaggerModule } from '@nestjs/swagger';

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
        '| 503 | `NOT_READY` | the server is shutting down or the database is busy (`Retry-After`) |',
    )
    .setVersion('1.0.0')
    .addServer('/')
    .addTag('auth', 'Register, sign in, rotate and revoke tokens')
    .addTag('users', 'The signed-in user')
    .addTag('organizations', 'Organizations (tenants) and their members')
    .addTag('health', 'Liveness and readiness')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
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
  return document;
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
