import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REDIS_ENV } from './database';

/** The real Redis the cache tests run against (global setup checked that it answers). */
export const REDIS_URL = process.env[REDIS_ENV] ?? 'redis://127.0.0.1:6379';

const run = promisify(execFile);

/** Runs one redis-cli command against REDIS_URL and returns its output. */
export async function redis(...args: string[]): Promise<string> {
  const { hostname, port } = new URL(REDIS_URL);
  const { stdout } = await run('redis-cli', ['-h', hostname, '-p', port || '6379', ...args]);
  return stdout.trim();
}

/** Every key in Redis that names the organization, sorted. */
export async function redisKeysOf(organizationId: string): Promise<string[]> {
  const out = await redis('--scan', '--pattern', `*:${organizationId}*`);
  return out ? out.split('\n').sort() : [];
}
