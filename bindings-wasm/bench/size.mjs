// The browser payload of the npm package, and its budget (`make test` checks it through
// scripts/wasm.sh). The payload is what a page downloads: the .wasm as the package ships it, plus
// the browser entry (index.js, with core.js and wasm-bindgen's glue) bundled and minified by
// esbuild, each through `gzip -9`, summed. docs/wasm-size.md measures it the same way. GNU gzip,
// not node:zlib: node:zlib's output moves with the zlib each Node bundles (Node 20's makes the
// .wasm 1.6% larger), gzip's has not moved in decades, and a budget with a 1% margin needs one
// compressor for good.
//   node bindings-wasm/bench/size.mjs [check]   fails when the payload is over the budget
//   node bindings-wasm/bench/size.mjs measure   prints the sizes as JSON (for size-report)
//   node bindings-wasm/bench/size.mjs same-code NAMED.wasm   fails unless NAMED.wasm without its
//     names section is the shipped .wasm, byte for byte (size-report's build that keeps names)
// Reads the built package (bindings-wasm/pkg: `scripts/wasm.sh build`) and the budget in
// bindings-wasm/size-budget.json.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const pkgDir = new URL('../pkg/', import.meta.url);
const budgetFile = new URL('../size-budget.json', import.meta.url);
const budgetPath = 'bindings-wasm/size-budget.json';
// esbuild is a pinned dev dependency of the package (bindings-wasm/dev).
const require = createRequire(new URL('../dev/package.json', import.meta.url));
const esbuild = require('esbuild');

const gzip = (bytes) =>
  execFileSync('gzip', ['-9', '-n', '-c'], { input: bytes, maxBuffer: 1 << 26 }).length;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

function measure() {
  const wasmRaw = readFileSync(new URL('web/crosstrace_wasm_bg.wasm', pkgDir));
  // As docs/wasm-size.md: `esbuild --bundle --minify` of the browser entry. The .wasm's
  // `new URL(..., import.meta.url)` stays a reference: the bundle holds JavaScript only.
  const out = esbuild.buildSync({
    entryPoints: [fileURLToPath(new URL('index.js', pkgDir))],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'error',
  });
  const js = out.outputFiles[0].contents;
  const wasm = gzip(wasmRaw);
  const jsGz = gzip(js);
  return { wasm, js: jsGz, total: wasm + jsGz, wasmRaw: wasmRaw.length, jsRaw: js.length };
}

// The module without its custom section "name": each section is an id byte, its size (LEB128)
// and its contents; a custom section's (id 0) start with its name (a LEB128 length, the bytes).
function withoutNames(wasm) {
  const leb = (at) => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = wasm[at++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (byte < 0x80) return [value, at];
    }
  };
  const kept = [wasm.subarray(0, 8)];
  for (let at = 8; at < wasm.length;) {
    const [size, body] = leb(at + 1);
    const end = body + size;
    const [nameLength, name] = leb(body);
    const isNames =
      wasm[at] === 0 && wasm.subarray(name, name + nameLength).toString('latin1') === 'name';
    if (!isNames) kept.push(wasm.subarray(at, end));
    at = end;
  }
  return Buffer.concat(kept);
}

const mode = process.argv[2] ?? 'check';
if (mode === 'same-code') {
  const shipped = readFileSync(new URL('web/crosstrace_wasm_bg.wasm', pkgDir));
  if (!withoutNames(readFileSync(process.argv[3])).equals(shipped)) {
    console.error(`${process.argv[3]} without its names is not the package's .wasm`);
    process.exit(1);
  }
  process.exit(0);
}
const size = measure();
if (mode === 'measure') {
  console.log(JSON.stringify(size));
} else if (mode === 'check') {
  const { bytes: budget, marginPercent } = JSON.parse(readFileSync(budgetFile, 'utf8'));
  if (!Number.isInteger(budget) || !(marginPercent >= 0)) {
    console.error(`${budgetPath}: "bytes" must be an integer and "marginPercent" a number`);
    process.exit(1);
  }
  const line =
    `browser payload ${size.total} bytes (${kib(size.total)}): .wasm ${size.wasm} + JS ` +
    `${size.js}, gzip -9; budget ${budget} bytes (${kib(budget)}, ${budgetPath})`;
  const suggested = Math.ceil(size.total * (1 + marginPercent / 100));
  if (size.total > budget) {
    console.error(`FAIL: ${line}`);
    console.error(
      `The payload is ${size.total - budget} bytes over the budget. Make it smaller, or raise ` +
        `"bytes" in ${budgetPath} to ${suggested} (today's size + ${marginPercent}%) and say ` +
        `why in the commit; bash scripts/wasm.sh size-report shows where the bytes go.`,
    );
    process.exit(1);
  }
  console.log(`ok: ${line}`);
  // Set at a measured size plus the margin: 1 KiB or more below that size, the budget is loose.
  if (budget / (1 + marginPercent / 100) - size.total >= 1024) {
    console.log(
      `The payload shrank: lower "bytes" in ${budgetPath} to ${suggested} (today's size + ` +
        `${marginPercent}%), so the reduction is kept.`,
    );
  }
} else {
  console.error('usage: node bindings-wasm/bench/size.mjs [check|measure|same-code NAMED.wasm]');
  process.exit(2);
}
