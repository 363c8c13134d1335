/**
 * Three (or N) copies of the built API behind Debian's nginx on one machine: what
 * `npm run scale:up` runs, and what `npm run test:scale` and `npm run bench:scale` start.
 *
 * - nginx: `nginx -p <work>/nginx -c <work>/nginx/nginx.conf`, nginx.conf a symbolic link to
 *   docker/nginx/nginx.conf (the file docker-compose.yml mounts) and <work>/nginx/crm/*.conf
 *   rendered here (ports, paths, the copies' addresses): pid, logs and temp files in <work>,
 *   free ports, a self-signed certificate made with openssl;
 * - the copies: `node <work>/dist/src/main.js` (a snapshot of dist/, so a `nest build` in the
 *   working tree does not pull files from under running copies), each in its own directory
 *   (no .env is read), NODE_ENV=production, on 127.0.0.1 and a free port, all on one database,
 *   one Redis and one RabbitMQ namespace;
 * - the database: DATABASE_URL if given, else a fresh one on the system PostgreSQL
 *   (SCALE_ADMIN_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres), dropped
 *   by stop(), as is the RabbitMQ namespace (AMQP_NAMESPACE, unique per stack).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { freePort, snapshotDist as snapshotDistOf } from '../../bench/lib/processes';

export { freePort };

/** The repository root (Jest runs ES modules, without __dirname: from the root, then). */
export const ROOT =
  typeof __dirname === 'string' ? resolve(__dirname, '..', '..') : resolve(process.cwd());
export const NGINX_CONF = join(ROOT, 'docker', 'nginx', 'nginx.conf');
const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ScaleOptions {
  /** Working directory (pid, logs, certificate, dist snapshot): created, emptied first. */
  workDir: string;
  copies?: number;
  /** Use this database (not dropped at the end); default: a fresh one on adminUrl. */
  databaseUrl?: string;
  adminUrl?: string;
  redisUrl?: string;
  amqpUrl?: string;
  /** AMQP_NAMESPACE of the copies; default `scale-<random>`. */
  namespace?: string;
  /** Extra environment of every copy. */
  env?: Record<string, string>;
  /** Exempt 127.0.0.1 from nginx's edge limits (the benchmark measures the copies, not them). */
  exemptLoopback?: boolean;
  httpsPort?: number;
  httpPort?: number;
  log?: (message: string) => void;
}

export type CopyState = 'up' | 'down';

export interface Copy {
  index: number;
  port: number;
  /** http://127.0.0.1:<port> (direct, bypassing nginx) */
  url: string;
  /** `127.0.0.1:<port>`, as nginx's $upstream_addr names it */
  addr: string;
  state: CopyState;
  /** Left out of nginx's upstream (`down`) while draining. */
  drained: boolean;
  child?: ChildProcess;
  pid?: number;
  exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines the process printed. */
  output: () => string;
}

export interface ScaleStack {
  httpsUrl: string;
  httpUrl: string;
  /** The self-signed certificate (PEM): what a client trusts. */
  ca: Buffer;
  databaseUrl: string;
  namespace: string;
  exchange: string;
  workDir: string;
  accessLog: string;
  copies: Copy[];
  nginxPid: () => number | undefined;
  startCopy: (index: number) => Promise<void>;
  /** SIGKILL, waits for the exit. */
  killCopy: (index: number) => Promise<void>;
  /** SIGTERM (graceful shutdown), waits for the exit; SIGKILL after `timeoutMs`. */
  stopCopy: (index: number, timeoutMs?: number) => Promise<{ code: number | null }>;
  /** Takes the copy out of (or back into) nginx's upstream and reloads nginx. */
  setDrained: (index: number, drained: boolean) => Promise<void>;
  /**
   * One copy at a time: [drain: out of the upstream, reload, let in-flight requests finish],
   * SIGTERM, wait for the exit, start, wait until ready, [back into the upstream, reload].
   */
  rollingRestart: (options?: {
    drain?: boolean;
    pauseMs?: number;
    onStep?: (message: string) => void;
  }) => Promise<{ index: number; stoppedMs: number; code: number | null }[]>;
  reloadNginx: () => Promise<void>;
  stop: () => Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The nginx binary, installed with apt-get when missing (as root). */
export function ensureNginx(log: (message: string) => void): string {
  const find = (): string | null => {
    for (const candidate of [process.env.NGINX_BIN, '/usr/sbin/nginx', '/usr/local/sbin/nginx']) {
      if (candidate && existsSync(candidate)) return candidate;
    }
    const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
    return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : null;
  };
  const found = find();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'nginx is not installed: apt-get install nginx-light (as root), or set NGINX_BIN',
    );
  }
  log('nginx is not installed: apt-get install -y --no-install-recommends nginx-light');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // policy-rc.d 101: the package must not start the system nginx (port 80) on its own.
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = existsSync(policy);
  if (!hadPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const install = (): number | null =>
      spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx-light'], {
        env,
        stdio: 'inherit',
      }).status;
    if (install() !== 0) {
      spawnSync('apt-get', ['update'], { env, stdio: 'inherit' });
      if (install() !== 0) throw new Error('apt-get install nginx-light failed');
    }
  } finally {
    if (!hadPolicy) rmSync(policy, { force: true });
  }
  const installed = find();
  if (!installed) throw new Error('nginx still not found after apt-get install');
  return installed;
}

