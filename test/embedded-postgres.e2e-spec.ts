import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { closedAncestor, EmbeddedDatabase } from '../src/database/embedded-postgres';
import { EMBEDDED_DATABASE, embeddedDatabaseUrl } from '../src/database/embedded-url';

const DEAD_PID = 4_194_000; // above any pid in use here

async function query(port: number, sql: string): Promise<unknown[]> {
  const client = new Client({ connectionString: embeddedDatabaseUrl(port, EMBEDDED_DATABASE) });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(sql)).rows;
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Embedded PostgreSQL launcher', () => {
  const parent = mkdtempSync(join(tmpdir(), 'crm-embedded-'));
  chmodSync(parent, 0o755);
  const dir = join(parent, 'data');
  const port = 40_000 + (process.pid % 20_000);
  const make = (): EmbeddedDatabase =>
    new EmbeddedDatabase({ dir, port, persistent: true, log: () => undefined });

  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it('initialises, creates the database, and keeps data across a crash of its parent', async () => {
    const crashed = make();
    await crashed.start();
    await query(
      port,
      'CREATE TABLE survivors (name text); INSERT INTO survivors VALUES ($$kept$$)',
    );

    // The app was SIGKILLed: postgres keeps running, its owner is gone, postmaster.pid stays.
    expect(isAlive(DEAD_PID)).toBe(false);
    writeFileSync(`${dir}.owner`, String(DEAD_PID));
    const restarted = make();
    await restarted.start();
    expect(await query(port, 'SELECT name FROM survivors')).toEqual([{ name: 'kept' }]);

    // While a live process owns the directory, a second instance refuses with a clear message.
    writeFileSync(`${dir}.owner`, String(process.ppid));
    await expect(make().start()).rejects.toThrow(/in use by process/);
    writeFileSync(`${dir}.owner`, String(process.pid));

    await restarted.stop();
    await expect(query(port, 'SELECT 1')).rejects.toThrow();
  });

  it('explains a start-up failure with postgres output', async () => {
    const busy = make();
    await busy.start();
    // Same port, another directory: postgres exits early (port in use); the error carries its log.
    const other = new EmbeddedDatabase({
      dir: join(parent, 'other'),
      port,
      persistent: false,
      log: () => undefined,
    });
    await expect(other.start()).rejects.toThrow(/failed to start[\s\S]*(in use|could not|bind)/i);
    await busy.stop();
  });

  describe('a checkout or data directory the postgres user cannot enter (a 700 home directory)', () => {
    it('finds the closed directory on the way to a path, whether the path exists yet or not', () => {
      const home = join(parent, 'home');
      const deep = join(home, 'crm', 'data');
      mkdirSync(join(home, 'crm'), { recursive: true });
      chmodSync(home, 0o700);
      expect(closedAncestor(deep)).toBe(home);
      expect(closedAncestor(join(home, 'crm'))).toBe(home);
      chmodSync(home, 0o755);
      expect(closedAncestor(deep)).toBeNull();
    });

    const asRoot = process.getuid?.() === 0 ? it : it.skip;
    asRoot(
      'as root, refuses to start with a message that says what to do, before initdb runs',
      async () => {
        const home = join(parent, 'private');
        mkdirSync(home);
        chmodSync(home, 0o700);
        const closed = new EmbeddedDatabase({
          dir: join(home, 'data'),
          port,
          persistent: false,
          log: () => undefined,
        });
        await expect(closed.start()).rejects.toThrow(
          new RegExp(`cannot enter ${home}.*EMBEDDED_PG_DIR`),
        );
      },
    );
  });
});
