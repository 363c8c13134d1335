/**
 * What the app asks of tracing (docs/decisions/0039-tracing.md). While tracing is off (no
 * OTEL_EXPORTER_OTLP_ENDPOINT) `activeTracing()` is undefined and nothing of OpenTelemetry is
 * loaded: callers test it once and skip their tracing work, so tracing costs nothing then. When
 * src/preload.ts starts tracing, `./tracing.ts` installs the implementation here.
 */
export interface Tracing {
  /** `traceId` and `spanId` of the active span, for log lines; undefined outside any span. */
  logFields(): { traceId: string; spanId: string } | undefined;
  /** The W3C `traceparent` of the active span (`00-<trace id>-<span id>-<flags>`), if any. */
  traceparent(): string | undefined;
  /**
   * Runs `work` in a new span `name` whose parent is `parent` (a W3C traceparent, e.g. an event's):
   * one trace from the request that recorded an event to its deliveries. Without `parent`, a new
   * trace. The span ends (with an error status when `work` throws) when `work` settles.
   */
  inSpan<T>(
    name: string,
    kind: 'internal' | 'producer' | 'client',
    parent: string | undefined,
    attributes: Record<string, string>,
    work: () => Promise<T>,
  ): Promise<T>;
  /** Flushes the spans not exported yet and stops the SDK (at the app's shutdown). */
  shutdown(): Promise<void>;
}

let current: Tracing | undefined;

/** The tracing of this process, or undefined when it is off. */
export function activeTracing(): Tracing | undefined {
  return current;
}

export function installTracing(tracing: Tracing | undefined): void {
  current = tracing;
}

/** The traceparent of an envelope given as text (the stored JSON), or undefined. */
export function traceparentOfEnvelope(text: string): string | undefined {
  try {
    const { traceparent } = JSON.parse(text) as { traceparent?: unknown };
    return typeof traceparent === 'string' ? traceparent : undefined;
  } catch {
    return undefined;
  }
}
