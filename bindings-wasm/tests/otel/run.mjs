// The OpenTelemetry JS API on crosstrace (`crosstrace/otel`), with the official instrumentations
// unchanged: in Node (-http, -undici: node_test.cjs) and in a page bundled by esbuild and loaded
// by headless Chromium (-fetch, -xml-http-request, -document-load: page_entry.mjs). In both, a
// client span's context reaches the server in `traceparent` and the spans are exported by
// crosstrace over OTLP/HTTP to this harness, which decodes and checks them.
//   node run.mjs <package dir>
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';

import { loadPage } from '../chromium.mjs';

const pkg = resolve(process.argv[2] ?? new URL('../../pkg', import.meta.url).pathname);
const here = new URL('.', import.meta.url).pathname;
const dev = new URL('../../dev/', import.meta.url).pathname;
const require = createRequire(join(dev, 'package.json'));
const otlp = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const Request = otlp.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const esbuild = require('esbuild');

// A project as a user has it: the package in node_modules beside the OpenTelemetry packages
// (linked from the dev tools' install: one copy of @opentelemetry/api for everyone).
const project = mkdtempSync(join(tmpdir(), 'crosstrace-otel-'));
mkdirSync(join(project, 'node_modules'));
for (const name of readdirSync(join(dev, 'node_modules'))) {
  if (name.startsWith('.')) continue;
  symlinkSync(join(dev, 'node_modules', name), join(project, 'node_modules', name));
}
cpSync(pkg, join(project, 'node_modules', 'crosstrace'), { recursive: true });
writeFileSync(join(project, 'package.json'), '{"name":"otel-test","private":true}\n');

const hex = (b) => Buffer.from(b).toString('hex');
function decode(bodies) {
  return bodies
    .map((b) => Request.decode(b))
    .flatMap((req) =>
      req.resourceSpans.flatMap((rs) =>
        rs.scopeSpans.flatMap((ss) =>
          ss.spans.map((s) => ({
            name: s.name,
            kind: s.kind,
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parent: s.parentSpanId && s.parentSpanId.length ? hex(s.parentSpanId) : '',
            start: BigInt(s.startTimeUnixNano.toString()),
            events: s.events.map((e) => ({
              name: e.name,
              time: BigInt(e.timeUnixNano.toString()),
            })),
            attrs: Object.fromEntries(
              s.attributes.map((a) => [a.key, a.value.stringValue ?? String(a.value.intValue)]),
            ),
            service: rs.resource.attributes.find((a) => a.key === 'service.name').value.stringValue,
          })),
        ),
      ),
    );
}
const CLIENT = 3;
const SERVER = 2;
let checks = 0;

/** The client span that made the request the server saw for `via`. */
function clientOf(spans, seen, via, service) {
  const req = seen.find((s) => s.url.endsWith(`via=${via}`));
  assert.ok(req, `the server saw the ${via} request`);
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[13]$/.exec(req.traceparent ?? '');
  assert.ok(m, `${via}: a sampled traceparent reached the server (${req.traceparent})`);
  const client = spans.find((s) => s.spanId === m[2]);
  assert.ok(client, `${via}: the client span named in traceparent was exported by crosstrace`);
  assert.equal(client.traceId, m[1]);
  assert.equal(client.kind, CLIENT, `${via}: a client span`);
  assert.equal(client.service, service);
  checks += 5;
  return client;
}

/** No client span for crosstrace's own export requests (the receiving server here is traced
 * as any server is: in Node it is an instrumented server in the same process). */
function noExportSpans(spans) {
  const own = spans.filter(
    (s) =>
      s.kind === CLIENT && Object.values(s.attrs).some((v) => String(v).includes('/v1/traces')),
  );
  assert.deepEqual(own, [], "crosstrace's own export requests are not traced");
  checks += 1;
}

