// The built npm package, as users import it (ESM), under node:test. Run by scripts/wasm.sh test.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { test } from 'node:test';

import * as ct from '../pkg/node.js';
import * as glue from '../pkg/wasm/crosstrace_wasm.js';

const require = createRequire(new URL('../dev/package.json', import.meta.url));
const otlp = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const TraceRequest = otlp.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** Every exported span of the OTLP bodies, as decoded. */
function decodedSpans(requests) {
  return requests
    .map((r) => TraceRequest.decode(r.body))
    .flatMap((req) => req.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
}

/** Every exported span of the OTLP bodies, with its attributes as JS values. */
function exportedSpans(requests) {
  const value = (v) =>
    v.stringValue ??
    v.boolValue ??
    (v.intValue !== undefined && v.intValue !== null ? BigInt(v.intValue.toString()) : undefined) ??
    v.doubleValue;
  return decodedSpans(requests).map((s) => ({
    name: s.name,
    attrs: Object.fromEntries(s.attributes.map((a) => [a.key, value(a.value)])),
  }));
}

const vectors = (name) =>
  JSON.parse(readFileSync(new URL(`../../tests/vectors/${name}`, import.meta.url), 'utf8'));

/** A local OTLP/HTTP endpoint recording request bodies and headers. */
async function collector(status = 200) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(status, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/v1/traces`;
  return { url, requests, close: () => new Promise((r) => server.close(r)) };
}

test('config: camelCase fields and OTEL_* strings, errors are named Error objects', async () => {
  await ct.init({ serviceName: 'edge-fn', backend: 'none', samplingRate: 0.5 });
  assert.equal(ct.health().service_name, 'edge-fn');
  assert.equal(ct.health().sampling_rate, 0.5);
  await ct.init({ OTEL_SERVICE_NAME: 'edge-env', OTEL_BACKEND: 'none' });
  assert.equal(ct.health().service_name, 'edge-env');
  await assert.rejects(ct.init({ OTEL_BACKEND: 'kafka' }), (e) => {
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'CrosstraceConfigError');
    assert.match(e.message, /OTEL_BACKEND="kafka"/);
    return true;
  });
  await assert.rejects(ct.init({ sampleRate: 1 }), { name: 'CrosstraceConfigError' });
  // An edge worker's env (or process.env) holds other bindings and variables: only the
  // OTEL_* ones are read, and an env without any asks for the defaults.
  await ct.init({
    OTEL_SERVICE_NAME: 'edge-kv',
    OTEL_BACKEND: 'none',
    ENVIRONMENT: 'prod',
    NODE_ENV: 'production',
    API_TOKEN: 'secret',
    MY_KV: { get() {} },
    myQueue: {},
  });
  assert.equal(ct.health().service_name, 'edge-kv');
  assert.equal(ct.health().environment, 'prod');
  await ct.init({ PATH: '/usr/bin', HOME: '/root' });
  assert.equal(ct.health().service_name, 'retail-etl-pipeline');
  // A config of fields names a bad key as it was written.
  await assert.rejects(ct.init({ serviceName: 'x', OTEL_BACKEND: 'none' }), (e) => {
    assert.equal(e.name, 'CrosstraceConfigError');
    assert.match(e.message, /^invalid OTEL_BACKEND="none"/);
    assert.match(e.message, /expected a TracingConfig field in camelCase \(serviceName/);
    assert.doesNotMatch(e.message, /_o_t_e_l/);
    return true;
  });
  // An endpoint with the console backend (the default) prints spans: said in health.
  await ct.init({ endpoint: 'http://127.0.0.1:4318/v1/traces' });
  assert.ok(ct.health().warnings.some((w) => w.includes('backend is console')));
  await assert.rejects(ct.init({ backend: 'otlp', endpoint: 'http://127.0.0.1:4317' }), {
    name: 'CrosstraceExporterSetupError',
    message: /gRPC/,
  });
});

test('shared vectors: config environments', async () => {
  for (const c of [...vectors('config_env.json').cases, ...vectors('config_bounds.json').cases]) {
    if (c.expect) {
      await ct.init({ ...c.env, OTEL_BACKEND: c.env.OTEL_BACKEND ?? 'none' }).catch((e) => {
        // A backend the wasm build cannot speak (gRPC) is not what this vector is about.
        if (e.name !== 'CrosstraceExporterSetupError') throw e;
      });
    } else {
      await assert.rejects(ct.init(c.env), (e) => {
        assert.equal(e.name, 'CrosstraceConfigError', c.name);
        assert.ok(e.message.includes(c.error.variable), `${c.name}: ${e.message}`);
        assert.ok(e.message.includes(c.error.expected_contains ?? ''), `${c.name}: ${e.message}`);
        return true;
      });
    }
  }
});

const camel = (s) => s.replace(/_(.)/g, (_, c) => c.toUpperCase());
// The vectors' stand-ins for what JSON cannot hold, as JS values.
const jsValue = (v) =>
  v === 'NaN'
    ? NaN
    : v === 'inf'
      ? Infinity
      : typeof v === 'string' && /^\d+$/.test(v)
        ? BigInt(v)
        : v;

test('shared vectors: config fields in camelCase', async () => {
  for (const c of vectors('config_fields.json').cases) {
    const config = { backend: 'none' };
    for (const [k, v] of Object.entries(c.config)) config[camel(k)] = jsValue(v);
    if (c.expect) {
      await ct.init(config);
    } else {
      await assert.rejects(ct.init(config), (e) => {
        assert.equal(e.name, 'CrosstraceConfigError', c.name);
        for (const part of [camel(c.error.field), c.error.value, c.error.expected_contains]) {
          assert.ok(e.message.includes(part), `${c.name}: ${part} in ${e.message}`);
        }
        return true;
      });
    }
  }
});

// The extract vectors through every shape JS code has headers in: the same context from each.
const pairsOf = (h) => (Array.isArray(h) ? h : Object.entries(h));
const carriers = {
  'as given (object or pairs)': (h) => h,
  'array of pairs': (h) => pairsOf(h),
  "Node's flat rawHeaders": (h) => pairsOf(h).flat(),
  'an IncomingMessage-like { rawHeaders }': (h) => ({ rawHeaders: pairsOf(h).flat() }),
  // Fetch joins repeated lines with ", ": one list, the same result.
  Headers: (h) => {
    try {
      return new Headers(pairsOf(h));
    } catch {
      return undefined; // a value Fetch refuses (not a valid header value)
    }
  },
};

test('shared vectors: propagation extract and inject', async () => {
  for (const c of vectors('propagation_extract.json').cases) {
    await ct.init({
      OTEL_BACKEND: 'none',
      OTEL_PROPAGATORS: c.propagators.length ? c.propagators.join(',') : 'none',
    });
    for (const [carrier, make] of Object.entries(carriers)) {
      const headers = make(c.headers);
      if (headers === undefined) continue;
      const name = `${c.name} via ${carrier}`;
      const got = JSON.parse(ct.extract(headers).toJSON());
      if (c.expect.span === null) assert.equal(got.span, null, name);
      else
        for (const [k, v] of Object.entries(c.expect.span))
          assert.equal(got.span?.[k], v, `${name}: ${k}`);
      if (c.expect.baggage) assert.deepEqual(got.baggage, c.expect.baggage, name);
      if (c.expect.baggage_count)
        assert.equal(Object.keys(got.baggage).length, c.expect.baggage_count, name);
      if ('correlation' in c.expect) assert.deepEqual(got.correlation, c.expect.correlation, name);
    }
  }
  for (const c of vectors('propagation_inject.json').cases) {
    await ct.init({
      OTEL_BACKEND: 'none',
      OTEL_PROPAGATORS: c.propagators.length ? c.propagators.join(',') : 'none',
    });
    const cx = ct.Context.fromJSON(JSON.stringify(c.context));
    assert.deepEqual(ct.inject({}, cx), c.expect_headers, c.name);
  }
});

test('shared vectors: error kinds are the JS names', async () => {
  const names = vectors('error_kinds.json').kinds.map((k) => k.js_name);
  assert.ok(names.includes('CrosstraceConfigError'));
  await assert.rejects(ct.init({ OTEL_SAMPLING_RATE: '2' }), (e) => names.includes(e.name));
});

test('spans: parents, withSpan over async functions, rejections recorded', async () => {
  const c = await collector();
  await ct.init({
    serviceName: 'shop-web',
    backend: 'otlp',
    endpoint: c.url,
    scheduleDelayMillis: 60000,
  });
  const trace = await ct.withSpan('checkout', async (root) => {
    root.setAttribute('cart.items', 3);
    const child = ct.startSpan('price lookup', { kind: 'client', attributes: { sku: 'A1' } });
    assert.equal(child.traceId, root.traceId, 'the current span is the default parent');
    child.end();
    child.end(); // idempotent
    await new Promise((r) => setTimeout(r, 5));
    return root.traceId;
  });
  await assert.rejects(
    ct.withSpan('failing', async () => {
      throw new TypeError('no stock');
    }),
    TypeError,
  );
  const other = ct.startSpan('unrelated');
  assert.notEqual(other.traceId, trace, 'no current span outside withSpan');
  other.end();
  assert.equal(await ct.flush(), true, 'every span exported');
  const h = ct.health();
  assert.equal(h.spans_exported, 4);
  assert.equal(h.spans_export_failed, 0);
  assert.equal(c.requests.length, 1);
  assert.equal(c.requests[0].headers['content-type'], 'application/x-protobuf');
  const body = c.requests[0].body.toString('latin1');
  for (const s of ['checkout', 'price lookup', 'failing', 'no stock', 'TypeError', 'shop-web']) {
    assert.ok(body.includes(s), `OTLP body carries ${s}`);
  }
  await c.close();
});

test('a whole number is an integer however it is set', async () => {
  const c = await collector();
  await ct.init({
    serviceName: 'ints',
    backend: 'otlp',
    endpoint: c.url,
    scheduleDelayMillis: 60000,
  });
  const span = ct.startSpan('ints', { attributes: { at_start: 2 ** 60, small: 3 } });
  span.setAttribute('set_later', 2 ** 60);
  span.setAttribute('fraction', 2.5);
  span.end();
  await ct.flush();
  const [s] = decodedSpans(c.requests);
  const kinds = Object.fromEntries(
    s.attributes.map((a) => [
      a.key,
      a.value.intValue != null ? `int ${a.value.intValue}` : 'double',
    ]),
  );
  assert.deepEqual(kinds, {
    at_start: `int ${2n ** 60n}`,
    small: 'int 3',
    set_later: `int ${2n ** 60n}`,
    fraction: 'double',
  });
  await c.close();
});

test('events keep the time they are given', async () => {
  const c = await collector();
  await ct.init({
    serviceName: 'timed',
    backend: 'otlp',
    endpoint: c.url,
    scheduleDelayMillis: 60000,
  });
  const span = ct.startSpan('timed');
  span.addEvent('at a date', { n: 1 }, new Date(1_700_000_000_000));
  span.addEvent('at ms', undefined, 1_700_000_000_250.5);
  span.addEvent('now');
  assert.throws(() => span.addEvent('too early', {}, 5), {
    name: 'CrosstraceInvalidArgumentError',
  });
  span.end();
  await ct.flush();
  const [s] = decodedSpans(c.requests);
  const times = Object.fromEntries(
    s.events.map((e) => [e.name, BigInt(e.timeUnixNano.toString())]),
  );
  assert.equal(times['at a date'], 1_700_000_000_000_000_000n);
  assert.equal(times['at ms'], 1_700_000_000_250_500_000n);
  assert.ok(times.now > 1_700_000_000_000_000_000n && !('too early' in times));
  await c.close();
});

test('an ended span object never reaches a later span, however often its slot is reused', async () => {
  await ct.init({ serviceName: 'reuse', backend: 'none' });
  const a = ct.startSpan('a');
  a.end();
  // One span at a time: each reuses a's slot, and the 4096th has a's generation again.
  for (let i = 0; i < 4095; i++) ct.startSpan('x').end();
  const b = ct.startSpan('b');
  a.setAttribute('late', 1);
  a.end();
  assert.equal(b.isRecording(), true, 'a late end() on an ended span left another span alone');
  b.end();
  assert.equal(b.isRecording(), false);
});

test("a span's huge attribute does not keep the memory it crossed in", async () => {
  await ct.init({ serviceName: 'huge', backend: 'none' });
  const { memory } = await glue.default();
  const big = (c) => c.repeat(4 << 20); // 4 Mi characters: 12 MiB of room to pack them
  ct.startSpan('first', { attributes: { v: big('a') } }).end();
  const grown = memory.buffer.byteLength;
  // Packed, then passed as they are (a class's instance is not packed): each path needs the memory
  // the other used, so the memory grows no further when neither keeps it.
  for (let i = 0; i < 4; i++) {
    ct.startSpan('packed', { attributes: { v: big('b') } }).end();
    ct.startSpan('as they are', {
      attributes: Object.assign(new (class Attrs {})(), { v: big('c') }),
    }).end();
  }
  assert.equal(memory.buffer.byteLength, grown);
});

test('JS values cross as JSON would: undefined is unset; a throwing getter is an error', async () => {
  // Settings and correlation fields set to undefined are left out (as when they crossed as JSON).
  await ct.init({
    backend: 'none',
    serviceName: 'js-values',
    endpoint: undefined,
    headers: { a: undefined },
  });
  assert.equal(ct.health().service_name, 'js-values');
  ct.withCorrelation({ correlationId: 'c-1', jobId: undefined, region: 'eu' }, () => {
    const headers = ct.inject({});
    assert.match(headers.baggage, /correlation\.region=eu/);
    assert.doesNotMatch(headers.baggage, /jobId/);
  });
  // Context#withCorrelation takes its fields as an object or as their JSON.
  for (const fields of [{ team: 'a' }, '{"team":"a"}']) {
    const cx = new ct.Context().withCorrelation('c-2', undefined, undefined, fields);
    assert.match(ct.inject({}, cx).baggage, /correlation\.team=a/);
  }
  // A getter that throws: its error reaches the caller, and the module keeps working.
  const span = ct.startSpan('getters');
  const hostile = {
    get boom() {
      throw new RangeError('no');
    },
  };
  assert.throws(() => span.addEvent('e', hostile), RangeError);
  assert.throws(() => span.addLink(span, hostile), RangeError);
  span.addEvent('fine', { ok: true });
  span.end();
  const next = ct.startSpan('after');
  next.end();
  assert.equal(ct.health().spans_ended, 2);
});

test('inject and extract with Headers and plain objects; correlation travels', async () => {
  await ct.init({ backend: 'none' });
  ct.withCorrelation({ correlationId: 'order-77', userId: 'u9', jobId: 'j1' }, (id) => {
    assert.equal(id, 'order-77');
    assert.equal(ct.getCorrelationId(), 'order-77');
    const span = ct.startSpan('call api', { kind: 'client' });
    const headers = ct.inject(new Headers(), span);
    assert.equal(headers.get('x-correlation-id'), 'order-77');
    // A new trace: sampled (01) with a random trace id (02).
    assert.match(headers.get('traceparent'), new RegExp(`^00-${span.traceId}-${span.spanId}-03$`));
    assert.match(headers.get('baggage'), /correlation\.jobId=j1/);
    const back = ct.extract(headers);
    assert.equal(back.traceId(), span.traceId);
    assert.equal(back.correlationId(), 'order-77');
    const server = ct.startSpan('GET /api', { kind: 'server', parent: back });
    assert.equal(server.traceId, span.traceId);
    server.end();
    span.end();
  });
  assert.equal(ct.getCorrelationId(), undefined, 'restored outside');
  assert.throws(() => ct.withCorrelation({ correlationId: 'bad id' }, () => {}), {
    name: 'CrosstraceInvalidArgumentError',
  });
  const plain = ct.extract({ traceparent: 'garbage' });
  assert.equal(plain.traceId(), undefined, 'bad headers give an empty context');
});

test('inject writes into a Map, an array of pairs and a ClientRequest-like object', async () => {
  await ct.init({ backend: 'none' });
  const span = ct.startSpan('out', { kind: 'client' });
  const want = ct.inject({}, span).traceparent;
  assert.equal(ct.inject(new Map(), span).get('traceparent'), want);
  const pairs = ct.inject(
    [
      ['x', '1'],
      ['Traceparent', 'stale'],
    ],
    span,
  );
  assert.deepEqual(
    pairs.filter(([k]) => k.toLowerCase() === 'traceparent'),
    [['traceparent', want]],
  );
  assert.deepEqual(pairs[0], ['x', '1']);
  const flat = ct.inject(['x', '1', 'traceparent', 'stale'], span);
  assert.deepEqual(flat, ['x', '1', ...Object.entries(ct.inject({}, span)).flat()]);
  const set = {};
  ct.inject({ setHeader: (k, v) => (set[k] = v) }, span);
  assert.equal(set.traceparent, want);
  span.end();
});

test('attributes cross into wasm exactly: every type, any text, many keys and names', async () => {
  const c = await collector();
  await ct.init({
    backend: 'otlp',
    endpoint: c.url,
    scheduleDelayMillis: 60000,
    maxQueueSize: 8192,
  });
  const long = 'x'.repeat(3000); // past the scratch buffer's first size
  const given = {
    ascii: 'berlin-01',
    accents: 'Zürich café',
    emoji: 'cart 🛒 ok',
    mixed: 'a'.repeat(10) + 'ü' + 'b'.repeat(10),
    empty: '',
    long,
    yes: true,
    no: false,
    int: 12345,
    negative: -7,
    float: 2.5,
    big: 2 ** 60, // past 2^53, a whole number: an integer, as the JSON path gave it
    bigint: 9007199254740993n,
    'key ünïcode': 1,
  };
  ct.startSpan('every type', { attributes: given }).end();
  // Many distinct keys and names: past the interned tables, they go inline.
  for (let i = 0; i < 4200; i++) {
    ct.startSpan(`name-${i}`, { attributes: { [`key-${i}`]: i } }).end();
  }
  // Memory grows between spans (a big string value copied in): views are renewed.
  ct.startSpan('after growth', { attributes: { huge: 'y'.repeat(2_000_000), ok: 1 } }).end();
  ct.startSpan('no attributes').end();
  ct.startSpan('empty object', { attributes: {} }).end();
  // Each value read once: a getter answering differently on a second read cannot make the
  // write overrun what was measured; a getter that starts a span of its own keeps its keys.
  let reads = 0;
  ct.startSpan('getter', {
    attributes: {
      get v() {
        return reads++ === 0 ? 'x' : 'é'.repeat(20000);
      },
    },
  }).end();
  ct.startSpan('outer', {
    attributes: {
      a: 'outer-a',
      get b() {
        ct.startSpan('inner', { attributes: { zz: 'inner-z', yy: 1 } }).end();
        return 'outer-b';
      },
    },
  }).end();
  // Own properties only, as JSON.stringify took them.
  const derived = Object.create({ inherited: 'from-proto' });
  derived.own = 1;
  ct.startSpan('derived', { attributes: derived }).end();
  await ct.flush();
  const spans = exportedSpans(c.requests);
  const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
  const a = byName['every type'].attrs;
  for (const k of ['ascii', 'accents', 'emoji', 'mixed', 'empty', 'yes', 'no', 'float']) {
    assert.equal(a[k], given[k], k);
  }
  assert.equal(a.long.length, long.length > 0 ? a.long.length : 0);
  assert.ok(long.startsWith(a.long), 'the long string, as truncated by the limits');
  assert.equal(a.int, 12345n);
  assert.equal(a.negative, -7n);
  assert.equal(a.big, 2n ** 60n);
  assert.equal(a.bigint, 9007199254740993n);
  assert.equal(a['key ünïcode'], 1n);
  assert.equal(byName['name-4199'].attrs['key-4199'], 4199n, 'inline key and name');
  assert.equal(byName['name-17'].attrs['key-17'], 17n, 'interned key and name');
  assert.equal(byName['after growth'].attrs.ok, 1n);
  assert.deepEqual(byName['no attributes'].attrs, {});
  assert.deepEqual(byName['empty object'].attrs, {});
  assert.deepEqual(byName['getter'].attrs, { v: 'x' });
  assert.equal(reads, 1, 'each value read once');
  assert.deepEqual(byName['outer'].attrs, { a: 'outer-a', b: 'outer-b' });
  assert.deepEqual(byName['inner'].attrs, { zz: 'inner-z', yy: 1n });
  assert.deepEqual(byName['derived'].attrs, { own: 1n });
  assert.equal(spans.length, 4208);
  await c.close();
});

test('bad arguments throw named errors, never crash', async () => {
  await ct.init({ backend: 'none' });
  assert.throws(() => ct.startSpan('x', { kind: 'sideways' }), {
    name: 'CrosstraceInvalidArgumentError',
  });
  assert.throws(() => ct.startSpan('x', { attributes: { o: {} } }), {
    name: 'CrosstraceInvalidArgumentError',
  });
  assert.throws(() => ct.startSpan('x', { attributes: { n: 2n ** 70n } }), {
    name: 'CrosstraceInvalidArgumentError',
  });
  assert.throws(() => ct.startSpan('x', { attributes: ['a'] }), {
    name: 'CrosstraceInvalidArgumentError',
  });
  assert.throws(() => ct.startSpan('x', { attributes: 'text' }), {
    name: 'CrosstraceInvalidArgumentError',
  });
  assert.throws(() => ct.startSpan('x', { parent: 42 }), {
    name: 'CrosstraceInvalidArgumentError',
  });
  const s = ct.startSpan('x');
  assert.throws(() => s.setStatus('maybe'), { name: 'CrosstraceInvalidArgumentError' });
  s.end();
});

test('a full queue drops and counts; export errors are counted', async () => {
  const c = await collector(503);
  await ct.init({
    backend: 'otlp',
    endpoint: c.url,
    maxQueueSize: 10,
    exportMaxBatchSize: 10,
    scheduleDelayMillis: 60000,
  });
  for (let i = 0; i < 25; i++) {
    const s = ct.startSpan(`s${i}`);
    s._end_without_flush();
  }
  assert.equal(ct.health().spans_dropped_queue_full, 15);
  assert.equal(await ct.flush(), false, 'the flush says its spans were lost');
  const h = ct.health();
  assert.equal(h.spans_export_failed, 10);
  assert.equal(h.last_export_error.kind, 'http_503');
  assert.equal(
    h.spans_ended,
    h.spans_exported + h.spans_dropped_queue_full + h.spans_export_failed,
  );
  await c.close();
});

test('the console backend prints a tree with console.log', async () => {
  await ct.init({ serviceName: 'cli', backend: 'console' });
  const lines = [];
  const log = console.log;
  console.log = (s) => lines.push(String(s));
  try {
    ct.withSpan('outer', () => ct.startSpan('inner').end());
    await ct.flush();
  } finally {
    console.log = log;
  }
  const text = lines.join('\n');
  assert.match(text, /outer \[internal\]/);
  assert.match(text, /\n {4}inner \[internal\]/);
});

test('timestamps have sub-millisecond precision (performance.now)', async () => {
  const c = await collector();
  await ct.init({ backend: 'zipkin', endpoint: c.url.replace('/v1/traces', '/api/v2/spans') });
  for (let i = 0; i < 5; i++) ct.startSpan(`precise${i}`).end();
  await ct.flush();
  const spans = JSON.parse(c.requests[0].body.toString('utf8'));
  assert.equal(spans.length, 5);
  // Microsecond timestamps: with Date.now() (the SDK's wasm clock) all would be whole ms.
  assert.ok(
    spans.some((s) => s.timestamp % 1000 !== 0),
    JSON.stringify(spans.map((s) => s.timestamp)),
  );
  await c.close();
});

test('flushes on its own: at batch size and on the schedule-delay timer', async () => {
  const c = await collector();
  await ct.init({
    backend: 'otlp',
    endpoint: c.url,
    exportMaxBatchSize: 5,
    scheduleDelayMillis: 60000,
  });
  for (let i = 0; i < 5; i++) ct.startSpan(`b${i}`).end();
  for (let i = 0; i < 50 && c.requests.length === 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(c.requests.length, 1, 'a full batch is sent without flush()');
  await ct.init({
    backend: 'otlp',
    endpoint: c.url,
    exportMaxBatchSize: 100,
    scheduleDelayMillis: 50,
  });
  ct.startSpan('lonely').end();
  for (let i = 0; i < 100 && c.requests.length === 1; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(c.requests.length, 2, 'a partial batch is sent when the timer fires');
  await c.close();
});

test('flush exports what was queued when called, even when its export makes spans', async () => {
  // A traced server in the same program answering the export: every export request ends a
  // span. flush() used to export until the queue was empty, and so never returned.
  const requests = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push(req.url);
      ct.startSpan('POST /v1/traces', { kind: 'server' }).end();
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  await ct.init({
    backend: 'otlp',
    endpoint: `http://127.0.0.1:${server.address().port}/v1/traces`,
    scheduleDelayMillis: 60000,
  });
  for (let i = 0; i < 3; i++) ct.startSpan(`work-${i}`).end();
  const flushed = await Promise.race([
    ct.flush().then(() => true),
    new Promise((r) => setTimeout(() => r(false), 5000)),
  ]);
  assert.equal(flushed, true, 'flush() returns');
  assert.equal(requests.length, 1, 'one export for the 3 spans queued at the call');
  assert.equal(ct.health().queue_depth, 1, "the export's own server span waits for the next flush");
  await new Promise((r) => server.close(r));
});

