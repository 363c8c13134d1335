/**
 * Child servers of the benchmark (the app, the baseline) and what is measured about them from
 * outside: readiness, peak resident memory (VmRSS of /proc/<pid>/status) and CPU time (utime +
 * stime of /proc/<pid>/stat, all threads of the process).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resident memory of a process in MiB, or null once it is gone. */
export function rssMiB(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return kb ? Number(kb[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Clock ticks per second of /proc/<pid>/stat's times (`getconf CLK_TCK`, 100 on Linux). */
export const CLOCK_TICKS: number = (() => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/**
 * A process's name and its CPU time so far in seconds (user + system, fields 14 and 15 of
 * /proc/<pid>/stat, of all its threads: libuv's pool included), or null once it is gone or
 * not readable (another pid namespace, another host).
 */
export function processCpu(pid: number): { name: string; seconds: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name (field 2) is in parentheses and may hold spaces: count fields after its end.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (!Number.isFinite(ticks)) return null;
    return { name: stat.slice(open + 1, close), seconds: ticks / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/** A process's CPU time so far in seconds, or null (see processCpu). */
export function cpuSeconds(pid: number): number | null {
  return processCpu(pid)?.seconds ?? null;
}

/** Samples a process's RSS every `intervalMs`; `window()` returns and restarts the peak. */
export class RssSampler {
  private timer: NodeJS.Timeout;
  private windowPeak = 0;
  peak = 0;

  constructor(
    readonly pid: number,
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  sample(): number | null {
    const rss = rssMiB(this.pid);
    if (rss !== null) {
      this.windowPeak = Math.max(this.windowPeak, rss);
      this.peak = Math.max(this.peak, rss);
    }
    return rss;
  }

  /** The peak since the previous call (sampling once more now). */
  window(): number {
    this.sample();
    const peak = this.windowPeak;
    this.windowPeak = rssMiB(this.pid) ?? 0;
    return peak;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export interface Server {
  name: string;
  url: string;
  child: ChildProcess;
  pid: number;
  rss: RssSampler;
  /** The `application_name` of its PostgreSQL connections (their backends' CPU is measured). */
  dbApplication: string | null;
  /** Its CPU time so far in seconds (user + system), null once it is gone. */
  cpu(): number | null;
  /** The last lines the process printed (for error messages). */
  output(): string;
  /** Error-level log lines (pino JSON, level >= 50) by message, since start. */
  errors: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Starts `node <args>` and waits until GET `readyPath` answers 200 (at most `timeoutMs`).
 * Nothing is shared with the caller but the environment given.
 */
export async function startServer(options: {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  port: number;
  readyPath: string;
  cwd: string;
  timeoutMs?: number;
  dbApplication?: string;
}): Promise<Server> {
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const errors = new Map<string, number>();
  let partial = '';
  const keep = (chunk: Buffer): void => {
    const text = partial + chunk.toString();
    const complete = text.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete.filter(Boolean)) {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as {
          level?: number;
          msg?: string;
          err?: { message?: string };
        };
        if ((entry.level ?? 0) >= 50) {
          const key = `${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message}` : ''}`;
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
      } catch {
        // not a JSON log line
      }
    }
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const state: { exited: number | null } = { exited: null };
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      state.exited = code ?? (signal ? 128 : 1);
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    if (state.exited !== null) {
      throw new Error(
        `${options.name} exited (${state.exited}) during start-up:\n${lines.join('\n')}`,
      );
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} not ready in time:\n${lines.join('\n')}`);
    }
    try {
      const res = await fetch(url + options.readyPath, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const pid = child.pid!;
  const rss = new RssSampler(pid);
  return {
    name: options.name,
    url,
    child,
    pid,
    rss,
    dbApplication: options.dbApplication ?? null,
    cpu: () => cpuSeconds(pid),
    output: () => lines.join('\n'),
    errors,
    async stop() {
      rss.stop();
      if (state.exited !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/**
 * The environment of an app copy under benchmark, on `databaseUrl`: production mode, fresh JWT
 * secrets of the run, rate limits out of the way, pending migrations applied at start-up (a
 * database seeded by an older build gets the newer ones, under the app's advisory lock, so copies
 * started side by side do not race). `app(port, extra)` gives one copy's variables.
 */
export function benchAppEnv(
  databaseUrl: string,
  dataDir: string,
  common: NodeJS.ProcessEnv = {},
): (port: number, extra?: NodeJS.ProcessEnv) => NodeJS.ProcessEnv {
  const secrets = {
    JWT_ACCESS_SECRET: randomBytes(48).toString('base64url'),
    JWT_REFRESH_SECRET: randomBytes(48).toString('base64url'),
  };
  return (port, extra = {}) => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    DB_MIGRATIONS_RUN: 'true',
    DB_POOL_MIN: '5',
    DB_POOL_MAX: '10',
    ...secrets,
    JWT_ACCESS_TTL: '4h',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_USER_PER_MINUTE: '1000000000',
    RATE_LIMIT_LOGIN_PER_MINUTE: '1000000000',
    DATA_DIR: dataDir,
    ...common,
    ...extra,
  });
}

/**
 * Copies dist/ to `copy` (default .data/bench-dist-<pid>) once it is complete and unchanged
 * during the copy (another build in the same working tree may be rewriting it): waits up to 3
 * minutes. `command` names what builds first, for the error.
 */
export async function snapshotDist(
  root: string,
  command: string,
  copy = join(root, '.data', `bench-dist-${process.pid}`),
): Promise<string> {
  const dist = join(root, 'dist');
  const listing = (dir: string): string =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => {
            const file = join(e.parentPath ?? e.path, e.name);
            return `${relative(dir, file)}:${statSync(file).size}`;
          })
          .sort()
          .join('\n')
      : '';
  const deadline = Date.now() + 180_000;
  for (;;) {
    const before = listing(dist);
    if (existsSync(join(dist, 'src', 'main.js'))) {
      rmSync(copy, { recursive: true, force: true });
      try {
        cpSync(dist, copy, { recursive: true });
        if (listing(dist) === before && listing(copy) === before) return copy;
      } catch {
        // dist/ changed under the copy: again
      }
    }
    if (Date.now() > deadline) {
      rmSync(copy, { recursive: true, force: true });
      throw new Error(`${dist} is missing or changing: run npm run build (${command} does)`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
