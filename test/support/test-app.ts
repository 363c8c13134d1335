import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { createLogger } from '../../src/common/logging/logger';
import { loadConfig, type AppConfig } from '../../src/config/app-config';
import { freshDatabase } from './database';
import { checkedAgent, prepareResponseChecks } from './openapi-responses';

const TEST_DATA_DIR = mkdtempSync(join(tmpdir(), 'crm-test-data-'));

export const TEST_ACCESS_SECRET = 'test-access-secret-0123456789-abcdefghijklmnop';
export const TEST_REFRESH_SECRET = 'test-refresh-secret-0123456789-abcdefghijklmno';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  http: () => TestAgent;
  db: DataSource;
  close: () => Promise<void>;
}

/** The configuration of an app copy in the tests, on `databaseUrl`, with `env` on top. */
export function testConfig(databaseUrl: string, env: Record<string, string> = {}): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    BCRYPT_COST: '4',
    JWT_ACCESS_SECRET: TEST_ACCESS_SECRET,
    JWT_REFRESH_SECRET: TEST_REFRESH_SECRET,
    DB_MIGRATIONS_RUN: 'false',
    DB_POOL_MIN: '0',
    DB_POOL_MAX: '5',
    DATABASE_URL: databaseUrl,
    // Emails of the tests' sign-ups (no SMTP_URL: .eml files) go to a temporary directory.
    DATA_DIR: TEST_DATA_DIR,
    ...env,
  });
}

/**
 * The real application (same factory as main.ts) on a fresh database cloned from the migrated
 * template; `env` overrides configuration variables. bcrypt runs at cost 4 here to keep the suite fast; the cost-12 default is checked
 * by a unit test.
 */
export async function createTestApp(
  env: Record<string, string> = {},
  logLines?: Record<string, unknown>[],
): Promise<TestApp> {
  const database = await freshDatabase();
  const url = database.url;
  const config = testConfig(url, env);
  // With `logLines`, every JSON log line is parsed into it (for tests about logging).
  const sink = logLines && {
    write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>),
  };
  const app = await createApp(config, url, createLogger(config, sink));
  await app.getHttpAdapter().getInstance().ready();
  const db = app.get(DataSource);
  await prepareResponseChecks(app);
  return {
    app,
    config,
    db,
    // Every answer is checked against the OpenAPI document (test/support/openapi-responses.ts).
    http: () => checkedAgent(request(app.getHttpServer())),
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}

/**
 * Serves `t` on a free port of 127.0.0.1, for clients that need a real address (a browser, the
 * typed client, Newman, curl); answers its base URL, e.g. http://127.0.0.1:41234.
 */
export async function serve(t: TestApp): Promise<string> {
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  return t.app.getUrl();
}
