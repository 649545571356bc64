'use strict';
// Node: the official @opentelemetry/instrumentation-http and -undici, unchanged, on crosstrace
// through `crosstrace/otel`. An instrumented server answers an http.get and a fetch (undici);
// each client span's context reaches the server in `traceparent`, the server span is its
// child, and every span is exported by crosstrace (to an OTLP/HTTP receiver in this process,
// whose own requests are not traced). Run by run.mjs inside a project that has the package
// installed; prints one JSON line for run.mjs to check.
const assert = require('node:assert/strict');

async function main() {
  const api = require('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  // Node programs register their context manager (crosstrace's is for pages without one).
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici');
  registerInstrumentations({
    instrumentations: [new HttpInstrumentation(), new UndiciInstrumentation()],
  });
  const http = require('node:http'); // after the instrumentation: the patched module

  const seen = [];
  const bodies = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        bodies.push(Buffer.concat(chunks).toString('base64'));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        return res.end();
      }
      seen.push({ url: req.url, traceparent: req.headers.traceparent });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"stock":4}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;

  const ct = await import('crosstrace');
  const { registerOpenTelemetry } = await import('crosstrace/otel');
  await ct.init({
    serviceName: 'otel-node',
    backend: 'otlp',
    endpoint: `${origin}/v1/traces`,
    scheduleDelayMillis: 60000,
  });
  const registered = registerOpenTelemetry();
  assert.equal(registered.tracerProvider, true, 'crosstrace is the global TracerProvider');
  assert.equal(registered.contextManager, false, "the program's own context manager stays");

  await new Promise((resolve, reject) => {
    http
      .get(`${origin}/api/stock?via=http`, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
  const r = await fetch(`${origin}/api/stock?via=undici`);
  await r.json();
  // A span of the program's own, through the API, around an instrumented call: its child.
  const tracer = api.trace.getTracer('checkout-service', '1.0.0');
  await tracer.startActiveSpan('checkout', async (span) => {
    span.setAttribute('cart.items', 2);
    await (await fetch(`${origin}/api/stock?via=nested`)).json();
    span.end();
  });
  // A span that ended is still a parent, and still injects.
  const done = tracer.startSpan('ended parent');
  done.end();
  const late = tracer.startSpan('late child', {}, api.trace.setSpan(api.context.active(), done));
  late.end();
  const carrier = {};
  api.propagation.inject(api.trace.setSpan(api.context.active(), done), carrier);
  // crosstrace's own API and the OpenTelemetry API nest with each other, both ways.
  ct.withSpan('ct outer', () => tracer.startSpan('api inner').end());
  tracer.startActiveSpan('api outer', (span) => {
    ct.startSpan('ct inner').end();
    span.end();
  });
  // The API never throws, whatever it is given.
  const odd = tracer.startSpan('odd values');
  odd.addEvent('e', { x: NaN, s: 'bad \ud83d' });
  odd.recordException(new Error('bad \ud83d'));
  odd.setAttribute('n', Infinity);
  odd.end(NaN);
  tracer.startSpan('odd start', { startTime: NaN }).end();
  tracer.startSpan('odd start', { startTime: 1e300 }).end();
  // Baggage: what crosstrace extracts is the API's baggage, and the API's is what goes out
  // (set, replaced and removed through it), as with OpenTelemetry-JS's baggage propagator.
  const received = api.propagation.extract(api.ROOT_CONTEXT, {
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    baggage: 'tenant=acme,secret=s3cr3t',
  });
  const bag = api.propagation.getBaggage(received);
  assert.deepEqual(
    Object.fromEntries(bag.getAllEntries().map(([k, e]) => [k, e.value])),
    { tenant: 'acme', secret: 's3cr3t' },
    'extracted baggage is readable through the API',
  );
  const changed = bag.removeEntry('secret').setEntry('plan', { value: 'gold' });
  const out = {};
  api.propagation.inject(api.propagation.setBaggage(received, changed), out);
  assert.deepEqual(out.baggage.split(',').sort(), ['plan=gold', 'tenant=acme']);
  const fresh = {};
  api.propagation.inject(
    api.propagation.setBaggage(
      api.ROOT_CONTEXT,
      api.propagation.createBaggage({ k: { value: 'v' } }),
    ),
    fresh,
  );
  assert.equal(fresh.baggage, 'k=v', 'baggage set through the API alone goes out');
  await ct.flush();
  await new Promise((r) => setTimeout(r, 300));
  // The provider's SDK-shaped flush and shutdown (code written for OpenTelemetry-JS calls them).
  await registered.provider.forceFlush();
  await registered.provider.shutdown();
  // A parent from another SDK (a span context the API wraps) under a config without W3C
  // tracecontext: still the parent.
  await ct.init({
    serviceName: 'otel-node',
    backend: 'otlp',
    endpoint: `${origin}/v1/traces`,
    scheduleDelayMillis: 60000,
    propagators: ['b3'],
  });
  const foreign = {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: api.TraceFlags.SAMPLED,
    isRemote: true,
  };
  tracer
    .startSpan(
      'foreign child',
      {},
      api.trace.setSpan(api.ROOT_CONTEXT, api.trace.wrapSpanContext(foreign)),
    )
    .end();
  await ct.shutdown();
  server.close();
  console.log(
    JSON.stringify({
      seen,
      bodies,
      health: ct.health(),
      late: { parent: done.spanContext(), child: late.spanContext(), carrier },
      foreign,
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
