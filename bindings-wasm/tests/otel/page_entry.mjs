// The page of the OpenTelemetry-API browser test, bundled by esbuild as a web team would: the
// official fetch, XMLHttpRequest and document-load instrumentations, unchanged, on crosstrace
// through `crosstrace/otel` (which also gives the page its context manager).
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { DocumentLoadInstrumentation } from '@opentelemetry/instrumentation-document-load';
import { FetchInstrumentation } from '@opentelemetry/instrumentation-fetch';
import { XMLHttpRequestInstrumentation } from '@opentelemetry/instrumentation-xml-http-request';
import * as ct from 'crosstrace';
import { registerOpenTelemetry } from 'crosstrace/otel';

const results = {};
try {
  await ct.init({
    serviceName: 'otel-page',
    backend: 'otlp',
    endpoint: `${location.origin}/v1/traces`,
    scheduleDelayMillis: 60000,
  });
  results.registered = registerOpenTelemetry();
  delete results.registered.provider;
  registerInstrumentations({
    instrumentations: [
      new FetchInstrumentation(),
      new XMLHttpRequestInstrumentation(),
      new DocumentLoadInstrumentation(),
    ],
  });
  const r = await fetch('/api/stock?via=fetch');
  await r.json();
  await new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.open('GET', '/api/stock?via=xhr');
    x.onloadend = resolve;
    x.send();
  });
  // The instrumentations end their spans once the resource timing is in (up to 300 ms).
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await ct.flush();
  // A second export after the first one's requests had their time: had the instrumented fetch
  // traced the first export, its client span would be in this one.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await ct.flush();
  results.health = ct.health();
} catch (e) {
  results.error = String((e && e.stack) || e);
}
await fetch('/done', { method: 'POST', body: JSON.stringify(results) });
