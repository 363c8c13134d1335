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
 * A body of a type the API does not read (neither JSON nor, on import routes, multipart).
 * Fastify would answer 415 before the guards; like a malformed body, it is answered by the
 * validation pipe once the guards have run, so a caller without a token learns 401 first.
 */
export class UnsupportedMediaTypeBody {}

/**
 * How deeply objects and arrays may nest in a JSON body. No request of the API nests more than
 * three levels; everything that walks a body afterwards (validation, class-transformer, the NUL
 * check) recurses, and a few thousand levels overflow the stack (an anonymous 500).
 */
export const MAX_JSON_DEPTH = 32;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether the JSON text nests objects and arrays deeper than `max`: one pass over the bytes
 * (brackets inside strings do not count), run before the text is parsed, so no recursion ever
 * sees a deeper value. Malformed text is left to the parser.
 */
export function nestsDeeperThan(text: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * Registers the JSON body parser: Fastify's own (prototype-poisoning safe, size-limited), with
 * a nesting bound checked first and parse errors deferred as a MalformedJsonBody.
 */
export function useDeferredJsonParser(app: NestFastifyApplication, bodyLimit: number): void {
  const fastify = app.getHttpAdapter().getInstance();
  const parse = fastify.getDefaultJsonParser('error', 'error');
  // Any other type (multipart has its own, more specific parser): deferred, not read (Node
  // discards what is left of a request body once the answer is sent).
  // Fastify reads text/plain by default: the API does not (a string body would only fail
  // validation with a misleading 400).
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('*', (_request, _payload, done) =>
    done(null, new UnsupportedMediaTypeBody()),
  );
  app.useBodyParser('application/json', { bodyLimit }, (request, body, done) => {
    if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
      request.log.info({ maxDepth: MAX_JSON_DEPTH }, 'JSON body nested too deeply');
      return done(
        null,
        new MalformedJsonBody(`JSON body nests deeper than ${MAX_JSON_DEPTH} levels`),
      );
    }
    const text = body.toString('utf8');
    void parse(request as Parameters<typeof parse>[0], text, (error, value) => {
      if (!error) return done(null, value);
      const code = (error as { code?: string }).code ?? '';
      done(null, new MalformedJsonBody(FRAMEWORK_MESSAGE[code] ?? 'Malformed JSON body'));
    });
  });
}
