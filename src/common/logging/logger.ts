import { LoggerService } from '@nestjs/common';
import pino, { DestinationStream, Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { activeTracing } from '../tracing/trace-hooks';

/**
 * JSON logs (one line per event) in production and test, pretty-printed in development.
 * `destination` (default stdout) lets tests read what was logged. When tracing is on (started
 * before the logger is created, src/preload.ts), every line written inside a span carries its
 * `traceId` and `spanId`; when it is off, no mixin at all.
 */
export function createLogger(
  config: Pick<AppConfig, 'logLevel' | 'nodeEnv'>,
  destination?: DestinationStream,
): Logger {
  const tracing = activeTracing();
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    ...(tracing && { mixin: () => tracing.logFields() ?? {} }),
    base: { service: 'crm-api' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.password',
        '*.refreshToken',
        '*.accessToken',
      ],
      censor: '[redacted]',
    },
    transport:
      config.nodeEnv === 'development'
        ? {
            target: 'pino-pretty',
            options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' },
          }
        : undefined,
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * A Nest log message as pino fields and text: an object (not an Error) is a structured line, its
 * `msg` the text and its other properties fields (`logger.log({ msg: 'webhook delivered',
 * eventId })`); anything else is the text.
 */
function lineOf(message: unknown): [Record<string, unknown>, string] {
  if (message !== null && typeof message === 'object' && !(message instanceof Error)) {
    const { msg, ...fields } = message as Record<string, unknown>;
    return [fields, typeof msg === 'string' ? msg : ''];
  }
  return [{}, String(message)];
}

/** Routes Nest's own log calls (bootstrap, route mapping, module errors) into the same pino logger. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    const [fields, text] = lineOf(message);
    this.logger.info({ ...fields, context }, text);
  }
  error(message: unknown, stackOrContext?: string, context?: string): void {
    const err = message instanceof Error ? message : undefined;
    const [fields, text] = lineOf(message);
    this.logger.error(
      {
        ...fields,
        context: context ?? stackOrContext,
        err,
        stack: err ? undefined : stackOrContext,
      },
      text,
    );
  }
  warn(message: unknown, context?: string): void {
    const [fields, text] = lineOf(message);
    this.logger.warn({ ...fields, context }, text);
  }
  debug(message: unknown, context?: string): void {
    const [fields, text] = lineOf(message);
    this.logger.debug({ ...fields, context }, text);
  }
  verbose(message: unknown, context?: string): void {
    const [fields, text] = lineOf(message);
    this.logger.trace({ ...fields, context }, text);
  }
}
