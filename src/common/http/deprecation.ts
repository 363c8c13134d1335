import { RequestMethod } from '@nestjs/common';
import { FASTIFY_ROUTE_CONFIG_METADATA } from '@nestjs/platform-fastify/constants';
import type { FastifyInstance, onSendHookHandler } from 'fastify';

/**
 * The API's deprecation policy made executable (docs/deprecation.md): an operation marked
 * `@Deprecated({ since, sunset, link })` is `deprecated: true` in the OpenAPI document, with the
 * dates and the link in its description, and every answer it gives (errors included, also a
 * guard's 401/403) carries
 *
 * - `Deprecation: @<unix seconds>` (RFC 9745): since when it is deprecated;
 * - `Sunset: <HTTP-date>` (RFC 8594): from when it may stop answering;
 * - `Link: <link>; rel="deprecation"; type="text/html"` (RFC 9745): what to use instead.
 */
export interface DeprecationOptions {
  /** The day the deprecation is announced, `YYYY-MM-DD` (UTC midnight). */
  since: string;
  /** The earliest day the operation may be removed, `YYYY-MM-DD`, at least MIN_NOTICE_DAYS later. */
  sunset: string;
  /** Where the migration is explained: an absolute URL (e.g. the changelog or guide section). */
  link: string;
}

/** The policy's minimum notice between the announcement and the removal (docs/deprecation.md). */
export const MIN_NOTICE_DAYS = 180;

/** The response headers of a deprecated operation, as sent. */
export interface DeprecationHeaders {
  deprecation: string;
  sunset: string;
  link: string;
}

/** Key of the deprecation headers in the Fastify route config (`request.routeOptions.config`). */
const CONFIG_KEY = 'deprecation';
/** @nestjs/swagger's metadata keys of an operation and of its responses (DECORATORS.*). */
const API_OPERATION = 'swagger/apiOperation';
const API_RESPONSE = 'swagger/apiResponse';
const DAY_MS = 86_400_000;

const HEADERS_DOC = {
  Deprecation: {
    description: 'This operation is deprecated since this time (RFC 9745: @<unix seconds>)',
    schema: { type: 'string', example: '@1798761600' },
  },
  Sunset: {
    description: 'This operation may stop answering from this time on (RFC 8594, HTTP-date)',
    schema: { type: 'string', example: 'Sat, 01 Jul 2028 00:00:00 GMT' },
  },
  Link: {
    description: 'rel="deprecation": where the replacement is explained',
    schema: { type: 'string', example: '<https://example.com/changelog>; rel="deprecation"' },
  },
};

function day(value: string, name: string): Date {
  const date = new Date(`${value}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(date.getTime())) {
    throw new Error(
      `@Deprecated(): ${name} must be a YYYY-MM-DD day, not ${JSON.stringify(value)}`,
    );
  }
  return date;
}

/** The headers for `options`, after checking them against the policy (throws otherwise). */
export function deprecationHeaders({
  since,
  sunset,
  link,
}: DeprecationOptions): DeprecationHeaders {
  const from = day(since, 'since');
  const until = day(sunset, 'sunset');
  const notice = (until.getTime() - from.getTime()) / DAY_MS;
  if (notice < MIN_NOTICE_DAYS) {
    throw new Error(
      `@Deprecated(): the sunset (${sunset}) must be at least ${MIN_NOTICE_DAYS} days after since (${since}), not ${notice}`,
    );
  }
  if (!URL.canParse(link) || !/^https?:$/.test(new URL(link).protocol)) {
    throw new Error(
      `@Deprecated(): link must be an absolute http(s) URL, not ${JSON.stringify(link)}`,
    );
  }
  return {
    deprecation: `@${from.getTime() / 1000}`,
    sunset: until.toUTCString(),
    link: `<${new URL(link).href}>; rel="deprecation"; type="text/html"`,
  };
}

/**
 * Marks an operation deprecated (see DeprecationOptions). Place it ABOVE the route decorator and
 * the other documentation decorators (decorators apply bottom-up): it reads the operation and
 * its documented responses, and fails loudly otherwise. The headers are sent by the hook that
 * useDeprecationHeaders() installs (createApp does).
 */
export function Deprecated(options: DeprecationOptions): MethodDecorator {
  const headers = deprecationHeaders(options);
  return (_target, key, descriptor) => {
    const handler = descriptor.value as object;
    const method = Reflect.getMetadata('method', handler) as RequestMethod | undefined;
    const operation = Reflect.getMetadata(API_OPERATION, handler) as
      { description?: string } | undefined;
    const responses = Reflect.getMetadata(API_RESPONSE, handler) as
      Record<string, { headers?: Record<string, unknown> }> | undefined;
    if (method === undefined || !operation || !responses) {
      throw new Error(
        `@Deprecated() on ${String(key)}: place it above the route and @ApiOperation decorators`,
      );
    }
    const note =
      `**Deprecated** since ${options.since}; it may stop answering from ${options.sunset} on ` +
      `(Sunset header). What to use instead: ${options.link}`;
    Reflect.defineMetadata(
      API_OPERATION,
      {
        ...operation,
        deprecated: true,
        description: operation.description ? `${note}\n\n${operation.description}` : note,
      },
      handler,
    );
    const documented = Object.fromEntries(
      Object.entries(responses).map(([status, response]) => [
        status,
        { ...response, headers: { ...response.headers, ...HEADERS_DOC } },
      ]),
    );
    Reflect.defineMetadata(API_RESPONSE, documented, handler);
    const config = Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler) as
      Record<string, unknown> | undefined;
    Reflect.defineMetadata(
      FASTIFY_ROUTE_CONFIG_METADATA,
      { ...config, [CONFIG_KEY]: headers },
      handler,
    );
    return descriptor;
  };
}

/**
 * Sends the headers of @Deprecated routes: an onSend hook added to those routes only when they
 * are registered (every other route pays nothing), so it runs for every answer of the route,
 * including errors answered by guards, pipes and the exception filter. Call before app.init().
 */
export function useDeprecationHeaders(fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route) => {
    const headers = (route.config as Record<string, unknown> | undefined)?.[CONFIG_KEY] as
      DeprecationHeaders | undefined;
    if (!headers) return;
    const send: onSendHookHandler = (_request, reply, payload, done) => {
      const link = reply.getHeader('link');
      void reply.headers({
        deprecation: headers.deprecation,
        sunset: headers.sunset,
        link: link ? `${String(link)}, ${headers.link}` : headers.link,
      });
      done(null, payload);
    };
    const existing = route.onSend;
    route.onSend = existing ? [...[existing].flat(), send] : [send];
  });
}
