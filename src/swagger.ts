import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const;

/** The OpenAPI document, fixed up where @nestjs/swagger's defaults are wrong for clients. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('CRM API')
    .setDescription(
      'Multi-tenant CRM REST API. Sign in with POST /api/v1/auth/login, click "Authorize" and paste the ' +
        'accessToken; tenant-scoped routes also need the X-Organization-Id header (an id from ' +
        'GET /api/v1/organizations/me). Errors share one body: {statusCode, code, message, details?, requestId}.',
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
  return document;
}

/** Swagger UI at /docs, the document at /docs-json. */
export function setupSwagger(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  });
}