test('a bad end time throws and leaves the span open, to be ended', async () => {
  await ct.init({ backend: 'none' });
  const before = ct.health();
  for (const bad of [performance.now(), Infinity, new Date(NaN), 1e300]) {
    const s = ct.startSpan('late');
    assert.throws(() => s.end(bad), { name: 'CrosstraceInvalidArgumentError' });
    assert.equal(s.isRecording(), true);
    s.end();
  }
  const after = ct.health();
  assert.equal(after.spans_started - before.spans_started, 4);
  assert.equal(after.spans_ended - before.spans_ended, 4);
});

test('a second init exports what the first setup still held, as it said', async () => {
  const first = await collector();
  const second = await collector();
  await ct.flush(); // what earlier tests left queued goes (or fails) now, not in the answers below
  await ct.init({ backend: 'otlp', endpoint: first.url, scheduleDelayMillis: 60000 });
  ct.startSpan('queued before').end();
  const live = ct.startSpan('ended after');
  await ct.init({ backend: 'otlp', endpoint: second.url, scheduleDelayMillis: 60000 });
  live.end();
  ct.startSpan('new setup').end();
  assert.equal(await ct.flush(), true);
  const names = (c) => exportedSpans(c.requests).map((s) => s.name);
  assert.deepEqual(names(first).sort(), ['ended after', 'queued before']);
  assert.deepEqual(names(second), ['new setup']);
  // A failure of the replaced setup is flush's answer too.
  const down = await collector(503);
  await ct.init({ backend: 'otlp', endpoint: down.url, scheduleDelayMillis: 60000 });
  ct.startSpan('to a refusing backend').end();
  await ct.init({ backend: 'none' });
  assert.equal(await ct.flush(), false);
  assert.equal(down.requests.length, 1);
  assert.equal(await ct.flush(), true);
  await Promise.all([first.close(), second.close(), down.close()]);
});

