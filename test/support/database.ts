import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Client } from 'pg';

/** Set by the global setup for the test files (environment variables reach the workers). */
export const ADMIN_URL_ENV = 'TEST_ADMIN_DATABASE_URL';
export const TEMPLATE_ENV = 'TEST_TEMPLATE_DATABASE';
/** Set when a real Redis answered during the global setup. */
export const REDIS_ENV = 'TEST_REDIS_AVAILABLE_URL';
/** Set when a real RabbitMQ answered during the global setup. */
export const RABBITMQ_ENV = 'TEST_RABBITMQ_AVAILABLE_URL';

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withAdminClient<T>(
  adminUrl: string,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database cloned from the migrated template (what createTestApp runs on, and what app
 * copies started as child processes run on).
 */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = process.env[ADMIN_URL_ENV];
  const template = process.env[TEMPLATE_ENV];
  if (!adminUrl || !template) throw new Error('global setup did not run');
  const database = `crm_test_${randomUUID().replace(/-/g, '')}`;
  await withAdminClient(adminUrl, (c) =>
    c.query(`CREATE DATABASE ${database} TEMPLATE ${template}`),
  );
  return {
    url: databaseUrl(adminUrl, database),
    drop: async () => {
      await withAdminClient(adminUrl, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
      );
    },
  };
}

/**
 * Binds `port` on 127.0.0.1 (0: any) and lets it go at once: the port bound, or null when a given
 * port could not be bound (taken).
 */
function bindOnce(port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error) => (port ? resolve(null) : reject(error)));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

/** A free TCP port on 127.0.0.1 (free when asked; the caller binds it right after). */
export async function freePort(): Promise<number> {
  return (await bindOnce(0))!;
}

/**
 * A free port for a process started by a test, which binds it seconds later (an app under
 * ts-node). A port from `freePort` comes from the kernel's ephemeral range, from which it can be
 * handed to another test's server in the meantime (every in-process app listens on port 0, and
 * answers /api/v1/health too), and the child's readiness check would be answered by that server.
 * Ports below the ephemeral range are never handed out by `listen(0)`.
 */
export async function freePortBelowEphemeral(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
  } catch {
    // not Linux: the common default
  }
  if (!(low > 11_000)) return freePort();
  for (;;) {
    const port = await bindOnce(10_000 + Math.floor(Math.random() * (low - 10_000)));
    if (port !== null) return port;
  }
}
