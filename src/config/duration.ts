const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses "900", "900s", "15m", "12h" or "7d" into whole seconds; null when malformed. */
export function parseDurationSeconds(value: string): number | null {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!match) return null;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] || 's'];
  return seconds > 0 ? seconds : null;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "250ms", "5s", "5m", "2h" or "1d" (a bare number is seconds) into milliseconds; null when malformed or 0. */
export function parseDurationMs(value: string): number | null {
  const match = /^(\d+)(ms|[smhd]?)$/.exec(value.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNIT_MS[match[2] || 's'];
  return ms > 0 ? ms : null;
}

/** A comma-separated list of durations ("5s,5m,30m") in milliseconds; null when any is malformed. */
export function parseDurationListMs(value: string): number[] | null {
  const list = value.split(',').map(parseDurationMs);
  return list.length && list.every((ms) => ms !== null) ? list : null;
}
