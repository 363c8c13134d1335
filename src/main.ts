// First: reads .env and starts tracing when configured, before the app's modules load.
import './preload';
import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { createApp } from './app.factory';
import { createLogger } from './common/logging/logger';
import { activeTracing } from './common/tracing/trace-hooks';
import { AppConfig, loadConfig } from './config/app-config';
import type { EmbeddedDatabase } from './database/embedded-postgres';

/** The configuration (the .env file was read by ./preload). */
function readConfig(): AppConfig {
  try {
    return loadConfig();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}

/**
 * After each full garbage collection V8 lets the old generation grow to up to 4x the live heap
 * before the next one; under load that is 150 MB of dead objects (request objects that outlived
 * two scavenges). 1.5x keeps the process near its live size for a few more full collections
 * (docs/decisions/0024-memory.md). A value given in NODE_OPTIONS or on the command line wins.
 */
const HEAP_GROWING_PERCENT = 50;

async function main(): Promise<void> {
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  if (!/--heap[-_]growing[-_]percent/.test(nodeOptions))
    setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  const config = readConfig();
  const logger = createLogger(config);
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    // Loaded only when used: production images do not ship the PostgreSQL binaries.
    const { EmbeddedDatabase } = await import('./database/embedded-postgres.js');
    const server = new EmbeddedDatabase({
      dir: config.embeddedPg.dir,
      port: config.embeddedPg.port,
      persistent: true,
      log: (message: string) => logger.info(message),
    });
    databaseUrl = await server.start();
    embedded = server;
  }

  try {
    const app = await createApp(config, databaseUrl, logger);
    await app.listen({ port: config.port, host: config.host });
    logger.info(`CRM API on http://${config.host}:${config.port}/api/v1 (Swagger UI at /docs)`);

    // Graceful shutdown: stop accepting (new requests get 503), let in-flight ones finish,
    // close the pool, then stop the embedded server and flush the spans not exported yet. A
    // timer bounds the whole thing.
    let closing = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, 'shutting down');
      setTimeout(() => {
        logger.error('shutdown timed out; exiting');
        process.exit(1);
      }, config.shutdownTimeoutMs).unref();
      app
        .close()
        .then(() => embedded?.stop())
        .then(() =>
          activeTracing()
            ?.shutdown()
            .catch(() => undefined),
        )
        .then(
          () => process.exit(0),
          (e: unknown) => {
            logger.error({ err: e }, 'error during shutdown');
            process.exit(1);
          },
        );
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
  } catch (e) {
    await embedded?.stop();
    throw e;
  }
}

main().catch((e: unknown) => {
  console.error('start-up failed:', e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
