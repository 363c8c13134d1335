import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** The commit a run measured (`BENCH_COMMIT`, or git's HEAD, marked when the tree is dirty). */
export function gitDescribe(root: string): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  try {
    const head = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
    const dirty = execSync('git status --porcelain --untracked-files=no', { cwd: root })
      .toString()
      .trim();
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

/** Where a benchmark writes its report in a document: its block, its section, and after which. */
export interface DocBlock {
  begin: string;
  end: string;
  /** The section's heading line (`## ...`). */
  section: string;
  /** The heading after whose section a missing section is added. */
  afterSection: string;
}

/** Replaces the generated block of the section, or adds the section after `afterSection`'s. */
export function writeDocBlock(path: string, markdown: string, where: DocBlock): void {
  const { begin, end, section, afterSection } = where;
  const block = `${begin}\n${markdown}\n${end}`;
  const current = readFileSync(path, 'utf8');
  const a = current.indexOf(begin);
  const b = current.indexOf(end);
  let text: string;
  if (a >= 0 && b > a) {
    text = current.slice(0, a) + block + current.slice(b + end.length);
  } else if (current.includes(`\n${section}\n`)) {
    const at = current.indexOf(`\n${section}\n`) + section.length + 2;
    text = `${current.slice(0, at)}\n${block}\n${current.slice(at)}`;
  } else {
    const after = current.indexOf(`\n${afterSection}\n`);
    const next = after >= 0 ? current.indexOf('\n## ', after + afterSection.length + 2) : -1;
    const at = next >= 0 ? next + 1 : current.length;
    text = `${current.slice(0, at).trimEnd()}\n\n${section}\n\n${block}\n\n${current.slice(at)}`;
  }
  writeFileSync(path, text);
}
