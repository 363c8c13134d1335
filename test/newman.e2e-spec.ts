import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { WebhookReceiver } from './support/webhook-receiver';
import { createTestApp, type TestApp, serve } from './support/test-app';

/**
 * The Postman collection QA teams import (postman/, `npm run postman`, docs/decisions/0047),
 * run by Newman against the real app as they would run it: every request passes the contract
 * tests Portman generated from openapi.json (the documented status code, content type, JSON
 * body and the JSON schema of the response). `npm run test:newman` runs this file alone.
 */

/** The repository root: Jest runs from it. */
const ROOT = process.cwd();
const COLLECTION = join(ROOT, 'postman/crm-api.postman_collection.json');
const ENVIRONMENT = join(ROOT, 'postman/crm-api.postman_environment.json');

/** The parts of Newman's run summary read here (newman ships no types). */
interface NewmanSummary {
  run: {
    stats: { requests: { total: number }; assertions: { total: number; failed: number } };
    executions: {
      cursor: { ref: string };
      item: { name: string };
      response?: { code: number; stream?: Buffer };
      assertions?: { assertion: string }[];
    }[];
    failures: {
      error: { name: string; test?: string; message: string };
      source?: { name?: string };
      cursor: { ref?: string };
    }[];
  };
}
interface Newman {
  run(options: object, done: (error: Error | null, summary: NewmanSummary) => void): unknown;
}

const newman = createRequire(join(ROOT, 'package.json'))('newman') as Newman;

interface CollectionItem {
  name: string;
  item?: CollectionItem[];
}

/** The requests of the collection, folders flattened. */
function requestsOf(items: CollectionItem[]): CollectionItem[] {
  return items.flatMap((item) => (item.item ? requestsOf(item.item) : [item]));
}

/** One line per failed assertion or script error, with the answer when it was not a success. */
function describeFailures(summary: NewmanSummary): string[] {
  return summary.run.failures.map((failure) => {
    const execution = summary.run.executions.find((e) => e.cursor.ref === failure.cursor.ref);
    const response = execution?.response;
    const answer =
      response && response.code >= 300
        ? ` (answered ${response.code} ${(response.stream?.toString() ?? '').slice(0, 400)})`
        : '';
    const what = failure.error.test ?? failure.error.name;
    return `${failure.source?.name ?? '?'}: ${what}: ${failure.error.message.slice(0, 600)}${answer}`;
  });
}

describe('the Postman collection run by Newman', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let baseUrl: string;

  beforeAll(async () => {
    // The collection's webhook points to a receiver on this machine.
    t = await createTestApp({ WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'true' });
    baseUrl = await serve(t);
    receiver = await new WebhookReceiver().start();
  });

  afterAll(async () => {
    await receiver?.stop();
    await t?.close();
  });

  it('passes every contract test of the committed collection, with the committed environment', async () => {
    const collection = JSON.parse(readFileSync(COLLECTION, 'utf8')) as { item: CollectionItem[] };
    const summary = await new Promise<NewmanSummary>((resolve, reject) =>
      newman.run(
        {
          collection,
          environment: JSON.parse(readFileSync(ENVIRONMENT, 'utf8')) as object,
          envVar: [
            { key: 'baseUrl', value: baseUrl },
            { key: 'webhookUrl', value: receiver.url('newman') },
          ],
          // The CSV files of the imports are named relative to postman/.
          workingDir: join(ROOT, 'postman'),
          // Newman's own report: every request, failed assertions, the summary table.
          reporters: ['cli'],
          reporter: { cli: { noSuccessAssertions: true, noConsole: true } },
        },
        (error, result) => (error ? reject(error) : resolve(result)),
      ),
    );

    expect(describeFailures(summary)).toEqual([]);
    // Every request ran and was checked by its contract tests (a collection without them, or
    // with a request left out, fails here); the pre-request scripts' own requests have none.
    const requests = requestsOf(collection.item).map((item) => item.name);
    const executed = new Map(summary.run.executions.map((e) => [e.cursor.ref, e]));
    const checked = [...executed.values()]
      .filter((e) =>
        e.assertions?.some((a) => / - Response status code is \d{3}$/.test(a.assertion)),
      )
      .map((e) => e.item.name);
    expect(checked.sort()).toEqual(requests.sort());
    expect(summary.run.stats.assertions.total).toBeGreaterThan(3 * requests.length);
  }, 300_000);

  it('is what npm run postman generates from the committed openapi.json', async () => {
    // In a process of its own: the generator seeds Math.random, fixes the clock and changes
    // directory while Portman runs.
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--require', 'ts-node/register/transpile-only', 'src/cli/postman.ts', '--check'],
        { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          resolve({ code: error ? (error.code as number) : 0, output: `${stdout}${stderr}` }),
      );
    });
    expect({ code: result.code, tail: result.output.trim().split('\n').slice(-3) }).toEqual({
      code: 0,
      tail: expect.arrayContaining([expect.stringContaining('up to date')]),
    });
  }, 300_000);
});
