import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortBelowEphemeral } from './database';

export { freePort, freshDatabase } from './database';
import { TEST_ACCESS_SECRET, TEST_REFRESH_SECRET } from './test-app';

/** The repository root: Jest runs from it (as password.service.ts assumes too). */
const ROOT = process.cwd();

export interface AppProcess {
  /** http://127.0.0.1:<port> */
  url: string;
  pid: number;
  /** The last lines the process printed (for error messages). */
  output: () => string;
  /** Resolves when the process is gone, with how it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL now (synchronous: nothing of the app runs after it, no shutdown hook). */
  kill: () => void;
  /** SIGKILL if still running, waits for the exit, removes the working directory. */
  close: () => Promise<void>;
}

/**
 * The real app as a child process: `node --require ts-node/register/transpile-only src/main.ts`,
 * the sources as they are (no build, so it works from a clean clone), on 127.0.0.1 and a free
 * port, and waits until GET /api/v1/health answers. The environment is only what is given here
 * plus `env` (test defaults: NODE_ENV=test, the test JWT secrets, bcrypt cost 4, no migrations);
 * the working directory is an empty temporary one, so no .env file of the developer is read.
 */
export async function startAppProcess(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<AppProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(env, timeoutMs);
    } catch (error) {
      // The free port was taken by someone else in between: another one.
      if (attempt < 3 && error instanceof PortTaken) continue;
      throw error;
    }
  }
}

class PortTaken extends Error {}

/**
 * The whole environment of an app started as a child process in `cwd` on `port` (test defaults;
 * nothing of the parent's but PATH), before the caller's own variables.
 */
export function appProcessEnvironment(cwd: string, port: number): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    BCRYPT_COST: '4',
    JWT_ACCESS_SECRET: TEST_ACCESS_SECRET,
    JWT_REFRESH_SECRET: TEST_REFRESH_SECRET,
    DB_MIGRATIONS_RUN: 'false',
    DB_POOL_MIN: '0',
    DB_POOL_MAX: '5',
    SWAGGER_ENABLED: 'false',
    DATA_DIR: join(cwd, '.data'),
  };
}

async function startOnce(env: Record<string, string>, timeoutMs: number): Promise<AppProcess> {
  const main = join(ROOT, 'src', 'main.ts');
  if (!existsSync(main)) throw new Error(`run the tests from the repository root (${main})`);
  const resolveFromRoot = createRequire(join(ROOT, 'package.json')).resolve;
  const port = await freePortBelowEphemeral();
  const cwd = mkdtempSync(join(tmpdir(), 'crm-app-process-'));
  const child = spawn(
    process.execPath,
    ['--require', resolveFromRoot('ts-node/register/transpile-only'), main],
    {
      cwd,
      env: { ...appProcessEnvironment(cwd, port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  let partial = '';
  const keep = (chunk: Buffer): void => {
    const text = partial + chunk.toString();
    const complete = text.split('\n');
    partial = complete.pop() ?? '';
    lines.push(...complete.filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      gone = true;
      resolve({ code, signal });
    }),
  );
  const kill = (): void => {
    if (!gone) child.kill('SIGKILL');
  };
  const close = async (): Promise<void> => {
    kill();
    await exited;
    rmSync(cwd, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) {
      await close();
      const output = lines.join('\n');
      if (output.includes('EADDRINUSE')) throw new PortTaken(`port ${port} taken`);
      throw new Error(`the app exited during start-up:\n${output}`);
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the app was not ready in ${timeoutMs} ms:\n${lines.join('\n')}`);
    }
    try {
      const res = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, pid: child.pid!, output: () => lines.join('\n'), exited, kill, close };
}

export interface TcpProxy {
  /** `target` with host and port replaced by the proxy's. */
  url: string;
  /** The local ports of the proxy's open connections to the target (pg_stat_activity.client_port). */
  upstreamPorts: () => Set<number>;
  close: () => Promise<void>;
}

/**
 * A TCP proxy to the host:port of `target` (a URL), on 127.0.0.1. Giving each in-process app
 * copy its own proxy to PostgreSQL tells, from pg_stat_activity.client_port alone, which copy a
 * backend (e.g. the one holding a lock) belongs to.
 */
export async function tcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const upstreams = new Set<Socket>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port || 5432) });
    upstream.on('connect', () => upstreams.add(upstream));
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        upstreams.delete(upstream);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: url.toString(),
    upstreamPorts: () => new Set([...upstreams].map((s) => s.localPort!)),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
