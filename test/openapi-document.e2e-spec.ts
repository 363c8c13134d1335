import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenAPIObject } from '@nestjs/swagger';
import { createTestApp, type TestApp } from './support/test-app';

/**
 * The committed openapi.json (docs/decisions/0043), read by the typed client, the Postman
 * collection and the document lint, is the document the running app serves at /docs-json,
 * and `npm run openapi`, which builds it without a database, writes exactly that.
 */

const ROOT = process.cwd();
const COMMITTED = join(ROOT, 'openapi.json');

/** The JSON pointers where `a` and `b` differ, depth first, at most `limit`. */
function differences(a: unknown, b: unknown, at = '', found: string[] = [], limit = 10): string[] {
  if (found.length >= limit) return found;
  const objects = a !== null && b !== null && typeof a === 'object' && typeof b === 'object';
  if (!objects || Array.isArray(a) !== Array.isArray(b)) {
    if (JSON.stringify(a) !== JSON.stringify(b)) found.push(at || '/');
    return found;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
    const pointer = `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!(key in left) || !(key in right)) {
      if (found.length < limit)
        found.push(`${pointer} (${key in left ? 'only served' : 'only committed'})`);
    } else {
      differences(left[key], right[key], pointer, found, limit);
    }
  }
  return found;
}

/** Runs `npm run openapi` (its script, without npm) with `args`; no database in its environment. */
function runOpenApiCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', 'ts-node/register/transpile-only', 'src/cli/openapi.ts', ...args],
      { cwd: ROOT, env, timeout: 180_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('openapi.json (npm run openapi)', () => {
  let t: TestApp;
  let served: OpenAPIObject;
  /** The served document as `npm run openapi` writes it. */
  let servedText: string;

  beforeAll(async () => {
    t = await createTestApp();
    const res = await t.http().get('/docs-json');
    expect(res.status).toBe(200);
    served = res.body as OpenAPIObject;
    servedText = `${JSON.stringify(served, null, 2)}\n`;
  });

  afterAll(async () => {
    await t?.close();
  });

  it('is committed and equals the document the app serves at /docs-json', () => {
    const text = readFileSync(COMMITTED, 'utf8');
    const committed = JSON.parse(text) as unknown;
    const differing = differences(served, committed);
    if (differing.length || text !== servedText) {
      throw new Error(
        `openapi.json differs from the document the app serves (${
          differing.length ? `first at ${differing.join(', ')}` : 'same content, other layout'
        }): run npm run openapi`,
      );
    }
  });

  it("has the package's version as info.version", () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(served.info.version).toBe(version);
  });

  it('is written by npm run openapi without a database, exactly as served', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crm-openapi-'));
    try {
      const out = join(dir, 'openapi.json');
      const run = await runOpenApiCli(['--out', out]);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(run.stdout).toBe(`wrote ${out}\n`);
      const written = readFileSync(out, 'utf8');
      expect(differences(served, JSON.parse(written))).toEqual([]);
      expect(written).toBe(servedText);

      // --check compares without writing: a file that differs fails with the command to run.
      const stale = join(dir, 'stale.json');
      writeFileSync(stale, written.replace(/"version": "[^"]*"/, '"version": "0.0.0"'));
      const check = await runOpenApiCli(['--check', '--out', stale]);
      expect(check.code).toBe(1);
      expect(check.stderr).toBe(`${stale} is out of date: run npm run openapi\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);
});
