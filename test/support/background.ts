import { jest } from '@jest/globals';
import { Client } from 'pg';

/**
 * Whether a SQL statement is one of the app's background workers' (the in-app event consumers,
 * the webhook dispatcher, the notification senders), not a request's: tests that count a
 * request's statements leave them out (a poll may land during the request).
 */
export const isBackgroundStatement = (sql: string): boolean =>
  /consumer_messages|webhook_deliveries|notification_sends/.test(sql);

/**
 * Waits until the in-app event consumers have handled every event recorded so far (no message
 * left but dead letters), so that no consumer work runs during a measurement that follows.
 */
export async function consumersIdle(
  db: { query: (sql: string) => Promise<{ n: number }[]> },
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [{ n }] = await db.query(
      'SELECT count(*)::int AS n FROM consumer_messages WHERE dead_at IS NULL',
    );
    if (n === 0) return;
    if (Date.now() > deadline) throw new Error(`${n} consumer messages still pending`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Records the SQL statements sent to PostgreSQL from now on, at pg's `Client.query`, by clients
 * checked out of a pool (the app's: TypeORM's query runners and the raw reads that bypass them
 * alike; not the event relay's own connection), background workers' polls left out
 * (isBackgroundStatement). `restore` stops recording.
 */
export function recordStatements(): { statements(): string[]; clear(): void; restore(): void } {
  const spy = jest.spyOn(Client.prototype as { query: (...args: unknown[]) => unknown }, 'query');
  return {
    statements: () =>
      spy.mock.calls
        .filter(
          (_, i) => typeof (spy.mock.contexts[i] as { release?: unknown }).release === 'function',
        )
        .map(([query]) =>
          typeof query === 'string' ? query : String((query as { text?: unknown }).text),
        )
        .filter((sql) => !isBackgroundStatement(sql)),
    clear: () => spy.mockClear(),
    restore: () => spy.mockRestore(),
  };
}
