// The attributes each bench span gets, for Node (workload.mjs) and the Chromium page
// (browser_bench.mjs serves this file): no `node:*` import here.

// Attributes as applications pass them: a fresh plain object per span, 3 (one-letter and longer
// keys; string, number, boolean) or 20 (the Rust and Python benches' 20, as an object literal:
// building the object is not what is measured, and a literal is how code writes one).
export const attrs3 = (i) => ({ 'order.id': i, store: 'berlin-01', express: true });
export const attrs20 = (i) => ({
  'http.request.method': 'POST',
  'url.path': '/api/orders',
  'url.scheme': 'https',
  'server.address': 'orders.internal',
  'server.port': 8443,
  'http.response.status_code': 201,
  'http.route': '/api/orders',
  'user_agent.original': 'retail-storefront/2.4',
  'client.address': '10.1.2.3',
  'network.protocol.version': '1.1',
  'order.id': i,
  'order.total': 129.95,
  'order.items': 4,
  store: 'berlin-01',
  express: true,
  'customer.tier': 'gold',
  'payment.method': 'card',
  'db.system.name': 'postgresql',
  'db.collection.name': 'orders',
  'etl.stage': 'silver',
});
