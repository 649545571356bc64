// Compiled with the ES2022 library and @types/node only, no DOM library: a Node project's
// setup (scripts/wasm.sh). The package's typings must not need the DOM's types.
import { init, ready, startSpan, inject, extract, flush, type WasmSource } from '../pkg/index.js';

declare const bytes: Uint8Array;

export async function main(): Promise<boolean> {
  const source: WasmSource = bytes;
  await ready(source);
  await init({ serviceName: 'node-only' });
  await init(process.env);
  const span = startSpan('checkout', { kind: 'server' });
  const headers = inject({}, span);
  extract(headers);
  span.end();
  return flush();
}
