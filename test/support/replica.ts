import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './database';

/**
 * A real primary and a streaming replica of it, made with the machine's PostgreSQL server
 * binaries (Debian's /usr/lib/postgresql/<major>/bin): initdb, then pg_basebackup -R, each
 * started with pg_ctl on a free port. As root, the servers run as the user `postgres`.
 */
export interface ReplicaPair {
  primaryUrl: (database?: string) => string;
  replicaUrl: (database?: string) => string;
  /** SQL on the replica (pg_wal_replay_pause() / pg_wal_replay_resume()). */
  onReplica: (sql: string) => Promise<unknown[]>;
  /** Stops the replica server (fast shutdown). */
  stopReplica: () => void;
  /** Resolves once the replica has replayed everything the primary wrote so far. */
  caughtUp: () => Promise<void>;
  stop: () => void;
}

/** The newest PostgreSQL server binaries here, or null. */
export function serverBinaries(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const majors = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'pg_basebackup')))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length ? join(root, majors[0], 'bin') : null;
}

export async function startReplicaPair(bin: string): Promise<ReplicaPair> {
  const root = mkdtempSync(join(tmpdir(), 'crm-replica-'));
  chmodSync(root, 0o777);
  const asRoot = process.getuid?.() === 0;
  const run = (tool: string, args: string[]): string =>
    execFileSync(
      asRoot ? 'runuser' : join(bin, tool),
      asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args,
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  const primary = join(root, 'primary');
  const replica = join(root, 'replica');
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const options = (port: number): string =>
    `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${root} ` +
    '-c wal_level=replica -c max_wal_senders=4 -c hot_standby=on -c fsync=off';
  const started: string[] = [];
  const stop = (): void => {
    for (const dir of started.reverse()) {
      try {
        run('pg_ctl', ['-D', dir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    // --auth=trust also lets 127.0.0.1 open replication connections (initdb's pg_hba.conf).
    run('initdb', ['-D', primary, '-U', 'postgres', '--auth=trust', '--no-sync']);
    run('pg_ctl', [
      '-D',
      primary,
      '-o',
      options(primaryPort),
      '-l',
      `${primary}.log`,
      '-w',
      'start',
    ]);
    started.push(primary);
    run('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(primaryPort),
      '-U',
      'postgres',
      '-D',
      replica,
      '-R',
      '-X',
      'stream',
    ]);
    run('pg_ctl', [
      '-D',
      replica,
      '-o',
      options(replicaPort),
      '-l',
      `${replica}.log`,
      '-w',
      'start',
    ]);
    started.push(replica);
  } catch (error) {
    stop();
    throw error;
  }
  const url = (port: number, database = 'postgres'): string =>
    `postgres://postgres@127.0.0.1:${port}/${database}`;
  const query = async (port: number, sql: string): Promise<unknown[]> => {
    const client = new Client({ connectionString: url(port) });
    await client.connect();
    try {
      return (await client.query(sql)).rows as unknown[];
    } finally {
      await client.end();
    }
  };
  return {
    primaryUrl: (database) => url(primaryPort, database),
    replicaUrl: (database) => url(replicaPort, database),
    onReplica: (sql) => query(replicaPort, sql),
    stopReplica: () => void run('pg_ctl', ['-D', replica, '-m', 'fast', '-w', 'stop']),
    caughtUp: async () => {
      const [{ lsn }] = (await query(primaryPort, 'SELECT pg_current_wal_lsn() AS lsn')) as {
        lsn: string;
      }[];
      for (let waited = 0; waited < 10_000; waited += 50) {
        const [{ done }] = (await query(
          replicaPort,
          `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`,
        )) as { done: boolean }[];
        if (done) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error('the replica did not catch up in 10 s');
    },
    stop,
  };
}
