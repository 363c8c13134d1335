import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clientScenario } from './client/scenario';
import { createTestApp, type TestApp, serve } from './support/test-app';

/*
 * The typed client package (clients/typescript, issue 17): its whole scenario against the live
 * server, the type check of that scenario, the generated schema against the committed
 * openapi.json, and the package as npm would install it.
 */

const ROOT = process.cwd();
const CLIENT = join(ROOT, 'clients/typescript');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const run = promisify(execFile);

interface PackageJson {
  name: string;
  version: string;
  exports: Record<string, { types: string; default: string }>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const packageJson = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;

/** Runs `node args` and resolves with its output, or rejects with its output in the message. */
async function node(args: string[], cwd = ROOT): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`node ${args.join(' ')} failed:\n${stdout}${stderr}`);
  }
}

describe('the typed client against the live server', () => {
  let t: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    t = await createTestApp();
    baseUrl = await serve(t);
  });
  afterAll(() => t.close());

  describe('a newcomer’s scenario', () => clientScenario(() => baseUrl));

  it('builds into a package that plain Node imports by its name, as npm installs it', async () => {
    // The package laid out as npm would install it: its package.json and the build in dist/, its
    // dependencies (openapi-fetch) found through node_modules, linked into an application.
    const dir = mkdtempSync(join(tmpdir(), 'crm-client-'));
    try {
      const pkg = join(dir, 'package');
      await node([TSC, '-p', CLIENT, '--outDir', join(pkg, 'dist')]);
      cpSync(join(CLIENT, 'package.json'), join(pkg, 'package.json'));
      symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
      const app = join(dir, 'app');
      mkdirSync(join(app, 'node_modules/@crm-api'), { recursive: true });
      symlinkSync(pkg, join(app, 'node_modules/@crm-api/client'), 'dir');

      const entry = packageJson(CLIENT).exports['.'];
      expect(readFileSync(join(pkg, entry.types), 'utf8')).toContain('createCrmClient');
      const output = await node(
        [
          '--input-type=module',
          '-e',
          `import { createCrmClient, unwrap } from '@crm-api/client';
           const crm = createCrmClient({ baseUrl: ${JSON.stringify(baseUrl)} });
           const anonymous = await crm.GET('/api/v1/users/me');
           console.log(JSON.stringify({
             health: await unwrap(crm.GET('/api/v1/health')),
             anonymous: await unwrap(anonymous).catch((e) => [e.name, e.status, e.code]),
           }));`,
        ],
        app,
      );
      expect(JSON.parse(output)).toEqual({
        health: { status: 'ok' },
        anonymous: ['CrmApiError', 401, 'UNAUTHENTICATED'],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('the typed client package', () => {
  it('type-checks, with the scenario that uses it (a type mismatch fails here)', async () => {
    await node([TSC, '-p', join(ROOT, 'test/client/tsconfig.json')]);
  }, 120_000);

  it('has the schema openapi.json gives (else: run npm run client:generate)', async () => {
    // Regenerates in memory and compares with the committed clients/typescript/src/schema.ts.
    await node([join(CLIENT, 'scripts/generate.mjs'), '--check']);
  }, 120_000);

  it('has the version of the API and the openapi-fetch the project tests it with', () => {
    const root = packageJson(ROOT);
    const client = packageJson(CLIENT);
    expect(client.name).toBe('@crm-api/client');
    expect(client.version).toBe(root.version);
    expect(client.dependencies?.['openapi-fetch']).toBe(root.devDependencies?.['openapi-fetch']);
  });
});
