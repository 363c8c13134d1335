// Preloaded (node --require) into the `async-hooks` copy of bench/observability.bench.ts: enters
// an AsyncLocalStorage at start-up, which on Node 20 turns on the async hooks that OpenTelemetry's
// context manager runs on, for the whole process, and nothing else. The copy measures what those
// hooks alone cost a request, apart from the instrumentations and the spans.
'use strict';
const { AsyncLocalStorage } = require('node:async_hooks');

new AsyncLocalStorage().enterWith({});
