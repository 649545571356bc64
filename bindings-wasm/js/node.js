// crosstrace: the entry point for Node >= 18 (and Deno, Bun: the `node` export condition, ES
// modules). The same API as index.js, on the full build (wasm/: optimised for speed, with the
// Zipkin and Jaeger Thrift encoders too); its .wasm is read from disk next to this file instead of
// fetched (Node's fetch cannot read file: URLs).
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
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

/** Loads the WebAssembly module: from `source` (a WebAssembly.Module, bytes, or a URL/Response),
 * by default read from disk next to this file. Called by `init`. */
export function ready(source) {
  return _ready(source, () => readFile(new URL('./wasm/crosstrace_wasm_bg.wasm', import.meta.url)));
}

/**
 * Configures tracing. `config` holds TracingConfig fields in camelCase (`serviceName`,
 * `backend`, `endpoint`, `samplingRate`, ...) or `OTEL_*` strings (an edge runtime's env).
 * Throws an Error named CrosstraceConfigError naming the bad setting.
 */
export async function init(config = {}) {
  await ready();
  // The resource's host.name (the resource names the runtime, nodejs, by itself).
  _init(config, hostname());
}
