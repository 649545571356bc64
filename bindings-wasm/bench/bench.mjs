// `make bench` for the npm package: per-span cost in Node beside @opentelemetry/sdk-trace-base
// (its BatchSpanProcessor) in one run, and the gzipped size of the package beside a minified
// bundle of @opentelemetry/sdk-trace-web + @opentelemetry/exporter-trace-otlp-http.
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
const ROUNDS = 7;

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
async function crosstraceRound() {
  for (let i = 0; i < N; i++) {
    const s = ct.startSpan('checkout', {
      attributes: { 'order.id': 12345, store: 'berlin-01', express: true },
    });
    s.end();
  }
  await ct.flush();
}

// The official SDK: BatchSpanProcessor with an exporter that accepts everything.
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
  spanProcessors: [
    new BatchSpanProcessor(exporter, { maxQueueSize: 262144, maxExportBatchSize: 512 }),
  ],
});
const tracer = provider.getTracer('bench');
async function sdkRound() {
  for (let i = 0; i < N; i++) {
    const s = tracer.startSpan('checkout', {
      attributes: { 'order.id': 12345, store: 'berlin-01', express: true },
    });
    s.end();
  }
  await provider.forceFlush();
}

// Rounds in turns (a warm-up of each first), best of ROUNDS each: a machine that gets busier or
// quieter during the run weighs on both alike.
await crosstraceRound();
await sdkRound();
let crosstrace = null;
let sdk = null;
const better = (best, c) => (!best || c.cpu < best.cpu ? c : best);
for (let r = 0; r < ROUNDS; r++) {
  crosstrace = better(crosstrace, await measureOnce(crosstraceRound));
  sdk = better(sdk, await measureOnce(sdkRound));
}
const h = ct.health();
if (h.spans_exported !== h.spans_ended)
  throw new Error(`not all spans exported: ${JSON.stringify(h)}`);
if (exported !== N * (ROUNDS + 1)) throw new Error(`SDK exported ${exported}`);

const f = (c) => `${(c.wall / 1000).toFixed(2)} / ${(c.cpu / 1000).toFixed(2)} µs`;
console.log(`per span with 3 attributes, best of ${ROUNDS} x ${N}, wall / CPU:`);
console.log(`  crosstrace (wasm)                 ${f(crosstrace)}`);
console.log(`  @opentelemetry/sdk-trace-base     ${f(sdk)}`);
console.log(
  `  crosstrace is ${(sdk.cpu / crosstrace.cpu).toFixed(2)}x cheaper in CPU, ${(sdk.wall / crosstrace.wall).toFixed(2)}x in wall time (goal: 2x)`,
);

// Size: what a page downloads.
const pkgDir = new URL('../pkg/', import.meta.url);
const ours =
  gzipSync(readFileSync(new URL('wasm/crosstrace_wasm_bg.wasm', pkgDir)), { level: 9 }).length +
  gzipSync(readFileSync(new URL('wasm/crosstrace_wasm.js', pkgDir)), { level: 9 }).length +
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
