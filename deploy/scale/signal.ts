/**
 * npm run scale:down      SIGTERM to the `scale:up` process: stops nginx and the copies, drops
 *                         the database and the AMQP namespace, waits until it is done.
 * npm run scale:restart   SIGHUP to it: rolling restart of the copies.
 *
 * Both read <dir>/state.json (default .data/scale; `-- --dir <dir>` for another one).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from './stack';

const STATE_FILE = 'state.json';

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const action = process.argv[2];
  if (action !== 'down' && action !== 'restart') throw new Error('usage: signal.ts down|restart');
  const dir = resolve(option('dir') ?? join(ROOT, '.data', 'scale'));
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) {
    console.log(`[scale] nothing running (${file} is missing)`);
    return;
  }
  const { pid } = JSON.parse(readFileSync(file, 'utf8')) as { pid: number };
  if (!alive(pid)) {
    console.log(`[scale] the scale:up process ${pid} is gone`);
    return;
  }
  if (action === 'restart') {
    process.kill(pid, 'SIGHUP');
    console.log(`[scale] rolling restart requested (see the scale:up output)`);
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  console.log(alive(pid) ? `[scale] ${pid} still running after 60 s` : '[scale] stopped');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
