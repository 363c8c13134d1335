import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './support/database';
import { createTestApp, type TestApp, serve } from './support/test-app';

/**
 * docs/guide.md is honest: its ```bash blocks run, in order, in one bash session (their shell
 * variables carry over) against a live app on 127.0.0.1, with `BASE` pointing at it, so a command
 * that stops working fails here. A block may be preceded by an HTML comment:
 * `<!-- guide:skip ... -->` (not run, with the reason) or `<!-- guide:output-contains TEXT -->`
 * (its output must contain TEXT). ```sh blocks (starting the server) are not run.
 */

const GUIDE = join(process.cwd(), 'docs', 'guide.md');
const MARKER = '@@guide-block';

interface Block {
  index: number;
  /** The line of the opening fence in the guide (1-based). */
  line: number;
  code: string;
  skip: string | null;
  outputContains: string[];
}

/** The ```bash blocks of the guide with the directives of the comments right before them. */
function bashBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let directives: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const directive = /^<!-- guide:(.*?) -->$/.exec(lines[i].trim());
    if (directive) {
      directives.push(directive[1]);
      continue;
    }
    const fence = /^```(\w*)/.exec(lines[i]);
    if (!fence) {
      if (lines[i].trim()) directives = [];
      continue;
    }
    const start = i;
    const code: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith('```'); i++) code.push(lines[i]);
    if (fence[1] === 'bash') {
      const skip = directives.find((d) => d.startsWith('skip'));
      blocks.push({
        index: blocks.length + 1,
        line: start + 1,
        code: code.join('\n'),
        skip: skip === undefined ? null : skip.replace(/^skip\s*/, '') || 'marked skip',
        outputContains: directives
          .filter((d) => d.startsWith('output-contains '))
          .map((d) => d.slice('output-contains '.length)),
      });
    }
    directives = [];
  }
  return blocks;
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('bash', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs `script` with bash in `cwd`; kills what it left running (the guide's receiver) after. */
function runBash(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd, env, detached: true });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const killGroup = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(killGroup, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      killGroup();
      resolve({ code, output });
    });
  });
}

describe('docs/guide.md', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    // The webhook section sends events to a receiver on 127.0.0.1 over http: the guide tells
    // readers to start the server with these two settings for it.
    t = await createTestApp({
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      RELAY_POLL_MS: '100',
    });
    base = `${await serve(t)}/api/v1`;
  });
  afterAll(() => t.close());

  it('has runnable bash blocks, and marks what it skips', () => {
    const blocks = bashBlocks(readFileSync(GUIDE, 'utf8'));
    expect(blocks.length).toBeGreaterThan(20);
    for (const block of blocks.filter((b) => b.skip !== null)) {
      // A skipped block says why.
      expect([block.line, block.skip]).not.toEqual([block.line, 'marked skip']);
    }
  });

  it('runs every command of the guide, in order, against a live server', async () => {
    for (const tool of ['curl', 'jq']) {
      if (!hasCommand(tool)) {
        throw new Error(
          `${tool} is needed to run the guide: apt-get install ${tool} (or brew install ${tool})`,
        );
      }
    }
    const blocks = bashBlocks(readFileSync(GUIDE, 'utf8')).filter((b) => b.skip === null);
    const script = [
      'set -eo pipefail',
      // On a line of their own: a block's output may not end with a newline.
      ...blocks.map((b) => `printf '\\n${MARKER} ${b.index}\\n'\n${b.code}`),
      `printf '\\n${MARKER} end\\n'`,
    ].join('\n');
    const cwd = mkdtempSync(join(tmpdir(), 'crm-guide-'));
    writeFileSync(join(cwd, 'guide.sh'), script);
    try {
      const { code, output } = await runBash(
        'cd "$(mktemp -d)" && . "$GUIDE_SCRIPT"',
        cwd,
        {
          PATH: process.env.PATH,
          HOME: cwd,
          BASE: base,
          HOOK_PORT: String(await freePort()),
          GUIDE_SCRIPT: join(cwd, 'guide.sh'),
          TMPDIR: cwd,
        },
        150_000,
      );
      // The output of each block, by the markers echoed before it.
      const outputs = new Map<string, string>();
      const parts = output.split(new RegExp(`^${MARKER} `, 'm')).slice(1);
      for (const part of parts) {
        const [index, ...rest] = part.split('\n');
        outputs.set(index, rest.join('\n'));
      }
      const last = [...outputs.keys()].pop();
      const failed = blocks.find((b) => String(b.index) === last);
      expect({
        code,
        failedAt: last === 'end' ? null : `the block at line ${failed?.line} of docs/guide.md`,
        output: last === 'end' ? '' : (outputs.get(last ?? '') ?? output),
      }).toEqual({ code: 0, failedAt: null, output: '' });

      for (const block of blocks) {
        for (const text of block.outputContains) {
          expect([block.line, outputs.get(String(block.index))]).toEqual([
            block.line,
            expect.stringContaining(text),
          ]);
        }
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 180_000);
});
