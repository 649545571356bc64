'use strict';
// crosstrace for CommonJS (`require('crosstrace')` in Node). Node 20 cannot require() an ES
// module, and loading the WebAssembly is asynchronous anyway, so this wrapper imports the ES
// module (node.js) on the first `init()`/`ready()` and forwards to it: one module instance, so
// code that imports and code that requires the package share their spans and context.
//   const ct = require('crosstrace');
//   await ct.init({ ... });            // before any other call, as with the ES module
//   ct.startSpan('work').end();

let esm = null;
let loading = null;

function load() {
  if (!loading) {
    loading = import('./node.js').then((m) => (esm = m));
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

function loaded() {
  if (esm === null) {
    const e = new Error('crosstrace is not initialised: await init(config) first');
    e.name = 'CrosstraceInvalidArgumentError';
    throw e;
  }
  return esm;
}

// Named one by one (not in a loop) so Node's CommonJS lexer and bundlers see every export.
exports.ready = (source) => load().then((m) => m.ready(source));
exports.init = (config) => load().then((m) => m.init(config));
exports.flush = () => load().then((m) => m.flush());
exports.shutdown = () => load().then((m) => m.shutdown());
exports.startSpan = (name, options) => loaded().startSpan(name, options);
exports.withSpan = (name, fn, options) => loaded().withSpan(name, fn, options);
exports.withCorrelation = (fields, fn) => loaded().withCorrelation(fields, fn);
exports.getCorrelationId = () => (esm === null ? undefined : esm.getCorrelationId());
exports.inject = (headers, from) => loaded().inject(headers, from);
exports.extract = (headers) => loaded().extract(headers);
exports.health = () => loaded().health();
exports.metricsText = () => loaded().metricsText();
// The classes exist once the module is loaded (after `await init()` or `await ready()`).
exports.Span = undefined;
exports.Context = undefined;
Object.defineProperty(exports, 'Span', { enumerable: true, get: () => loaded().Span });
Object.defineProperty(exports, 'Context', { enumerable: true, get: () => loaded().Context });
