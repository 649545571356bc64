// The browser test: headless Chromium loads a page that uses the built package to trace a
// checkout, calls a local endpoint with injected headers and exports over OTLP/HTTP — first to
// this harness (which decodes and checks the spans), then straight to the real Jaeger (CORS),
// where the same kind of trace is found through Jaeger's API.
//   node run.mjs <jaeger OTLP/HTTP url> <jaeger query url>
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { extname } from 'node:path';

import { loadPage } from '../chromium.mjs';

const [jaegerOtlp, jaegerQuery] = process.argv.slice(2);
const here = new URL('.', import.meta.url);
const pkg = new URL('../../pkg/', import.meta.url);
const require = createRequire(new URL('../../dev/package.json', import.meta.url));
const otlp = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const Request = otlp.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const state = { api: [], otlp: [], done: null };

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/api/stock') {
      state.api.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"sku":"A1","stock":4}');
    }
    if (url.pathname === '/v1/traces') {
      state.otlp.push(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      return res.end();
    }
    if (url.pathname === '/done') {
      state.done(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(204);
      return res.end();
    }
    const file =
      url.pathname === '/page.html'
        ? new URL('page.html', here)
        : new URL(`.${url.pathname.replace(/^\/pkg/, '')}`, pkg);
    try {
      const body = readFileSync(file);
      res.writeHead(200, {
        'content-type': types[extname(file.pathname)] ?? 'application/octet-stream',
      });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

async function runPage(otlpUrl, corr, hide = false, many = 0) {
  const done = new Promise((resolve) => {
    state.done = resolve;
  });
  const results = await loadPage(
    `${origin}/page.html?otlp=${encodeURIComponent(otlpUrl)}&corr=${corr}&hide=${hide ? 1 : 0}` +
      `&many=${many}`,
    done,
  );
  assert.equal(results.error, undefined, results.error);
  return results;
}

const hex = (b) => Buffer.from(b).toString('hex');
let checks = 0;

// 1. To this harness, flushed by `pagehide` (keepalive): decode the OTLP body, check the spans.
const r1 = await runPage(`${origin}/v1/traces`, 'browser-corr-1', true);
assert.equal(r1.health.spans_exported, 2);
const spans = state.otlp
  .map((b) => Request.decode(b))
  .flatMap((req) =>
    req.resourceSpans.flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ s, rs }))),
    ),
  );
assert.equal(spans.length, 2);
const byName = Object.fromEntries(spans.map(({ s, rs }) => [s.name, { s, rs }]));
const checkout = byName['checkout'].s;
const client = byName['GET /api/stock'].s;
assert.equal(hex(checkout.traceId), r1.traceId);
assert.equal(hex(client.traceId), r1.traceId);
assert.equal(hex(client.parentSpanId), r1.checkoutSpanId, 'client span is a child of checkout');
assert.equal(client.kind, 3, 'SPAN_KIND_CLIENT');
const attrs = (s) =>
  Object.fromEntries(
    s.attributes.map((a) => [
      a.key,
      a.value.stringValue ?? a.value.intValue?.toString() ?? a.value.boolValue,
    ]),
  );
assert.equal(attrs(checkout)['correlation.id'], 'browser-corr-1');
assert.equal(attrs(client)['http.response.status_code'], '200');
const service = byName['checkout'].rs.resource.attributes.find((a) => a.key === 'service.name');
assert.equal(service.value.stringValue, 'storefront-browser');
// The local endpoint saw the injected headers of the client span.
assert.equal(state.api.length, 1);
// Sampled (01), with the random trace id the browser made (02).
assert.equal(state.api[0].traceparent, `00-${r1.traceId}-${r1.clientSpanId}-03`);
assert.equal(state.api[0]['x-correlation-id'], 'browser-corr-1');
checks += 12;

// The very bodies the browser sent are accepted by the real Jaeger, which then holds the trace.
for (const body of state.otlp) {
  const res = await fetch(jaegerOtlp, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body,
  });
  assert.ok(res.ok, `Jaeger accepted the browser's OTLP body: ${res.status}`);
}
checks += 1;

async function jaegerTrace(traceId) {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${jaegerQuery}/api/traces/${traceId}`);
    if (res.ok) {
      const data = (await res.json()).data;
      if (data && data[0] && data[0].spans.length >= 2) return data[0];
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`trace ${traceId} not found in Jaeger`);
}
const t1 = await jaegerTrace(r1.traceId);
assert.equal(
  t1.spans.find((s) => s.operationName === 'GET /api/stock').references[0].spanID,
  r1.checkoutSpanId,
);
checks += 1;

// 1b. A page going away with more spans than one keepalive request may carry (browsers
// refuse a keepalive body over 64 KiB, with the other keepalive requests in flight): every
// span arrives, in requests each under that limit.
state.otlp = [];
const r3 = await runPage(`${origin}/v1/traces`, 'browser-corr-3', true, 300);
assert.equal(r3.health.spans_export_failed, 0, JSON.stringify(r3.health.last_export_error));
assert.equal(r3.health.spans_exported, 302);
const bulk = state.otlp.flatMap((b) =>
  Request.decode(b).resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)),
);
assert.equal(bulk.length, 302);
assert.ok(state.otlp.length > 1, `${state.otlp.length} request(s)`);
for (const b of state.otlp)
  assert.ok(b.length <= 64 * 1024, `a keepalive body of ${b.length} bytes`);
checks += 5;

// 2. Straight to the real Jaeger's OTLP/HTTP receiver (cross-origin: CORS).
const r2 = await runPage(jaegerOtlp, 'browser-corr-2');
assert.equal(r2.health.spans_exported, 2, JSON.stringify(r2.health));
const trace = await jaegerTrace(r2.traceId);
const jc = trace.spans.find((s) => s.operationName === 'GET /api/stock');
assert.equal(jc.references[0].spanID, r2.checkoutSpanId);
assert.equal(trace.processes[jc.processID].serviceName, 'storefront-browser');
checks += 3;

server.close();
console.log(`browser test: ${checks} checks passed`);
