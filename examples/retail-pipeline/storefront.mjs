// The storefront: a checkout module compiled to WebAssembly (crosstrace's npm package) that sends
// order events to the ingestion API. Each order is a new trace with its own correlation id; the
// request carries trace context, baggage and X-Correlation-ID. Prints one `ORDER {json}` line per
// order (its trace id, correlation id and the API's answer).
// With PIPELINE_FAULTS=1 some orders are made to fail or to be slow, as a real shop's are: an
// unknown currency (refused by the C component), a negative price (rejected by the ETL job), and
// an order flagged for manual review (the API holds it PIPELINE_REVIEW_SECONDS).
//
//   node storefront.mjs <package-dir> <api-url> <orders>
// Tracing is configured from the OTEL_* / CROSSTRACE_* environment, as an edge runtime binds it.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const [pkgDir, apiUrl, count = '3'] = process.argv.slice(2);
if (!pkgDir || !apiUrl) {
  console.error('usage: node storefront.mjs <package-dir> <api-url> <orders>');
  process.exit(2);
}
const ct = await import(pathToFileURL(resolve(pkgDir, 'node.js')).href);

const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k.startsWith('OTEL_') || k.startsWith('CROSSTRACE_')),
);
await ct.init({ OTEL_SERVICE_NAME: 'storefront', ...env });

const catalogue = [
  { sku: 'SKU-APPLE', price: 1.2, currency: 'EUR' },
  { sku: 'SKU-PEAR', price: 2.5, currency: 'USD' },
  { sku: 'SKU-FIG', price: 4.0, currency: 'GBP' },
];

// Which orders fail or are slow: fixed strides, so a run's faults are known in advance.
const faults = process.env.PIPELINE_FAULTS === '1';
function fault(i) {
  if (!faults) return null;
  if (i % 37 === 5) return 'currency';
  if (i % 41 === 17) return 'price';
  if (i % 53 === 11) return 'review';
  return null;
}

let failed = 0;
for (let i = 0; i < Number(count); i++) {
  const item = catalogue[i % catalogue.length];
  const order = { order_id: `ord-${Date.now()}-${i}`, qty: 1 + (i % 3), ...item };
  const kind = fault(i);
  if (kind === 'currency') order.currency = 'XXX';
  if (kind === 'price') order.price = -1;
  if (kind === 'review') order.review = true;
  const startedMs = Date.now();
  // A new trace and correlation per order: the customer's checkout.
  const cx = new ct.Context().withCorrelation(undefined, `customer-${i % 5}`, 'checkout');
  const checkout = ct.startSpan('checkout', {
    parent: cx,
    attributes: { 'order.id': order.order_id, 'order.sku': order.sku, 'order.qty': order.qty },
  });
  const call = ct.startSpan('POST /orders', {
    kind: 'client',
    parent: checkout,
    attributes: {
      'peer.service': 'ingestion-api',
      'http.request.method': 'POST',
      'url.full': `${apiUrl}/orders`,
    },
  });
  const traceId = checkout.traceId;
  const headers = ct.inject({ 'content-type': 'application/json' }, call);
  const sampled = call.sampled;
  let answer;
  try {
    const res = await fetch(`${apiUrl}/orders`, {
      method: 'POST',
      headers,
      body: JSON.stringify(order),
    });
    call.setAttribute('http.response.status_code', res.status);
    answer = await res.json();
    if (!res.ok) {
      call.setStatus('error', `HTTP ${res.status}`);
      failed++;
    }
  } catch (e) {
    call.recordException(e);
    failed++;
  }
  call.end();
  checkout.end();
  console.log(
    `ORDER ${JSON.stringify({
      order_id: order.order_id,
      trace_id: traceId,
      sampled,
      correlation_id: cx.correlationId(),
      api: answer,
      fault: kind,
      started_ms: startedMs,
    })}`,
  );
}
await ct.flush();
await ct.shutdown();
const h = ct.health();
if (h.spans_export_failed > 0)
  console.error(`storefront: ${h.spans_export_failed} spans failed to export`);
process.exit(failed === 0 ? 0 : 1);
