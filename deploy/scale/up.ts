/**
 * npm run scale:up [-- --copies 3 --https-port 8443 --http-port 8080 --dir .data/scale]
 *
 * Starts N copies of the built API (dist/, built when missing) behind Debian's nginx (installed
 * with apt-get when missing) with docker/nginx/nginx.conf, on a fresh database of the system
 * PostgreSQL (or DATABASE_URL), Redis (REDIS_URL) and RabbitMQ (AMQP_URL) with its own
 * AMQP_NAMESPACE, prints the URLs and stays in the foreground. Ctrl-C or `npm run scale:down`
 * stops everything and drops the database and the namespace; `npm run scale:restart` (SIGHUP)
 * restarts the copies one at a time (drain in nginx, SIGTERM, start, ready, back in).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT, startScaleStack } from './stack';

export const DEFAULT_DIR = join(ROOT, '.data', 'scale');
export const STATE_FILE = 'state.json';

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

async function main(): Promise<void> {
  const workDir = resolve(option('dir') ?? DEFAULT_DIR);
  const port = (name: string): number | undefined =>
    option(name) ? Number(option(name)) : undefined;
  const stack = await startScaleStack({
    workDir,
    copies: port('copies') ?? 3,
    databaseUrl: process.env.DATABASE_URL,
    httpsPort: port('https-port'),
    httpPort: port('http-port'),
  });
  const stateFile = join(workDir, STATE_FILE);
  const writeState = (): void =>
    writeFileSync(
      stateFile,
      JSON.stringify(
        {
          pid: process.pid,
          httpsUrl: stack.httpsUrl,
          httpUrl: stack.httpUrl,
          ca: join(workDir, 'tls', 'tls.crt'),
          databaseUrl: stack.databaseUrl,
          namespace: stack.namespace,
          nginxPid: stack.nginxPid(),
          copies: stack.copies.map((c) => ({ url: c.url, pid: c.pid })),
        },
        null,
        2,
      ),
    );
  writeState();
  const ca = join(workDir, 'tls', 'tls.crt');
  console.log(`
  API (HTTPS, self-signed):  ${stack.httpsUrl}/api/v1   (Swagger UI: ${stack.httpsUrl}/docs)
  HTTP (redirects to HTTPS): ${stack.httpUrl}
  copies (direct):           ${stack.copies.map((c) => c.url).join('  ')}
  database:                  ${stack.databaseUrl}
  AMQP namespace:            ${stack.namespace} (exchange ${stack.exchange})
  nginx access log:          ${stack.accessLog}

  curl --cacert ${ca} ${stack.httpsUrl}/api/v1/health
  npm run scale:restart   rolling restart of the copies (SIGHUP to pid ${process.pid})
  npm run scale:down      (or Ctrl-C) stops everything
`);

  let busy: Promise<unknown> = Promise.resolve();
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`[scale] ${signal}: stopping`);
    void busy
      .then(() => stack.stop())
      .then(
        () => {
          rmSync(stateFile, { force: true });
          process.exit(0);
        },
        (e: unknown) => {
          console.error(e);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {
    if (stopping) return;
    busy = busy
      .then(() => stack.rollingRestart())
      .then(
        () => {
          writeState();
          console.log('[scale] rolling restart done');
        },
        (e: unknown) => console.error('[scale] rolling restart failed:', e),
      );
  });
}

main().catch((e: unknown) => {
  console.error('[scale] failed:', e instanceof Error ? e.message : e);
  process.exit(1);
});
