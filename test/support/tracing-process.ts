import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortBelowEphemeral } from './database';
import { appProcessEnvironment } from './app-process';
import type { ProbeModules, ProbeSpan } from './tracing-probe';

export type { ProbeModules, ProbeSpan } from './tracing-probe';

const ROOT = process.cwd();

export interface ProbeProcess {
  url: string;
  /** Every line the process printed on stdout (the app's JSON logs) so far. */
  lines: () => string[];
  spans: () => Promise<ProbeSpan[]>;
  modules: () => Promise<ProbeModules>;
  close: () => Promise<void>;
}

/**
 * test/support/tracing-probe.ts as a child process (the real app, src/main.ts, with tracing on
 * and an in-memory exporter, or off), on 127.0.0.1 and a free port; waits for /health.
 */
export async function startProbe(
  tracing: 'on' | 'off',
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ProbeProcess> {
  const port = await freePortBelowEphemeral();
  const cwd = mkdtempSync(join(tmpdir(), 'crm-tracing-probe-'));
  const resolveFromRoot = createRequire(join(ROOT, 'package.json')).resolve;
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--require',
      resolveFromRoot('ts-node/register/transpile-only'),
      join(ROOT, 'test', 'support', 'tracing-probe.ts'),
    ],
    {
      cwd,
      env: {
        ...appProcessEnvironment(cwd, port),
        TRACING_PROBE: tracing,
        LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  const lines: string[] = [];
  const errors: string[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  child.stderr!.on('data', (chunk: Buffer) => errors.push(chunk.toString()));
  let gone = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      gone = true;
      resolve();
    }),
  );
  const close = async (): Promise<void> => {
    if (!gone) child.kill('SIGKILL');
    await exited;
    rmSync(cwd, { recursive: true, force: true });
  };
  const ask = <T>(what: string, key: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`probe: no answer to ${what}`)), 5000);
      const onMessage = (message: Record<string, unknown>): void => {
        if (!(key in message)) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(message[key] as T);
      };
      child.on('message', onMessage);
      child.send({ what });
    });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const output = (): string => [...lines.slice(-20), ...errors].join('\n');
    if (gone) {
      await close();
      throw new Error(`the probe exited during start-up:\n${output()}`);
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the probe was not ready in ${timeoutMs} ms:\n${output()}`);
    }
    try {
      const res = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    lines: () => [...lines],
    spans: () => ask<ProbeSpan[]>('spans', 'spans'),
    modules: () => ask<ProbeModules>('modules', 'modules'),
    close,
  };
}
