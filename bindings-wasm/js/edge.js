// crosstrace: the entry point for edge runtimes (the `workerd` and `edge-light` export
// conditions, and `crosstrace/edge`), on the full build (wasm/: every encoder, and config objects
// of `OTEL_*` strings, as edge runtimes bind their environment). The .wasm is fetched from next to this file: `new URL(<literal>,
// import.meta.url)` is the pattern webpack 5, Vite/Rollup and Parcel rewrite to the emitted asset
// (esbuild keeps it as written: see the README). Never imports `node:*`.
import * as glue from './wasm/crosstrace_wasm.js';
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
 * Response of the .wasm, e.g. what `import wasm from 'crosstrace/wasm'` gives wrangler or Vercel
 * Edge, whose conditions pick the full build's), by default fetched from next to this file.
 * Called by `init`; call it first where the default cannot work. */
export function ready(source) {
  return _ready(source, () => new URL('./wasm/crosstrace_wasm_bg.wasm', import.meta.url));
}

/**
 * Configures tracing. `config` holds TracingConfig fields in camelCase (`serviceName`,
 * `backend`, `endpoint`, `samplingRate`, ...) or `OTEL_*` strings (an edge runtime's env).
 * Throws an Error named CrosstraceConfigError naming the bad setting.
 */
export async function init(config = {}) {
  await ready();
  _init(config);
}
