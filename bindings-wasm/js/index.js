// crosstrace: the entry point for browsers, web workers and bundlers (the `browser` and `default`
// export conditions), on the browser build (web/: OTLP/HTTP with protobuf bodies and the
// console, without the full build's Zipkin and Jaeger Thrift encoders). The .wasm is fetched from next to this file: `new URL(<literal>,
// import.meta.url)` is the pattern webpack 5, Vite/Rollup and Parcel rewrite to the emitted asset
// (esbuild keeps it as written: see the README). Never imports `node:*`.
import * as glue from './web/crosstrace_wasm.js';
import { _init, _ready, _use } from './core.js';

_use(glue);

export {
  Span,
  Context,
  startSpan,
  withSpan,
  withCorrelation,
  getCorrelationId,
  inject,
  extract,
  health,
  metricsText,
  flush,
  shutdown,
} from './core.js';

/** Loads the WebAssembly module: from `source` (a WebAssembly.Module, bytes, or a URL/string/
 * Response of the .wasm, e.g. what `import wasm from 'crosstrace/wasm'` gives a bundler), by default
 * fetched from next to this file. Called by `init`; call it first where the default cannot work. */
export function ready(source) {
  return _ready(source, () => new URL('./web/crosstrace_wasm_bg.wasm', import.meta.url));
}

/**
 * Configures tracing. `config` holds TracingConfig fields in camelCase (`serviceName`,
 * `backend`, `endpoint`, `samplingRate`, ...). This browser build reads no `OTEL_*` strings:
 * edge runtimes get the full build (`crosstrace/edge`), which does.
 * Throws an Error named CrosstraceConfigError naming the bad setting.
 */
export async function init(config = {}) {
  await ready();
  _init(config);
}
