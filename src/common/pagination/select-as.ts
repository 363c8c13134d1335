import { snake } from '../naming';

/** `alias.snake_column AS "camelProperty"` for raw list queries whose rows map straight to DTOs. */
export function selectAs(alias: string, properties: readonly string[]): string[] {
  return properties.map((p) => `${alias}.${snake(p)} AS "${p}"`);
}

/** Escapes LIKE wildcards so user input matches literally. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
}
