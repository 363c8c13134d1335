import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FRAMEWORK_MESSAGE } from '../errors/error-body';

/**
 * A JSON body that did not parse. Fastify parses bodies before Nest's guards run, so a parse
 * error would answer 400 ahead of 401/403, against API.md's precedence. The body becomes this
 * marker instead, and the validation pipe (which runs after the guards) answers the 400.
 */
export class MalformedJsonBody {
  constructor(readonly message: string) {}
}

/**
 * Registers the JSON body parser: Fastify's own (prototype-poisoning safe, size-limited), with
 * parse errors deferred as a MalformedJsonBody.
 */
export function useDeferredJsonParser(app: NestFastifyApplication, bodyLimit: number): void {
  const fastify = app.getHttpAdapter().getInstance();
  const parse = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser('application/json', { bodyLimit }, (request, body, done) =>
    parse(request as Parameters<typeof parse>[0], body.toString('utf8'), (error, value) => {
      if (!error) return done(null, value);
      const code = (error as { code?: string }).code ?? '';
      done(null, new MalformedJsonBody(FRAMEWORK_MESSAGE[code] ?? 'Malformed JSON body'));
    }),
  );
}
