// What the Node bench (bench.mjs) and its instruction counts (ir_probe.mjs) share: the
// attributes each span gets and the yielding loop, on crosstrace and on OpenTelemetry-JS.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../dev/package.json', import.meta.url));
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');

export const CHUNK = 256;

// Attributes as applications pass them: a fresh plain object per span, 3 (one-letter and longer
// keys; string, number, boolean) or 20.
export const attrs3 = (i) => ({ 'order.id': i, store: 'berlin-01', express: true });
const KEYS20 = Array.from({ length: 20 }, (_, k) => (k % 2 ? `k${k}` : `order.attribute.${k}`));
export const attrs20 = (i) => {
  const o = {};
  for (let k = 0; k < 20; k++)
    o[KEYS20[k]] = k % 3 === 0 ? `v${i}` : k % 3 === 1 ? i + k : k % 2 === 0;
  return o;
};
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
