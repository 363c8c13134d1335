/**
 * `npm run openapi [-- --check] [--out <file>]` (docs/decisions/0043): writes the OpenAPI
 * document the app serves at /docs-json to `openapi.json` at the repository root (or --out),
 * 2-space JSON and a newline, for the typed client, the Postman collection and the document
 * lint. With --check it writes nothing and exits 1 when that file differs.
 *
 * No database, Redis or broker is needed: the app is built in Nest's preview mode, which reads
 * the modules, controllers and their decorators (all the document is made of) without creating
 * any provider, so no connection is opened. test/openapi-document.e2e-spec.ts checks that this
 * file equals what a running app serves.
 */
import 'reflect-metadata';
import { join, resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { useApiPrefix } from '../app.factory';
import { AppModule } from '../app.module';
import { loadConfig } from '../config/app-config';
import { buildOpenApiDocument, packageRoot } from '../swagger';
import { parse, runCli, UsageError, writeOrCheck } from './cli-context';

const USAGE = `usage: npm run openapi [-- --check] [--out <file>]`;

/**
 * A fixed configuration rather than the environment or .env: the document depends on no setting,
 * and must not change with the machine that writes it. The secrets only pass validation; the
 * database URL is never connected to.
 */
const DOCUMENT_ENV = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  JWT_ACCESS_SECRET: 'openapi-document-only-0123456789-abcdefghij',
  JWT_REFRESH_SECRET: 'openapi-document-only-9876543210-jihgfedcba',
  DATABASE_URL: 'postgres://openapi@127.0.0.1:1/never-connected',
};

/** The document's text as committed: 2-space JSON and a final newline. */
async function openApiText(): Promise<string> {
  const config = loadConfig(DOCUMENT_ENV);
  const app = await NestFactory.create(
    AppModule.forRoot(config, DOCUMENT_ENV.DATABASE_URL),
    new FastifyAdapter(),
    { preview: true, abortOnError: false, logger: false },
  );
  try {
    useApiPrefix(app);
    return `${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

async function openapi(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    check: { type: 'boolean' },
    out: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const file = resolve(values.out ?? join(packageRoot(), 'openapi.json'));
  writeOrCheck([{ file, text: await openApiText() }], values.check === true, 'openapi');
}

runCli(USAGE, openapi);
