import { type CanActivate, Controller, Get, Injectable, Post, UseGuards } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiOkResponse, ApiOperation } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { buildOpenApiDocument } from '../../swagger';
import { ApiError } from '../decorators/api-error.decorator';
import { AppException } from '../errors/app.exception';
import { ErrorCode } from '../errors/error-code.enum';
import { AllExceptionsFilter } from '../filters/all-exceptions.filter';
import {
  Deprecated,
  deprecationHeaders,
  MIN_NOTICE_DAYS,
  useDeprecationHeaders,
} from './deprecation';

/*
 * No operation of the API is deprecated today, so the mechanism is proven on a test-only
 * controller in a Nest application of its own, served over HTTP like the real one (Fastify,
 * the app's exception filter, the app's OpenAPI document builder).
 */

const LEGACY = { since: '2027-01-15', sunset: '2027-07-15', link: 'https://example.com/guide#v2' };

@Injectable()
class DenyGuard implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

@Controller('legacy')
class LegacyController {
  @Deprecated(LEGACY)
  @Get()
  @ApiOperation({ summary: 'Old list', description: 'Lists the old way.' })
  @ApiOkResponse({ description: 'the list' })
  @ApiError(404, [ErrorCode.NOT_FOUND])
  list(): { items: string[] } {
    return { items: ['a'] };
  }

  @Deprecated(LEGACY)
  @Get('missing')
  @ApiOperation({ summary: 'Old read' })
  @ApiOkResponse({ description: 'never' })
  missing(): never {
    throw AppException.notFound('Thing');
  }

  @Deprecated(LEGACY)
  @Post('locked')
  @UseGuards(DenyGuard)
  @ApiOperation({ summary: 'Old write' })
  @ApiOkResponse({ description: 'never' })
  locked(): void {}

  @Get('current')
  @ApiOperation({ summary: 'Current' })
  @ApiOkResponse({ description: 'the current one' })
  current(): { ok: true } {
    return { ok: true };
  }
}

describe('@Deprecated (docs/deprecation.md)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      controllers: [LegacyController],
      providers: [{ provide: APP_FILTER, useClass: AllExceptionsFilter }],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
    useDeprecationHeaders(app.getHttpAdapter().getInstance());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(() => app.close());

  const expected = {
    deprecation: `@${Date.UTC(2027, 0, 15) / 1000}`,
    sunset: 'Thu, 15 Jul 2027 00:00:00 GMT',
    link: '<https://example.com/guide#v2>; rel="deprecation"; type="text/html"',
  };

  it('sends Deprecation (RFC 9745), Sunset (RFC 8594) and Link rel=deprecation on a success', async () => {
    const res = await request(app.getHttpServer()).get('/legacy');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: ['a'] });
    expect(res.headers).toMatchObject(expected);
    // Sunset is an IMF-fixdate that parses back to the day given.
    expect(new Date(res.headers.sunset).toISOString()).toBe('2027-07-15T00:00:00.000Z');
  });

  it('sends them on an error answered by the exception filter', async () => {
    const res = await request(app.getHttpServer()).get('/legacy/missing');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: ErrorCode.NOT_FOUND });
    expect(res.headers).toMatchObject(expected);
  });

  it('sends them when a guard refuses the request before the handler', async () => {
    const res = await request(app.getHttpServer()).post('/legacy/locked');
    expect(res.status).toBe(403);
    expect(res.headers).toMatchObject(expected);
  });

  it('sends them on HEAD too', async () => {
    const res = await request(app.getHttpServer()).head('/legacy');
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject(expected);
  });

  it('leaves the other operations alone', async () => {
    const res = await request(app.getHttpServer()).get('/legacy/current');
    expect(res.status).toBe(200);
    expect(res.headers).not.toHaveProperty('deprecation');
    expect(res.headers).not.toHaveProperty('sunset');
    expect(res.headers).not.toHaveProperty('link');
  });

  it('marks the operation deprecated in the OpenAPI document, with the dates and headers', () => {
    const document = buildOpenApiDocument(app);
    const list = document.paths['/legacy'].get!;
    expect(list.deprecated).toBe(true);
    expect(list.summary).toBe('Old list');
    expect(list.description).toContain('since 2027-01-15');
    expect(list.description).toContain('from 2027-07-15');
    expect(list.description).toContain('https://example.com/guide#v2');
    expect(list.description).toContain('Lists the old way.');
    for (const status of ['200', '404']) {
      const response = list.responses[status] as { headers?: Record<string, unknown> };
      expect(Object.keys(response.headers ?? {}).sort()).toEqual(['Deprecation', 'Link', 'Sunset']);
    }
    expect(document.paths['/legacy/locked'].post!.deprecated).toBe(true);
    expect(document.paths['/legacy/current'].get!.deprecated).toBeUndefined();
  });
});

describe('deprecationHeaders: the policy checked when the decorator is applied', () => {
  it(`refuses a sunset less than ${MIN_NOTICE_DAYS} days after since`, () => {
    expect(() =>
      deprecationHeaders({ since: '2027-01-15', sunset: '2027-07-13', link: LEGACY.link }),
    ).toThrow(/at least 180 days/);
    expect(() =>
      deprecationHeaders({ since: '2027-01-15', sunset: '2027-07-14', link: LEGACY.link }),
    ).not.toThrow();
  });

  it.each([
    ['since', { since: '15.01.2027' }],
    ['sunset', { sunset: '2027-13-01' }],
    ['link', { link: '/guide' }],
    ['link', { link: 'ftp://example.com/guide' }],
  ])('refuses a malformed %s', (name, override) => {
    expect(() => deprecationHeaders({ ...LEGACY, ...override })).toThrow(name);
  });

  it('refuses to decorate a handler that is not a documented route yet', () => {
    expect(() => {
      class Misplaced {
        @Get()
        @Deprecated(LEGACY)
        handler(): void {}
      }
      return Misplaced;
    }).toThrow(/place it above the route/);
  });
});
