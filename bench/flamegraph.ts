/**
 * A flame graph (SVG) of a V8 CPU profile (`.cpuprofile`, as written by `node --cpu-prof` or by
 * bench/lib/cpu-profile.cjs): the time of the request handling only (idle, garbage collection and
 * start-up module loading are left out), one box per function and call path, its width its share
 * of the samples, with the share in the tooltip.
 *
 *   node --require ts-node/register/transpile-only bench/flamegraph.ts <in.cpuprofile> <out.svg> [title]
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}
interface Frame {
  name: string;
  count: number;
  children: Map<string, Frame>;
}

const SKIP_TOP = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);
const START_UP = /modules\/(cjs|esm)|run_main|app\.factory|\/main\.js/;

/** `function (package or file:line)` of a frame. */
function label(frame: CallFrame): string {
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(frame.url)?.[1];
  const where =
    pkg ??
    (frame.url.includes('/dist/src/')
      ? `src/${frame.url.split('/dist/src/')[1].replace(/\.js$/, '.ts')}`
      : frame.url.replace(/^node:/, 'node:') || 'native');
  return `${frame.functionName || '(anonymous)'} (${where}${frame.url ? `:${frame.lineNumber + 1}` : ''})`;
}

export function foldProfile(profile: Profile): Frame {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const counts = new Map<number, number>();
  for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  const root: Frame = { name: 'all request handling', count: 0, children: new Map() };
  for (const [id, count] of counts) {
    const stack: CallFrame[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      stack.push(byId.get(cur)!.callFrame);
    }
    if (SKIP_TOP.has(stack[0].functionName) || stack.some((f) => START_UP.test(f.url))) continue;
    root.count += count;
    let node = root;
    for (const frame of stack.reverse()) {
      if (frame.functionName === '(root)') continue;
      const name = label(frame);
      let child = node.children.get(name);
      if (!child) node.children.set(name, (child = { name, count: 0, children: new Map() }));
      child.count += count;
      node = child;
    }
  }
  return root;
}

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function color(name: string): string {
  const pkg = /\(([^:)]+)/.exec(name)?.[1] ?? '';
  let hash = 0;
  for (const c of pkg) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  const app = pkg.startsWith('src/');
  return app ? `hsl(${200 + (hash % 30)},70%,65%)` : `hsl(${10 + (hash % 45)},85%,${60 + (hash % 15)}%)`;
}

export function renderSvg(root: Frame, title: string, width = 1600): string {
  const row = 17;
  const boxes: string[] = [];
  let depth = 0;
  const walk = (frame: Frame, x: number, level: number): void => {
    const w = (frame.count / root.count) * width;
    if (w < 0.3) return;
    depth = Math.max(depth, level);
    const share = ((100 * frame.count) / root.count).toFixed(1);
    const text = w > 40 ? escape(frame.name).slice(0, Math.floor(w / 6.5)) : '';
    boxes.push(
      `<g><title>${escape(frame.name)}: ${share}%</title><rect x="${x.toFixed(1)}" y="{Y${level}}" width="${w.toFixed(1)}" height="${row - 1}" fill="${color(frame.name)}"/>` +
        (text ? `<text x="${(x + 3).toFixed(1)}" y="{T${level}}">${text}</text>` : '') +
        '</g>',
    );
    let cx = x;
    for (const child of [...frame.children.values()].sort((a, b) => b.count - a.count)) {
      walk(child, cx, level + 1);
      cx += (child.count / root.count) * width;
    }
  };
  walk(root, 0, 0);
  const top = 30;
  const height = top + (depth + 1) * row + 10;
  // Flame graph: the root at the bottom.
  const svg = boxes
    .join('\n')
    .replace(/\{Y(\d+)\}/g, (_, l: string) => String(height - 10 - (Number(l) + 1) * row))
    .replace(/\{T(\d+)\}/g, (_, l: string) => String(height - 10 - (Number(l) + 1) * row + 12));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
<text x="4" y="18" font-size="14">${escape(title)} (${root.count} samples; hover a box for its share)</text>
${svg}
</svg>
`;
}

if (require.main === module) {
  const [input, output, title = input] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write('usage: flamegraph.ts <in.cpuprofile> <out.svg> [title]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(input, 'utf8')) as Profile;
  writeFileSync(output, renderSvg(foldProfile(profile), title));
}
