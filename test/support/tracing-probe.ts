/**
 * A plain-Node process (not Jest: under Jest's ESM loader the module-patching instrumentations
 * see nothing, /work/shared/STACK.md) that runs the real app entry point, src/main.ts, with or
 * without tracing, for test/tracing.e2e-spec.ts. Run by test/support/tracing-process.ts as
 * `node --require ts-node/register/transpile-only test/support/tracing-probe.ts`.
 *
 * TRACING_PROBE=on: starts the app's own tracing (src/common/tracing/tracing.ts, the code
 * src/preload.ts runs when OTEL_EXPORTER_OTLP_ENDPOINT is set) with an in-memory exporter instead
 * of OTLP, then loads src/main.ts. TRACING_PROBE=off: loads src/main.ts as it is.
 *
 * Over IPC it answers `{ what: 'spans' }` with the finished spans and `{ what: 'modules' }` with
 * the OpenTelemetry modules loaded in this process and whether a global tracer provider is set.
 * Only `require` below, never a static import: nothing may load `http` or `pg` before tracing.
 */

export interface ProbeSpan {
  name: string;
  kind: number;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
}

export interface ProbeModules {
  /** Paths of loaded modules under @opentelemetry/ or @fastify/otel. */
  otelModules: string[];
  /** Whether the OpenTelemetry API registered anything globally (a tracer provider, ...). */
  apiRegistered: boolean;
}

type SdkTraceBase = typeof import('@opentelemetry/sdk-trace-base');
type TracingModule = typeof import('../../src/common/tracing/tracing.js');

let spans: () => ProbeSpan[] = () => [];

if (process.env.TRACING_PROBE === 'on') {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { InMemorySpanExporter, SimpleSpanProcessor } =
    require('@opentelemetry/sdk-trace-base') as SdkTraceBase;
  const { startTracing } = require('../../src/common/tracing/tracing') as TracingModule;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const exporter = new InMemorySpanExporter();
  startTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  spans = () =>
    exporter.getFinishedSpans().map((s) => ({
      name: s.name,
      kind: s.kind,
      scope: s.instrumentationScope.name,
      traceId: s.spanContext().traceId,
      spanId: s.spanContext().spanId,
      parentSpanId: s.parentSpanContext?.spanId ?? null,
      attributes: { ...s.attributes },
    }));
}

process.on('message', (message: { what: string }) => {
  if (message.what === 'spans') process.send!({ spans: spans() });
  if (message.what === 'modules') {
    const modules: ProbeModules = {
      otelModules: Object.keys(require.cache).filter((path) =>
        /[\\/]node_modules[\\/]@(opentelemetry|fastify[\\/]otel)[\\/]/.test(path),
      ),
      apiRegistered: Symbol.for('opentelemetry.js.api.1') in globalThis,
    };
    process.send!({ modules });
  }
});
// The IPC channel must not keep the process alive after the app stopped.
process.channel?.unref();

// eslint-disable-next-line @typescript-eslint/no-require-imports
require('../../src/main');
