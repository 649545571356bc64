// What the Node bench (bench.mjs) and its instruction counts (ir_probe.mjs) share: the
// attributes each span gets and the yielding loop, on crosstrace and on OpenTelemetry-JS.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../dev/package.json', import.meta.url));
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');

export const CHUNK = 256;

export { attrs3, attrs20 } from './attributes.mjs';

// Yielding as a page or a server does between pieces of work (a macrotask: the SDK's batch
// processor gets its timer turns, and garbage collection its idle time).
const tick = () => new Promise((r) => setImmediate(r));

/** `n` spans on crosstrace (`ct`, initialised), yielding every CHUNK spans or never; flushed. */
export function crosstraceRound(ct, n, attrs, yields) {
  return async () => {
    for (let i = 0; i < n; i++) {
      ct.startSpan('checkout', { attributes: attrs(i) }).end();
      if (yields && i % CHUNK === CHUNK - 1) await tick();
    }
    await ct.flush();
  };
}

/** The official SDK: BatchSpanProcessor with an exporter that accepts everything, counting. */
export function sdk() {
  const counted = { exported: 0 };
  const exporter = {
    export(spans, done) {
      counted.exported += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 262144 })],
  });
  return { provider, tracer: provider.getTracer('bench'), counted };
}

/** `n` spans on the SDK (from `sdk()`), as `crosstraceRound`. */
export function sdkRound({ provider, tracer }, n, attrs, yields) {
  return async () => {
    for (let i = 0; i < n; i++) {
      tracer.startSpan('checkout', { attributes: attrs(i) }).end();
      if (yields && i % CHUNK === CHUNK - 1) await tick();
    }
    await provider.forceFlush();
  };
}
