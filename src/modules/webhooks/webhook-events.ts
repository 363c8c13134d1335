import { EVENT_TYPES } from '../../events/catalog';

/** An event type as webhooks name it: without `crm.` and the version (`deal.won`). */
export const eventName = (type: string): string =>
  type.replace(/^crm\./, '').replace(/\.v\d+$/, '');

const NAMES = new Set(EVENT_TYPES.map(eventName));
const RESOURCES = new Set([...NAMES].map((name) => name.split('.')[0]));

/** The type of the test event of POST /webhooks/{id}/ping, sent to that endpoint only. */
export const PING_TYPE = 'crm.webhook.ping.v1';

/** Whether `pattern` is a valid subscription: a catalog name, `<resource>.*`, or `*`. */
export function validPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return RESOURCES.has(pattern.slice(0, -2));
  return NAMES.has(pattern);
}

/** Whether an endpoint subscribed to `patterns` receives events of `type` (every version). */
export function subscribed(patterns: readonly string[], type: string): boolean {
  const name = eventName(type);
  return patterns.some(
    (p) => p === '*' || p === name || (p.endsWith('.*') && name.startsWith(p.slice(0, -1))),
  );
}
