import { randomUUID } from 'node:crypto';
import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';
import { createLogger } from '../../src/common/logging/logger';
import { loadConfig, type AppConfig } from '../../src/config/app-config';
import { ADMIN_URL_ENV, databaseUrl, TEMPLATE_ENV, withAdminClient } from './database';

export const TEST_ACCESS_SECRET = 'test-access-secret-0123456789-abcdefghijklmnop';
export const TEST_REFRESH_SECRET = 'test-refresh-secret-0123456789-abcdefghijklmno';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  http: () => TestAgent;
  db: DataSource;
  close: () => Promise<void>;
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
  const adminUrl = process.env[ADMIN_URL_ENV];
  const template = process.env[TEMPLATE_ENV];
  if (!adminUrl || !template) throw new Error('global setup did not run');
  const database = `crm_test_${randomUUID().replace(/-/g, '')}`;
  await withAdminClient(adminUrl, (c) =>
    c.query(`CREATE DATABASE ${database} TEMPLATE ${template}`),
  );
  const url = databaseUrl(adminUrl, database);
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    BCRYPT_COST: '4',
    JWT_ACCESS_SECRET: TEST_ACCESS_SECRET,
    JWT_REFRESH_SECRET: TEST_REFRESH_SECRET,
    DB_MIGRATIONS_RUN: 'false',
    DB_POOL_MIN: '0',
    DB_POOL_MAX: '5',
    DATABASE_URL: url,
    ...env,
  });
  // With `logLines`, every JSON log line is parsed into it (for tests about logging).
  const sink = logLines && {
    write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>),
  };
  const app = await createApp(config, url, createLogger(config, sink));
  await app.getHttpAdapter().getInstance().ready();
  const db = app.get(DataSource);
  return {
    app,
    config,
    db,
    http: () => request(app.getHttpServer()),
    close: async () => {
      await app.close();
      await withAdminClient(adminUrl, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
      );
    },
  };
}
