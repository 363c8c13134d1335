import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  PathItemObject,
} from '@nestjs/swagger';
import { securityHeaders } from '../src/app.factory';
import { ACCESS_KEY, type AccessRule } from '../src/tenancy/access/access.decorator';
import type request from 'supertest';
import { as, expectError, register } from './support/api';
import { createTestApp, TestApp } from './support/test-app';

interface Route {
  name: string;
  rule: AccessRule | undefined;
}

/** Every route handler of the application, with the access rule it declares. */
function routesOf(t: TestApp): Route[] {
  const routes: Route[] = [];
  for (const module of t.app.get(ModulesContainer).values()) {
    for (const { metatype } of module.controllers.values()) {
      if (typeof metatype !== 'function') continue;
      const prototype = metatype.prototype as Record<string, unknown>;
      for (const key of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[key];
        if (key === 'constructor' || typeof handler !== 'function') continue;
        if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
        const rule =
          (Reflect.getMetadata(ACCESS_KEY, handler) as AccessRule | undefined) ??
          (Reflect.getMetadata(ACCESS_KEY, metatype) as AccessRule | undefined);
        routes.push({ name: `${method} ${metatype.name}.${key}`, rule });
      }
    }
  }
  return routes;
}

describe('Application-wide behaviour', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CORS_ORIGINS: 'https://app.example.com', BODY_LIMIT_BYTES: '2048' });
  });
  afterAll(() => t.close());

  describe('access rules', () => {
    it('every route declares @Public(), @Authenticated() or @Can(...)', () => {
      const routes = routesOf(t);
      expect(routes.length).toBeGreaterThan(10);
      expect(routes.filter((r) => !r.rule).map((r) => r.name)).toEqual([]);
    });

    it('only the documented routes are public', () => {
      const publicRoutes = routesOf(t)
        .filter((r) => r.rule?.kind === 'public')
        .map((r) => r.name)
        .sort();
      expect(publicRoutes).toEqual([
        'GET HealthController.live',
        'GET HealthController.ready',
        'GET MetricsController.metrics', // its own METRICS_TOKEN when set
        'GET SsoController.authorize',
        'GET SsoController.callback',
        'POST AuthController.login',
        'POST AuthController.refresh',
        'POST AuthController.register',
        'POST PasswordResetController.forgot',
        'POST PasswordResetController.reset',
      ]);
    });
  });

  describe('errors and HTTP hygiene', () => {
    it('an unknown route answers the error body with 404 NOT_FOUND', async () => {
      expectError(await t.http().get('/api/v1/nope'), 404, 'NOT_FOUND');
    });

    it('malformed JSON answers 400 VALIDATION_FAILED with a clear message', async () => {
      const res = await t
        .http()
        .post('/api/v1/auth/login')
        .set('content-type', 'application/json')
        .send('{"email": ');
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.message).toBe('Malformed JSON body');
    });

    it('a malformed body does not jump the precedence: 401, then header, then role, then 400', async () => {
      const owner = await register(t);
      const broken = (req: request.Test): request.Test =>
        req.set('content-type', 'application/json').send('{"name": ');
      expectError(
        await broken(t.http().patch('/api/v1/organizations/current')),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await broken(t.http().patch('/api/v1/organizations/current').set(as(owner))),
        400,
        'INVALID_ORGANIZATION_HEADER',
      );
      const outsider = await register(t);
      expectError(
        await broken(
          t.http().patch('/api/v1/organizations/current').set(as(outsider, owner.organizationId)),
        ),
        403,
        'NOT_A_MEMBER',
      );
      const res = await broken(
        t.http().patch('/api/v1/organizations/current').set(as(owner, owner.organizationId)),
      );
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.body.message).toBe('Malformed JSON body');
      const empty = await t
        .http()
        .post('/api/v1/auth/login')
        .set('content-type', 'application/json')
        .send('');
      expectError(empty, 400, 'VALIDATION_FAILED');
    });

    it('a body over the limit answers 413 PAYLOAD_TOO_LARGE', async () => {
      const res = await t
        .http()
        .post('/api/v1/auth/register')
        .send({
          email: 'big@example.com',
          password: 'x1'.repeat(2000),
          name: 'n',
          organizationName: 'o',
        });
      expectError(res, 413, 'PAYLOAD_TOO_LARGE');
      const rows: unknown[] = await t.db.query('SELECT 1 FROM users WHERE email = $1', [
        'big@example.com',
      ]);
      expect(rows).toHaveLength(0);
    });

    it('an unsupported content type answers 415 with the error body', async () => {
      const res = await t
        .http()
        .post('/api/v1/auth/login')
        .set('content-type', 'application/xml')
        .send('<login/>');
      expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('sets security headers (helmet) and the request id on every response', async () => {
      // What helmet writes for the app's configuration, computed once at start-up.
      const security = securityHeaders();
      expect(Object.keys(security).sort()).toEqual([
        'content-security-policy',
        'cross-origin-opener-policy',
        'cross-origin-resource-policy',
        'origin-agent-cluster',
        'referrer-policy',
        'strict-transport-security',
        'x-content-type-options',
        'x-dns-prefetch-control',
        'x-download-options',
        'x-frame-options',
        'x-permitted-cross-domain-policies',
        'x-xss-protection',
      ]);
      // On an answer, an unmatched route and an error raised by a guard.
      const ok = await t.http().get('/api/v1/health');
      const unmatched = await t.http().get('/api/v1/nope');
      const unauthorized = await t.http().get('/api/v1/contacts');
      for (const res of [ok, unmatched, unauthorized]) {
        expect(res.headers).toMatchObject(security);
        expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      }
      expect(ok.headers['x-content-type-options']).toBe('nosniff');
      expect(ok.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(ok.headers['content-security-policy']).toContain("default-src 'self'");
      expect(unauthorized.status).toBe(401);
    });

    it('echoes a well-formed client X-Request-Id and replaces a malformed one', async () => {
      const ok = await t.http().get('/api/v1/nope').set('x-request-id', 'client-1.2:3_x');
      expect(ok.headers['x-request-id']).toBe('client-1.2:3_x');
      expect(ok.body.requestId).toBe('client-1.2:3_x');
      const bad = await t.http().get('/api/v1/nope').set('x-request-id', 'has space');
      expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(bad.body.requestId).toBe(bad.headers['x-request-id']);
    });

    it('allows CORS only for configured origins', async () => {
      const allowed = await t
        .http()
        .options('/api/v1/users/me')
        .set('origin', 'https://app.example.com')
        .set('access-control-request-method', 'GET')
        .set('access-control-request-headers', 'authorization,x-organization-id');
      expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(allowed.headers['access-control-allow-headers']).toMatch(/x-organization-id/i);
      const other = await t.http().get('/api/v1/health').set('origin', 'https://evil.example.com');
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('unexpected failures answer a generic 500 and are logged with their stack and request id', async () => {
      const logs: Record<string, unknown>[] = [];
      const other = await createTestApp({ LOG_LEVEL: 'error' }, logs);
      const user = await register(other);
      await other.db.destroy(); // every query now fails inside the handler
      const res = await other
        .http()
        .get('/api/v1/users/me')
        .set(as(user))
        .set('x-request-id', 'trace-500');
      expectError(res, 500, 'INTERNAL_ERROR');
      expect(res.body.message).toContain('trace-500');
      expect(JSON.stringify(res.body)).not.toMatch(/typeorm|driver|pool|stack|Error:/i);
      const logged = logs.find((l) => l.requestId === 'trace-500');
      expect(logged).toEqual(
        expect.objectContaining({
          level: 50,
          msg: 'unhandled error',
          err: expect.objectContaining({ stack: expect.any(String) }),
        }),
      );
      await other.close();
    });

    it('writes one JSON log line per request with its request id', async () => {
      const logs: Record<string, unknown>[] = [];
      const other = await createTestApp({ LOG_LEVEL: 'info' }, logs);
      await other.http().get('/api/v1/health').set('x-request-id', 'log-line-1');
      const lines = logs.filter((l) => l.requestId === 'log-line-1');
      expect(lines.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
      expect(lines[1]).toEqual(
        expect.objectContaining({ res: { statusCode: 200 }, time: expect.any(String) }),
      );
      await other.close();
    });
  });

  describe('OpenAPI document', () => {
    let doc: OpenAPIObject;
    const operations = (): [string, string, OperationObject][] =>
      Object.entries<PathItemObject>(doc.paths).flatMap(([path, item]) =>
        (['get', 'post', 'put', 'patch', 'delete'] as const)
          .filter((m) => item[m])
          .map((m): [string, string, OperationObject] => [m, path, item[m]!]),
      );

    beforeAll(async () => {
      const res = await t.http().get('/docs-json');
      expect(res.status).toBe(200);
      doc = res.body as OpenAPIObject;
    });

    it('serves Swagger UI at /docs', async () => {
      const res = await t.http().get('/docs');
      expect(res.status).toBe(200);
      expect(res.text).toContain('swagger-ui');
    });

    it('has a relative server and the bearer scheme', () => {
      expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }]);
      expect(doc.components?.securitySchemes?.bearer).toEqual(
        expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      );
    });

    it('documents every operation with a summary, an operationId and an error response', () => {
      for (const [method, path, op] of operations()) {
        expect({ route: `${method} ${path}`, summary: typeof op.summary }).toEqual({
          route: `${method} ${path}`,
          summary: 'string',
        });
        expect(op.operationId).toBeTruthy();
        if (!path.startsWith('/api/v1/health')) {
          expect(Object.keys(op.responses).some((s) => Number(s) >= 400)).toBe(true);
        }
      }
    });

    it('marks public operations with security: [], signed-in ones with bearer, tenant ones with bearer or an API key', () => {
      for (const [method, path, op] of operations()) {
        const isPublic =
          /^\/metrics$|\/(health|auth\/(register|login|refresh|password\/|oidc\/))/.test(path);
        const tenant =
          !isPublic &&
          !/^\/api\/v1\/(auth|users\/me(?!\/permissions)|organizations(\/me)?$)/.test(path);
        expect({ route: `${method} ${path}`, security: op.security }).toEqual({
          route: `${method} ${path}`,
          security: isPublic ? [] : tenant ? [{ bearer: [] }, { apiKey: [] }] : [{ bearer: [] }],
        });
      }
    });

    it('documents the X-Organization-Id header on every tenant-scoped operation, and only there (optional: an API key names its organization)', () => {
      for (const [method, path, op] of operations()) {
        const header = (op.parameters as ParameterObject[] | undefined)?.find(
          (p) => p.in === 'header' && p.name === 'X-Organization-Id',
        );
        const tenant =
          path !== '/metrics' &&
          !/^\/api\/v1\/(auth|health|users\/me(?!\/permissions)|organizations(\/me)?$)/.test(path);
        expect({ route: `${method} ${path}`, required: header?.required }).toEqual({
          route: `${method} ${path}`,
          required: tenant ? false : undefined,
        });
      }
    });

    it('documents list parameters without a default for limit, and both page shapes', () => {
      const op = doc.paths['/api/v1/organizations/current/members'].get!;
      const params = op.parameters as ParameterObject[];
      const byName = (name: string): ParameterObject | undefined =>
        params.find((p) => p.name === name);
      expect(byName('page')?.schema).toEqual(expect.objectContaining({ default: 1, minimum: 1 }));
      expect(byName('limit')?.schema).toEqual(
        expect.objectContaining({ minimum: 1, maximum: 100 }),
      );
      expect(byName('limit')?.schema).not.toHaveProperty('default');
      expect(byName('cursor')).toBeDefined();
      const schema = JSON.stringify(op.responses['200']);
      expect(schema).toContain('#/components/schemas/PageDto');
      expect(schema).toContain('#/components/schemas/CursorPageDto');
      expect(schema).toContain('#/components/schemas/MemberDto');
    });

    it('gives login 200 and register 201 with typed schemas', () => {
      expect(doc.paths['/api/v1/auth/login'].post?.responses['200']).toBeDefined();
      expect(doc.paths['/api/v1/auth/register'].post?.responses['201']).toBeDefined();
      expect(doc.components?.schemas?.ErrorResponseDto).toBeDefined();
    });
  });
});
