/**
 * The first thing main.ts loads, before any module that requires `http`, `pg`, `amqplib` or
 * `fastify`: reads the .env file (the environment wins), then starts OpenTelemetry when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/decisions/0039-tracing.md). Without it, nothing of
 * OpenTelemetry is loaded: the SDK's module is required on that branch only.
 */
try {
  process.loadEnvFile();
} catch {
  // no .env file: the environment alone
}

if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
  // A synchronous require (the compiled app is CommonJS): the instrumentations must be hooked
  // before main.ts's next import loads the app.
  type TracingModule = typeof import('./common/tracing/tracing.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startTracing } = require('./common/tracing/tracing') as TracingModule;
  startTracing();
}