test('shutdown exports what is queued; later spans are no-ops', async () => {
  const c = await collector();
  await ct.init({ backend: 'otlp', endpoint: c.url, scheduleDelayMillis: 60000 });
  ct.startSpan('last').end();
  await ct.shutdown();
  assert.equal(ct.health().spans_exported, 1);
  assert.equal(ct.startSpan('after').isRecording(), false);
  assert.equal(ct.health().spans_started_after_shutdown, 1);
  await c.close();
});

test('span metrics: the shared span program gives the golden text byte for byte', async () => {
  const program = vectors('metrics_program.json');
  const golden = readFileSync(
    new URL('../../tests/vectors/metrics_program.prom', import.meta.url),
    'utf8',
  );
  await ct.init(program.config);
  const unsampled = ct.extract({ traceparent: program.unsampled_parent_traceparent });
  for (const s of program.spans) {
    const span = ct.startSpan(s.name, {
      kind: s.kind,
      attributes: s.attributes,
      parent: s.unsampled_parent ? unsampled : new ct.Context(),
      startTime: new Date(program.base_unix_ms + s.start_ms),
    });
    if (s.attributes_after) span.setAttributes(s.attributes_after);
    if (s.status) span.setStatus(s.status, s.description);
    span.end(program.base_unix_ms + s.end_ms);
  }
  assert.equal(ct.metricsText(), golden);
  assert.equal(ct.health().metrics_series, 9);
  assert.throws(
    () => ct.startSpan('x', { startTime: Number.NaN }),
    (e) => e.name === 'CrosstraceInvalidArgumentError' && /time/.test(e.message),
  );
});

