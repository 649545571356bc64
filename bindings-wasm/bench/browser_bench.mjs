// The bench's loops in headless Chromium: crosstrace (the package as a page loads it) beside
// @opentelemetry/sdk-trace-base (bundled by esbuild), spans with a fresh attribute object each,
// yielding to the event loop every 256 spans (a MessageChannel turn, not a clamped timer).
// Per span: wall time, and the main thread's busy time (the loop's chunks and the final flush;
// the page is cross-origin isolated, so performance.now() has 5 µs resolution, not 100 µs).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';

import { loadPage } from '../tests/chromium.mjs';

const pkg = new URL('../pkg/', import.meta.url).pathname;
const dev = new URL('../dev/', import.meta.url).pathname;
const esbuild = createRequire(join(dev, 'package.json'))('esbuild');

const page = (n, rounds) => `<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
import * as ct from '/pkg/index.js';
import { BasicTracerProvider, BatchSpanProcessor } from '/otel-sdk.js';
import { attrs3, attrs20 } from '/attributes.js';
const N = ${n}, ROUNDS = ${rounds}, CHUNK = 256;
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()();
const tick = () => new Promise((r) => { waiting.push(r); channel.port2.postMessage(0); });
const results = [];
try {
  await ct.init({ backend: 'none', maxQueueSize: 262144, exportMaxBatchSize: 512 });
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor({ export(s, done) { done({ code: 0 }); },
      shutdown: async () => {}, forceFlush: async () => {} }, { maxQueueSize: 262144 })],
  });
  const tracer = provider.getTracer('bench');
  const libs = {
    ours: { span: (a) => ct.startSpan('checkout', { attributes: a }).end(), flush: () => ct.flush() },
    theirs: { span: (a) => tracer.startSpan('checkout', { attributes: a }).end(), flush: () => provider.forceFlush() },
  };
  async function round(lib, attrs) {
    let busy = 0;
    const t0 = performance.now();
    let c = performance.now();
    for (let i = 0; i < N; i++) {
      lib.span(attrs(i));
      if (i % CHUNK === CHUNK - 1) {
        busy += performance.now() - c;
        await tick();
        c = performance.now();
      }
    }
    await lib.flush();
    busy += performance.now() - c;
    return { wall: ((performance.now() - t0) * 1e6) / N, cpu: (busy * 1e6) / N };
  }
  for (const [label, attrs] of [['Chromium, 3 attributes, yields every 256 spans', attrs3],
                                ['Chromium, 20 attributes, yields every 256 spans', attrs20]]) {
    await round(libs.ours, attrs);
    await round(libs.theirs, attrs);
    let ours = null, theirs = null;
    for (let r = 0; r < ROUNDS; r++) {
      const a = await round(libs.ours, attrs);
      const b = await round(libs.theirs, attrs);
      if (!ours || a.cpu < ours.cpu) ours = a;
      if (!theirs || b.cpu < theirs.cpu) theirs = b;
    }
    results.push([label, ours, theirs]);
  }
  await fetch('/done', { method: 'POST', body: JSON.stringify({ results, isolated: crossOriginIsolated }) });
} catch (e) {
  await fetch('/done', { method: 'POST', body: JSON.stringify({ error: String(e && e.stack || e) }) });
}
</script>`;

/** The Chromium rows: [label, crosstrace, OpenTelemetry-JS], each { wall, cpu } in ns/span. */
export async function browserRows(n, rounds) {
  const dir = mkdtempSync(join(tmpdir(), 'crosstrace-bench-'));
  // The Node bench's attributes, served as a module of the page.
  writeFileSync(
    join(dir, 'attributes.js'),
    readFileSync(new URL('./attributes.mjs', import.meta.url)),
  );
  writeFileSync(
    join(dir, 'entry.mjs'),
    "export { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';\n",
  );
  await esbuild.build({
    entryPoints: [join(dir, 'entry.mjs')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    outfile: join(dir, 'otel-sdk.js'),
    nodePaths: [join(dev, 'node_modules')],
    logLevel: 'warning',
  });
  let report;
  const reported = new Promise((resolve) => {
    report = resolve;
  });
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      const headers = {
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
      };
      if (url.pathname === '/done') {
        report(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(204, headers);
        return res.end();
      }
      if (url.pathname === '/bench.html') {
        res.writeHead(200, { ...headers, 'content-type': 'text/html' });
        return res.end(page(n, rounds));
      }
      const file = url.pathname.startsWith('/pkg/')
        ? join(pkg, url.pathname.slice(5))
        : join(dir, url.pathname);
      try {
        const body = readFileSync(file);
        const types = { '.js': 'text/javascript', '.wasm': 'application/wasm' };
        res.writeHead(200, { ...headers, 'content-type': types[extname(file)] ?? 'text/plain' });
        res.end(body);
      } catch {
        res.writeHead(404, headers);
        res.end();
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const r = await loadPage(
      `http://127.0.0.1:${server.address().port}/bench.html`,
      reported,
      600_000,
    );
    if (r.error) throw new Error(`bench page: ${r.error}`);
    if (!r.isolated) throw new Error('the bench page is not cross-origin isolated');
    return r.results;
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
