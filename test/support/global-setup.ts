import { chmodSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options';
import { ENTITIES } from '../../src/entities';
import { EmbeddedDatabase } from '../../src/database/embedded-postgres';
import { embeddedDatabaseUrl } from '../../src/database/embedded-url';
import {
  ADMIN_URL_ENV,
  databaseUrl,
  freePort,
  RABBITMQ_ENV,
  REDIS_ENV,
  TEMPLATE_ENV,
  withAdminClient,
} from './database';

declare global {
  var __TEST_EMBEDDED_PG__: EmbeddedDatabase | undefined;
}

/** Whether a Redis answers PING at host:port (within a second). */
function redisAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** Whether an AMQP 0-9-1 broker answers the protocol header at the URL (within a second). */
function rabbitMqAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 5672) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')));
    // A Connection.Start method frame (frame type 1) on channel 0.
    socket.on('data', (data) => done(data[0] === 1 && data.readUInt16BE(1) === 0));
  });
}

/**
 * One PostgreSQL for the whole run: DATABASE_URL when set (used as an admin connection that
 * may create databases), otherwise an embedded server in a temporary directory. Migrations run
 * once, into a template database that every e2e file clones.
 */
export default async function globalSetup(): Promise<void> {
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const port = await freePort();
    const parent = mkdtempSync(join(tmpdir(), 'crm-test-pg-'));
    chmodSync(parent, 0o755); // as root, postgres runs as the `postgres` user and must reach it
    const embedded = new EmbeddedDatabase({
      dir: join(parent, 'data'),
      port,
      persistent: false,
      log: () => undefined,
    });
    await embedded.start();
    globalThis.__TEST_EMBEDDED_PG__ = embedded;
    adminUrl = embeddedDatabaseUrl(port, 'postgres');
  }
  const template = `crm_test_template_${process.pid}`;
  await withAdminClient(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${template}`);
    await client.query(`CREATE DATABASE ${template}`);
  });
  const dataSource = new DataSource(
    dataSourceOptions({
      url: databaseUrl(adminUrl, template),
      poolMin: 0,
      poolMax: 1,
      migrationsRun: false,
      entities: ENTITIES,
    }),
  );
  await dataSource.initialize();
  await dataSource.runMigrations();
  await dataSource.destroy();
  // Redis-backed tests run against a real Redis (TEST_REDIS_URL, default 127.0.0.1:6379). Without
  // one they are skipped with a notice, unless REQUIRE_REDIS=true makes that an error.
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await redisAnswers(redisUrl)) {
    process.env[REDIS_ENV] = redisUrl;
  } else if (process.env.REQUIRE_REDIS === 'true') {
    throw new Error(`REQUIRE_REDIS=true but no Redis answers at ${redisUrl}`);
  } else {
    console.warn(`\nNo Redis at ${redisUrl}: the Redis-backed cache tests are skipped.\n`);
  }
  // The RabbitMQ relay tests likewise (TEST_AMQP_URL, default guest@127.0.0.1:5672), required
  // by REQUIRE_RABBITMQ=true.
  const amqpUrl = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  if (await rabbitMqAnswers(amqpUrl)) {
    process.env[RABBITMQ_ENV] = amqpUrl;
  } else if (process.env.REQUIRE_RABBITMQ === 'true') {
    throw new Error(`REQUIRE_RABBITMQ=true but no RabbitMQ answers at ${new URL(amqpUrl).host}`);
  } else {
    console.warn(`\nNo RabbitMQ at ${new URL(amqpUrl).host}: the event relay tests are skipped.\n`);
  }
  process.env[ADMIN_URL_ENV] = adminUrl;
  process.env[TEMPLATE_ENV] = template;
}