test("shared vectors: a continued span takes only the headers' correlation", async () => {
  const v = vectors('extracted_correlation.json');
  await ct.init({ backend: 'none' });
  ct.withCorrelation({ correlationId: v.current_correlation_id }, () => {
    for (const c of v.cases) {
      const span =
        c.headers === null
          ? ct.startSpan('continued', { kind: 'server' })
          : ct.startSpan('continued', { kind: 'server', parent: ct.extract(c.headers) });
      if (c.expect_trace_id === null) {
        assert.notEqual(span.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', c.name);
      } else {
        assert.equal(span.traceId, c.expect_trace_id, c.name);
      }
      const headers = ct.inject({}, span);
      assert.equal(headers['x-correlation-id'] ?? null, c.expect_correlation_id, c.name);
      span.end();
    }
  });
});

test('the resource names Node, the process instance and the host', async () => {
  const c = await collector();
  await ct.init({
    backend: 'otlp',
    endpoint: c.url,
    scheduleDelayMillis: 60000,
    resourceAttributes: { 'k8s.pod.name': 'edge-7' },
  });
  ct.startSpan('described').end();
  await ct.flush();
  const body = c.requests[0].body.toString('latin1');
  for (const s of [
    'telemetry.sdk.language',
    'nodejs',
    'service.instance.id',
    'host.name',
    hostname(),
    'edge-7',
  ]) {
    assert.ok(body.includes(s), `OTLP resource carries ${s}`);
  }
  assert.ok(!body.includes('\x04rust'), "not the core's own language");
  await c.close();
});
