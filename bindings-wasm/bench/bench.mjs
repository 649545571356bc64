// `make bench` for the npm package: per-span cost beside @opentelemetry/sdk-trace-base (its
// BatchSpanProcessor) in one run — in Node, in a loop that yields every 256 spans (as pages and
// servers do) and in one that never yields, and in headless Chromium — with a fresh attribute
// object per span; and the gzipped size of the package beside a minified bundle of
// @opentelemetry/sdk-trace-web + @opentelemetry/exporter-trace-otlp-http.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import * as ct from '../pkg/node.js';

const require = createRequire(new URL('../dev/package.json', import.meta.url));
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');

const N = 100_000;
const ROUNDS = 5;
const CHUNK = 256;

// Attributes as applications pass them: a fresh plain object per span, 3 (one-letter and longer
// keys; string, number, boolean) or 20.
const attrs3 = (i) => ({ 'order.id': i, store: 'berlin-01', express: true });
const KEYS20 = Array.from({ length: 20 }, (_, k) => (k % 2 ? `k${k}` : `order.attribute.${k}`));
const attrs20 = (i) => {
  const o = {};
  for (let k = 0; k < 20; k++)
    o[KEYS20[k]] = k % 3 === 0 ? `v${i}` : k % 3 === 1 ? i + k : k % 2 === 0;
  return o;
};
// Yielding as a page or a server does between pieces of work (a macrotask: the SDK's batch
// processor gets its timer turns, and garbage collection its idle time).
const tick = () => new Promise((r) => setImmediate(r));

async function measureOnce(run) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  return { wall: (ms * 1e6) / N, cpu: ((cpu.user + cpu.system) * 1e3) / N };
}

// crosstrace: the none backend drains batches from the core's queue (no network).
await ct.init({ backend: 'none', maxQueueSize: 262144, exportMaxBatchSize: 512 });
const crosstraceRound = (attrs, yields) => async () => {
  for (let i = 0; i < N; i++) {
    ct.startSpan('checkout', { attributes: attrs(i) }).end();
    if (yields && i % CHUNK === CHUNK - 1) await tick();
  }
  await ct.flush();
};

// The official SDK: BatchSpanProcessor (its defaults) with an exporter that accepts everything.
let exported = 0;
const exporter = {
  export(spans, done) {
    exported += spans.length;
    done({ code: 0 });
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};
const provider = new BasicTracerProvider({
  spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 262144 })],
});
const tracer = provider.getTracer('bench');
const sdkRound = (attrs, yields) => async () => {
  for (let i = 0; i < N; i++) {
    tracer.startSpan('checkout', { attributes: attrs(i) }).end();
    if (yields && i % CHUNK === CHUNK - 1) await tick();
  }
  await provider.forceFlush();
};

// Rounds in turns (a warm-up of each first), best of ROUNDS each: a machine that gets busier or
// quieter during the run weighs on both alike.
const better = (best, c) => (!best || c.cpu < best.cpu ? c : best);
const rows = [];
for (const [label, attrs, yields] of [
  ['Node, 3 attributes, yields every 256 spans', attrs3, true],
  ['Node, 20 attributes, yields every 256 spans', attrs20, true],
  ['Node, 3 attributes, never yields', attrs3, false],
  ['Node, 20 attributes, never yields', attrs20, false],
]) {
  await crosstraceRound(attrs, yields)();
  await sdkRound(attrs, yields)();
  let ours = null;
  let theirs = null;
  for (let r = 0; r < ROUNDS; r++) {
    ours = better(ours, await measureOnce(crosstraceRound(attrs, yields)));
    theirs = better(theirs, await measureOnce(sdkRound(attrs, yields)));
  }
  rows.push([label, ours, theirs]);
}
const h = ct.health();
if (h.spans_exported !== h.spans_ended)
  throw new Error(`not all spans exported: ${JSON.stringify(h)}`);

// Headless Chromium: the same loops in a page (browser_bench.mjs), main-thread time per span.
const { browserRows } = await import('./browser_bench.mjs');
rows.push(...(await browserRows(N, ROUNDS)));

const us = (x) => (x / 1000).toFixed(2).padStart(7);
console.log(
  `per span, best of ${ROUNDS} x ${N} in turns; wall / CPU in µs (Chromium: wall / main-thread busy);`,
);
console.log('the ratio is OpenTelemetry-JS (sdk-trace-base 2.x, BatchSpanProcessor) / crosstrace:');
console.log(
  `${'scenario'.padEnd(50)} ${'crosstrace'.padStart(16)} ${'OpenTelemetry-JS'.padStart(18)}`,
);
for (const [label, ours, theirs] of rows) {
  console.log(
    `${label.padEnd(50)} ${us(ours.wall)} / ${us(ours.cpu)}   ${us(theirs.wall)} / ${us(theirs.cpu)}   ${(theirs.cpu / ours.cpu).toFixed(2)}x`,
  );
}
console.log('(goal: 2x on the yielding loops; reproduce with `bash scripts/wasm.sh bench`)');

// Size: what a page downloads.
const pkgDir = new URL('../pkg/', import.meta.url);
const ours =
  gzipSync(readFileSync(new URL('web/crosstrace_wasm_bg.wasm', pkgDir)), { level: 9 }).length +
  gzipSync(readFileSync(new URL('web/crosstrace_wasm.js', pkgDir)), { level: 9 }).length +
  gzipSync(readFileSync(new URL('index.js', pkgDir)), { level: 9 }).length +
  gzipSync(readFileSync(new URL('core.js', pkgDir)), { level: 9 }).length;
const dir = mkdtempSync(join(tmpdir(), 'otel-web-'));
const entry = join(dir, 'entry.mjs');
writeFileSync(
  entry,
  `import { WebTracerProvider } from '@opentelemetry/sdk-trace-web';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
export const provider = new WebTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
provider.register();
`,
);
const devDir = new URL('../dev/', import.meta.url).pathname;
execFileSync(
  join(devDir, 'node_modules/.bin/esbuild'),
  [
    entry,
    '--bundle',
    '--minify',
    '--format=esm',
    '--platform=browser',
    `--outfile=${join(dir, 'otel.js')}`,
  ],
  {
    cwd: devDir,
    stdio: 'ignore',
    env: { ...process.env, NODE_PATH: join(devDir, 'node_modules') },
  },
);
const theirs = gzipSync(readFileSync(join(dir, 'otel.js')), { level: 9 }).length;
console.log(
  `gzipped size: crosstrace .wasm + JS ${(ours / 1024).toFixed(1)} KiB, sdk-trace-web + exporter-trace-otlp-http (minified) ${(theirs / 1024).toFixed(1)} KiB: ${(ours / theirs).toFixed(1)}x`,
);
// The floor: opentelemetry_sdk alone in wasm (bindings-wasm/size-floor: one span to an exporter
// that counts, built for size), below which no package on the Rust SDK can go.
if (process.env.CT_SIZE_FLOOR_DIR) {
  const floorDir = process.env.CT_SIZE_FLOOR_DIR;
  const floor =
    gzipSync(readFileSync(join(floorDir, 'crosstrace_wasm_size_floor_bg.wasm')), { level: 9 })
      .length +
    gzipSync(readFileSync(join(floorDir, 'crosstrace_wasm_size_floor.js')), { level: 9 }).length;
  console.log(
    `gzipped size floor: opentelemetry_sdk alone in wasm (one span, no export; opt-level z, wasm-opt -Oz) ${(floor / 1024).toFixed(1)} KiB: ${(floor / theirs).toFixed(1)}x the JS bundle`,
  );
}
await ct.shutdown();
