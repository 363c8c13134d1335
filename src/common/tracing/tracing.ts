import FastifyOtelInstrumentation from '@fastify/otel';
import {
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { installTracing, type Tracing } from './trace-hooks';

/**
 * The OpenTelemetry SDK of the app (API.md section 15, docs/decisions/0039-tracing.md). This
 * module imports the SDK and is itself loaded only when tracing is on (src/preload.ts), before
 * `http`, `pg`, `amqplib` and `fastify` are: the instrumentations patch them as they load.
 */

/** Paths probed every few seconds (health checks, Prometheus): no traces. */
const UNTRACED = /^\/(metrics|api\/v1\/health)(\/|\?|$)/;

/** A W3C traceparent of version 00 (API.md section 12's `traceparent`). */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

const KINDS = {
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  client: SpanKind.CLIENT,
} as const;

export interface TracingOptions {
  /**
   * Where spans go: by default what the standard variables say, read by the SDK itself
   * (OTEL_TRACES_EXPORTER, default `otlp`, through a batch processor; OTEL_EXPORTER_OTLP_ENDPOINT;
   * OTEL_EXPORTER_OTLP_PROTOCOL, default `http/protobuf`: half the bytes of `http/json` for the
   * same CPU, docs/operations.md). Tests pass an in-memory exporter's processor.
   */
  spanProcessors?: SpanProcessor[];
}

/** Starts the SDK (synchronously: the instrumentations are hooked when this returns). */
export function startTracing(options: TracingOptions = {}): Tracing {
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME || 'crm-api',
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    // Traces only: metrics are Prometheus' (/metrics), logs are pino's on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      // Outgoing calls only (webhooks, SMS gateway), traced as part of something traced. The
      // server span of an incoming request is Fastify's (below): the HTTP instrumentation's
      // own server span above it was a span more per request, and the costliest
      // instrumentation per request (decision 0039).
      new HttpInstrumentation({
        disableIncomingRequestInstrumentation: true,
        requireParentforOutgoingSpans: true,
      }),
      // The request's SERVER span (the caller's traceparent extracted from its headers, named
      // `METHOD /route/template` as OpenTelemetry's HTTP conventions ask) and one span for its
      // handler; none per hook (the app's hooks are small and run on every request).
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        ignorePaths: (route) => UNTRACED.test(route.url),
        requestHook: (span, request) =>
          span.updateName(`${request.method} ${request.routeOptions.url ?? ''}`.trimEnd()),
      }),
      // Background polling (the relay, deliveries, retention) makes no traces of its own. No
      // span for taking a pooled connection: a request's queries are its SQL (a third fewer
      // spans per request, decision 0039).
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
      new AmqplibInstrumentation(),
    ],
  });
  sdk.start();
  const tracer = trace.getTracer('crm-api');
  const tracing: Tracing = {
    logFields() {
      const span = trace.getSpan(context.active());
      if (!span) return undefined;
      const { traceId, spanId } = span.spanContext();
      return { traceId, spanId };
    },
    traceparent() {
      const span = trace.getSpan(context.active());
      const ctx = span?.spanContext();
      if (!ctx || !trace.isSpanContextValid(ctx)) return undefined;
      return `00-${ctx.traceId}-${ctx.spanId}-0${(ctx.traceFlags & 1).toString(16)}`;
    },
    inSpan(name, kind, parent, attributes, work) {
      const remote = parent ? TRACEPARENT.exec(parent) : null;
      // Parsed here, not by the configured propagators (OTEL_PROPAGATORS may name others).
      const parentContext = remote
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: remote[1],
            spanId: remote[2],
            traceFlags: parseInt(remote[3], 16),
            isRemote: true,
          })
        : ROOT_CONTEXT;
      return tracer.startActiveSpan(
        name,
        { kind: KINDS[kind], attributes },
        parentContext,
        async (span: Span) => {
          try {
            return await work();
          } catch (error) {
            span.recordException(error as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },
    shutdown: () => sdk.shutdown(),
  };
  installTracing(tracing);
  return tracing;
}