// 1. Node: -http and -undici.
cpSync(join(here, 'node_test.cjs'), join(project, 'node_test.cjs'));
const out = execFileSync(process.execPath, ['node_test.cjs'], { cwd: project, encoding: 'utf8' });
const node = JSON.parse(out.trim().split('\n').pop());
const nodeSpans = decode(node.bodies.map((b) => Buffer.from(b, 'base64')));
assert.equal(node.health.spans_dropped ?? 0, 0);
for (const via of ['http', 'undici', 'nested']) {
  const client = clientOf(nodeSpans, node.seen, via, 'otel-node');
  const server = nodeSpans.find((s) => s.kind === SERVER && s.parent === client.spanId);
  assert.ok(server, `${via}: the instrumented server's span is the client span's child`);
  assert.equal(server.traceId, client.traceId);
  checks += 2;
}
const nested = clientOf(nodeSpans, node.seen, 'nested', 'otel-node');
const checkout = nodeSpans.find((s) => s.name === 'checkout');
assert.equal(nested.parent, checkout.spanId, "startActiveSpan's span is the fetch's parent");
assert.equal(checkout.attrs['cart.items'], '2');
checks += 2;
const late = nodeSpans.find((sp) => sp.name === 'late child');
assert.equal(late.traceId, node.late.parent.traceId, 'a child of an ended span: same trace');
assert.equal(late.parent, node.late.parent.spanId);
assert.match(node.late.carrier.traceparent ?? '', new RegExp(node.late.parent.spanId));
const foreignChild = nodeSpans.find((sp) => sp.name === 'foreign child');
assert.ok(foreignChild, 'the span under a foreign parent is exported');
assert.equal(foreignChild.traceId, node.foreign.traceId, "another SDK's parent, without W3C");
assert.equal(foreignChild.parent, node.foreign.spanId);
assert.ok(
  nodeSpans.some((sp) => sp.name === 'odd values'),
  'a span given odd values is still exported',
);
assert.ok(
  nodeSpans.filter((sp) => sp.name === 'odd start').length === 2,
  'a span given a start time crosstrace refuses starts now, and is exported',
);
checks += 8;
const named = (n) => nodeSpans.find((sp) => sp.name === n);
assert.equal(named('api inner').parent, named('ct outer').spanId, 'an API span inside withSpan');
assert.equal(named('ct inner').parent, named('api outer').spanId, 'startSpan inside an API span');
checks += 2;
noExportSpans(nodeSpans);
console.log(`otel (Node): ${nodeSpans.length} spans exported through crosstrace`);

// 2. Headless Chromium: -fetch, -xml-http-request, -document-load, bundled by esbuild.
cpSync(join(here, 'page_entry.mjs'), join(project, 'page_entry.mjs'));
await esbuild.build({
  entryPoints: [join(project, 'page_entry.mjs')],
  absWorkingDir: project,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  outfile: join(project, 'www', 'app.js'),
  logLevel: 'warning',
});
const state = { seen: [], bodies: [], done: null };
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/api/stock') {
      state.seen.push({ url: req.url, traceparent: req.headers.traceparent });
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"stock":4}');
    }
    if (url.pathname === '/v1/traces') {
      state.bodies.push(Buffer.concat(chunks));
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
        ? null
        : url.pathname.startsWith('/web/')
          ? join(project, 'node_modules', 'crosstrace', url.pathname)
          : join(project, 'www', url.pathname);
    if (file === null) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(
        '<!doctype html><title>otel</title><script type="module" src="/app.js"></script>',
      );
    }
    try {
      const body = readFileSync(file);
      const types = { '.js': 'text/javascript', '.wasm': 'application/wasm' };
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;
const done = new Promise((resolve) => {
  state.done = resolve;
});
let page;
try {
  page = await loadPage(`${origin}/page.html`, done);
} finally {
  server.close();
}
assert.equal(page.error, undefined, page.error);
assert.deepEqual(page.registered, { tracerProvider: true, propagator: true, contextManager: true });
const pageSpans = decode(state.bodies);
clientOf(pageSpans, state.seen, 'fetch', 'otel-page');
clientOf(pageSpans, state.seen, 'xhr', 'otel-page');
const load = pageSpans.find((s) => s.name === 'documentLoad');
assert.ok(load, 'document-load: the documentLoad span was exported by crosstrace');
assert.ok(
  pageSpans.some((s) => s.name === 'documentFetch' && s.parent === load.spanId),
  'document-load: documentFetch under documentLoad',
);
// The instrumentation adds its performance timings as events when the load is over, each at
// the time measured (a performance.now() number): fetchStart is the span's start, not the time
// of the call.
const fetchStart = load.events.find((e) => e.name === 'fetchStart');
assert.ok(fetchStart, 'document-load: a fetchStart event');
const gap =
  fetchStart.time > load.start ? fetchStart.time - load.start : load.start - fetchStart.time;
assert.ok(gap < 1_000_000n, `document-load: fetchStart at the span's start (${gap} ns apart)`);
checks += 5;
noExportSpans(pageSpans);
console.log(`otel (Chromium): ${pageSpans.length} spans exported through crosstrace`);
rmSync(project, { recursive: true, force: true });
console.log(`otel test: ${checks} checks passed`);
