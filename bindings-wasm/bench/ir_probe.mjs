// Instructions per span for `make bench`: one library, 3 or 20 attributes, `n` spans in the
// loop that yields every 256 spans (workload.mjs), then a flush; run under
// `valgrind --tool=callgrind` by bench.mjs at two sizes, whose difference is what the spans
// cost (V8's start-up and warm-up fall out).
//   node bindings-wasm/bench/ir_probe.mjs <ct|otel> <3|20> <n>
import * as ct from '../pkg/node.js';
import { attrs20, attrs3, crosstraceRound, sdk, sdkRound } from './workload.mjs';

const [who, count, n] = process.argv.slice(2);
const attrs = count === '20' ? attrs20 : attrs3;
if (who === 'ct') {
  await ct.init({ backend: 'none', maxQueueSize: 262144, exportMaxBatchSize: 512 });
  await crosstraceRound(ct, Number(n), attrs, true)();
  if (ct.health().spans_exported !== Number(n)) throw new Error('not every span was exported');
} else {
  const s = sdk();
  await sdkRound(s, Number(n), attrs, true)();
  if (s.counted.exported !== Number(n)) throw new Error('not every span was exported');
}