/** dist/ built (npm run build when missing), copied to `target` once complete and unchanged. */
export async function snapshotDist(target: string, log: (message: string) => void): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) {
    log('dist/ is missing: npm run build');
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  await snapshotDistOf(ROOT, 'npm run build', target);
}

/** A self-signed certificate for localhost and 127.0.0.1 (openssl), valid 30 days. */
export function selfSignedCertificate(dir: string): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '30',
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Deletes the namespace's queues (rabbitmqctl when present) and exchanges. */
async function dropAmqpNamespace(amqpUrl: string, namespace: string): Promise<void> {
  const { connect } = await import('amqplib');
  const queues = new Set([`${namespace}.events.dlq`]);
  const listed = spawnSync('rabbitmqctl', ['list_queues', '-q', '--no-table-headers', 'name'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (listed.status === 0) {
    for (const name of listed.stdout.split('\n').map((l) => l.trim())) {
      if (name.startsWith(`${namespace}.`)) queues.add(name);
    }
  }
  const connection = await connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    await channel.deleteExchange(`${namespace}.events`);
    await channel.deleteExchange(`${namespace}.events.dlx`);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export async function startScaleStack(options: ScaleOptions): Promise<ScaleStack> {
  const log = options.log ?? ((message: string) => console.log(`[scale] ${message}`));
  const workDir = resolve(options.workDir);
  const count = options.copies ?? 3;
  const nginxBin = ensureNginx(log);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.reverse()) await step().catch((e: unknown) => log(String(e)));
    cleanups.length = 0;
  };

  try {
    const distDir = join(workDir, 'dist');
    log('copying dist/ (a snapshot the copies run from)');
    await snapshotDist(distDir, log);
    cleanups.push(() => Promise.resolve(rmSync(distDir, { recursive: true, force: true })));

    // The database.
    let databaseUrl = options.databaseUrl ?? process.env.SCALE_DATABASE_URL;
    if (!databaseUrl) {
      const adminUrl =
        options.adminUrl ?? process.env.SCALE_ADMIN_DATABASE_URL ?? DEFAULT_ADMIN_URL;
      const name = `crm_scale_${randomBytes(6).toString('hex')}`;
      await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      databaseUrl = url.toString();
      log(`database ${name} created on ${url.host}`);
      cleanups.push(async () => {
        await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        log(`database ${name} dropped`);
      });
    }
    const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const amqpUrl = options.amqpUrl ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
    const namespace = options.namespace ?? `scale-${randomBytes(4).toString('hex')}`;
    cleanups.push(async () => {
      await dropAmqpNamespace(amqpUrl, namespace);
      log(`AMQP namespace ${namespace} deleted`);
    });

    // Certificate and ports.
    const tls = selfSignedCertificate(join(workDir, 'tls'));
    const httpsPort = options.httpsPort ?? (await freePort());
    const httpPort = options.httpPort ?? (await freePort());
    const httpsUrl = `https://localhost:${httpsPort}`;
    const httpUrl = `http://localhost:${httpPort}`;

    // The copies.
    const secrets = {
      JWT_ACCESS_SECRET: randomBytes(48).toString('base64url'),
      JWT_REFRESH_SECRET: randomBytes(48).toString('base64url'),
    };
    const copies: Copy[] = [];
    for (let index = 0; index < count; index++) {
      const port = await freePort();
      copies.push({
        index,
        port,
        url: `http://127.0.0.1:${port}`,
        addr: `127.0.0.1:${port}`,
        state: 'down',
        drained: false,
        output: () => '',
      });
    }
    const copyEnv = (copy: Copy): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(copy.port),
      DATABASE_URL: databaseUrl,
      DB_MIGRATIONS_RUN: 'true',
      DB_POOL_MIN: '2',
      DB_POOL_MAX: '10',
      REDIS_URL: redisUrl,
      AMQP_URL: amqpUrl,
      AMQP_NAMESPACE: namespace,
      TRUST_PROXY: 'true',
      PUBLIC_URL: httpsUrl,
      LOG_LEVEL: 'warn',
      DATA_DIR: join(workDir, `copy-${copy.index}`, 'data'),
      ...secrets,
      ...options.env,
    });

    const startCopy = async (index: number): Promise<void> => {
      const copy = copies[index];
      if (copy.state === 'up') return;
      const dir = join(workDir, `copy-${index}`);
      mkdirSync(dir, { recursive: true });
      const logFile = join(dir, 'app.log');
      const child = spawn(process.execPath, [join(distDir, 'src', 'main.js')], {
        cwd: dir,
        env: copyEnv(copy),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const lines: string[] = [];
      const keep = (chunk: Buffer): void => {
        appendFileSync(logFile, chunk);
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        if (lines.length > 40) lines.splice(0, lines.length - 40);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let gone = false;
      copy.child = child;
      copy.pid = child.pid;
      copy.output = () => lines.join('\n');
      copy.exited = new Promise((resolveExit) =>
        child.once('exit', (code, signal) => {
          gone = true;
          copy.state = 'down';
          resolveExit({ code, signal });
        }),
      );
      copy.state = 'up';
      const deadline = Date.now() + 120_000;
      for (;;) {
        if (gone) throw new Error(`copy ${index} exited during start-up:\n${copy.output()}`);
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`copy ${index} not ready in 120 s:\n${copy.output()}`);
        }
        try {
          const res = await fetch(`${copy.url}/api/v1/health/ready`, {
            signal: AbortSignal.timeout(2000),
          });
          if (res.ok) break;
        } catch {
          // not listening yet
        }
        await sleep(150);
      }
    };
    const killCopy = async (index: number): Promise<void> => {
      const copy = copies[index];
      if (copy.state !== 'up' || !copy.child) return;
      copy.child.kill('SIGKILL');
      await copy.exited;
    };
    const stopCopy = async (
      index: number,
      timeoutMs = 20_000,
    ): Promise<{ code: number | null }> => {
      const copy = copies[index];
      if (copy.state !== 'up' || !copy.child) return { code: null };
      copy.child.kill('SIGTERM');
      const timer = setTimeout(() => copy.child?.kill('SIGKILL'), timeoutMs);
      const { code } = await copy.exited!;
      clearTimeout(timer);
      return { code };
    };
    cleanups.push(async () => {
      await Promise.all(copies.map((c) => stopCopy(c.index)));
    });

    log(`starting ${count} copies (the first one applies the migrations)`);
    await startCopy(0);
    await Promise.all(copies.slice(1).map((c) => startCopy(c.index)));
    for (const copy of copies) log(`copy ${copy.index}: ${copy.url} (pid ${copy.pid})`);

    // nginx.
    const prefix = join(workDir, 'nginx');
    const crm = join(prefix, 'crm');
    mkdirSync(join(prefix, 'logs'), { recursive: true });
    mkdirSync(join(prefix, 'tmp'), { recursive: true });
    mkdirSync(crm, { recursive: true });
    symlinkSync(NGINX_CONF, join(prefix, 'nginx.conf'));
    const accessLog = join(prefix, 'logs', 'access.log');
    const upstream = (): string =>
      copies
        .map(
          (c) =>
            `    server ${c.addr} max_fails=1 fail_timeout=5s${c.drained ? ' down' : ''};   # copy ${c.index}`,
        )
        .join('\n');
    const writeHttpConf = (): void =>
      writeFileSync(
        join(crm, 'http.conf'),
        `# Rendered by deploy/scale/stack.ts: http context of ../nginx.conf on this machine.
access_log ${accessLog} json_combined;
client_body_temp_path ${join(prefix, 'tmp', 'body')};
proxy_temp_path ${join(prefix, 'tmp', 'proxy')};
fastcgi_temp_path ${join(prefix, 'tmp', 'fastcgi')};
uwsgi_temp_path ${join(prefix, 'tmp', 'uwsgi')};
scgi_temp_path ${join(prefix, 'tmp', 'scgi')};

ssl_certificate     ${tls.cert};
ssl_certificate_key ${tls.key};

map $host $crm_https_port {
    default ":${httpsPort}";
}

geo $crm_limit_exempt {
    default 0;
${options.exemptLoopback ? '    127.0.0.1/32 1;\n' : ''}}

upstream crm_app {
    zone crm_app 64k;
${upstream()}
    keepalive 32;
    keepalive_timeout 60s;
}
`,
      );
    writeFileSync(
      join(crm, 'main.conf'),
      `# Rendered by deploy/scale/stack.ts: main context of ../nginx.conf on this machine.
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} warn;
`,
    );
    writeFileSync(join(crm, 'listen-http.conf'), `listen 127.0.0.1:${httpPort} default_server;\n`);
    writeFileSync(
      join(crm, 'listen-https.conf'),
      `listen 127.0.0.1:${httpsPort} ssl http2 default_server;\n`,
    );
    writeHttpConf();
    const nginxArgs = ['-p', `${prefix}/`, '-c', join(prefix, 'nginx.conf')];
    const checkConfig = (): void => {
      const test = spawnSync(nginxBin, [...nginxArgs, '-t', '-q'], { encoding: 'utf8' });
      if (test.status !== 0) throw new Error(`nginx -t failed:\n${test.stderr}`);
    };
    checkConfig();
    const nginx = spawn(nginxBin, [...nginxArgs, '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let nginxErr = '';
    nginx.stderr.on('data', (chunk: Buffer) => (nginxErr += chunk.toString()));
    let nginxGone = false;
    const nginxExited = new Promise<void>((r) =>
      nginx.once('exit', () => {
        nginxGone = true;
        r();
      }),
    );
    cleanups.push(async () => {
      if (nginxGone) return;
      nginx.kill('SIGQUIT'); // graceful: in-flight requests finish
      const timer = setTimeout(() => nginx.kill('SIGKILL'), 10_000);
      await nginxExited;
      clearTimeout(timer);
      log('nginx stopped');
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (nginxGone) throw new Error(`nginx exited:\n${nginxErr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${httpPort}/nginx-health`);
        if (res.ok) break;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error(`nginx not answering:\n${nginxErr}`);
      await sleep(100);
    }
    log(`nginx (pid ${nginx.pid}): ${httpsUrl}/api/v1 and ${httpUrl} (redirects to HTTPS)`);

    const workerPids = (): string =>
      spawnSync('pgrep', ['-P', String(nginx.pid)], { encoding: 'utf8' }).stdout.trim();
    const reloadNginx = async (): Promise<void> => {
      checkConfig();
      const before = workerPids();
      process.kill(nginx.pid!, 'SIGHUP');
      // Reloaded once the workers are new ones (old ones finish their requests and exit).
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        await sleep(50);
        const now = workerPids().split('\n');
        if (!before.split('\n').some((pid) => now.includes(pid))) break;
      }
    };
    const setDrained = async (index: number, drained: boolean): Promise<void> => {
      copies[index].drained = drained;
      writeHttpConf();
      await reloadNginx();
    };
    const rollingRestart: ScaleStack['rollingRestart'] = async ({
      drain = true,
      pauseMs = 1000,
      onStep = log,
    } = {}) => {
      const steps: { index: number; stoppedMs: number; code: number | null }[] = [];
      // n + 1 reloads for n copies: copy i comes back in the reload that takes copy i + 1 out
      // (each reload closes nginx's idle client connections; fewer is better).
      if (drain) {
        copies[0].drained = true;
        writeHttpConf();
        await reloadNginx();
      }
      for (const copy of copies) {
        if (drain) {
          onStep(`copy ${copy.index} drained (out of the upstream)`);
          await sleep(pauseMs);
        }
        const stopped = Date.now();
        const { code } = await stopCopy(copy.index);
        onStep(`copy ${copy.index} stopped (SIGTERM, exit code ${code})`);
        await startCopy(copy.index);
        const stoppedMs = Date.now() - stopped;
        onStep(`copy ${copy.index} started again and ready (${stoppedMs} ms down)`);
        if (drain) {
          copy.drained = false;
          const next = copies[copy.index + 1];
          if (next) next.drained = true;
          writeHttpConf();
          await reloadNginx();
        }
        steps.push({ index: copy.index, stoppedMs, code });
        await sleep(pauseMs);
      }
      return steps;
    };

    return {
      httpsUrl,
      httpUrl,
      ca: readFileSync(tls.cert),
      databaseUrl,
      namespace,
      exchange: `${namespace}.events`,
      workDir,
      accessLog,
      copies,
      nginxPid: () => (nginxGone ? undefined : nginx.pid),
      startCopy,
      killCopy,
      stopCopy,
      setDrained,
      rollingRestart,
      reloadNginx,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Access log entries of nginx (JSON lines of docker/nginx/nginx.conf's json_combined). */
export interface AccessEntry {
  request_id: string;
  method: string;
  uri: string;
  status: number;
  upstream_addr: string;
  upstream_status: string;
  remote_addr: string;
  x_forwarded_for: string;
}

export function readAccessLog(path: string): AccessEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AccessEntry);
}
