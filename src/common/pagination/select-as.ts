import { snake } from '../naming';

/** selectAs' answers, per list of properties (module constants) and alias. */
const SELECTIONS = new WeakMap<readonly string[], Map<string, readonly string[]>>();

/**
 * `alias.snake_column AS "camelProperty"` for raw list queries whose rows map straight to DTOs;
 * written once per list of properties and alias (lists ask on every request).
 */
export function selectAs(alias: string, properties: readonly string[]): string[] {
  let byAlias = SELECTIONS.get(properties);
  if (!byAlias) SELECTIONS.set(properties, (byAlias = new Map<string, readonly string[]>()));
  let selection = byAlias.get(alias);
  if (!selection) {
    selection = Object.freeze(properties.map((p) => `${alias}.${snake(p)} AS "${p}"`));
    byAlias.set(alias, selection);
  }
  return selection as string[];
}

/** Escapes LIKE wildcards so user input matches literally. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
}
