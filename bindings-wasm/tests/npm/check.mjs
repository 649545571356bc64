// The npm package as users get it: `npm pack`ed, installed into fresh projects, used from Node
// (ESM and CommonJS) and built into a browser page by esbuild, Vite (Rollup) and webpack 5, each
// page loaded in headless Chromium. Every use starts a span, ends it and flushes it over
// OTLP/HTTP (protobuf) to a local collector this script runs (cross-origin for the pages: it
// answers CORS preflights), which must receive it.
//
//   node check.mjs [package.tgz | package-dir] [--only=node,esbuild,vite,webpack,types] [--keep] [--cold]
//
// Without an argument it packs ./pkg next to this file. --cold installs with an empty npm cache
// (the CI-without-cache time); --keep leaves the projects in the temp directory.
// Env: CHROMIUM (default /usr/bin/chromium), ESBUILD_VERSION, VITE_VERSION, WEBPACK_VERSION.
// Only node: builtins; the bundlers are installed into the projects under test.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import { stopChromium } from '../chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const only = (args.find((a) => a.startsWith('--only=')) ?? '--only=node,esbuild,vite,webpack,types')
  .slice(7)
  .split(',');
const target = args.find((a) => !a.startsWith('--')) ?? join(here, 'pkg');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const VERSIONS = {
  esbuild: process.env.ESBUILD_VERSION ?? '0.28.2',
  vite: process.env.VITE_VERSION ?? '7.3.8',
  webpack: process.env.WEBPACK_VERSION ?? '5.113.0',
};

const work = mkdtempSync(join(tmpdir(), 'crosstrace-npm-'));
const npmCache = flag('cold') ? join(work, 'npm-cache') : undefined;
const nonce = randomBytes(4).toString('hex');
let failures = 0;
const timings = [];
const sizes = [];

function check(ok, what, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ` — ${detail}` : ''}`);
  if (!ok) failures++;
  return ok;
}
const warn = (what) => console.log(`WARN ${what}`);

/** Runs a command; resolves { code, out, ms }. */
function run(cmd, argv, { cwd, env = {}, timeout = 600_000 } = {}) {
  const t0 = performance.now();
  return new Promise((resolveRun) => {
    const child = spawn(cmd, argv, {
      cwd,
      env: {
        ...process.env,
        npm_config_fund: 'false',
        npm_config_audit: 'false',
        npm_config_update_notifier: 'false',
        ...(npmCache ? { npm_config_cache: npmCache } : {}),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, out, ms: performance.now() - t0 });
    });
  });
}
const secs = (ms) => `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s`;

// ---------------------------------------------------------------------------------------------
// The collector: OTLP/HTTP on /v1/traces (CORS for the pages), and /report for the pages' results.
const received = [];
const reports = new Map();
const waiters = new Map();
const collector = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const cors = {
      'access-control-allow-origin': req.headers.origin ?? '*',
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers':
        req.headers['access-control-request-headers'] ?? 'content-type',
      'access-control-max-age': '600',
      vary: 'origin',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      return res.end();
    }
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST' && url.pathname === '/v1/traces') {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { ...cors, 'content-type': 'application/x-protobuf' });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/report') {
      const id = url.searchParams.get('id');
      let report;
      try {
        report = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        report = { error: `unparsable report: ${e}` };
      }
      // The first report wins (a late window error must not replace a result).
      if (!reports.has(id)) {
        reports.set(id, report);
        waiters.get(id)?.(report);
      }
      res.writeHead(204, cors);
      return res.end();
    }
    res.writeHead(404, cors);
    res.end();
  });
});
await new Promise((r) => collector.listen(0, '127.0.0.1', r));
const collectorOrigin = `http://127.0.0.1:${collector.address().port}`;
const endpoint = `${collectorOrigin}/v1/traces`;

/** The OTLP request that carries span `name` (protobuf: the name's bytes are in the body). */
function exported(name) {
  const needle = Buffer.from(name);
  return received.find((r) => r.body.includes(needle));
}
function checkExported(what, spanName) {
  const r = exported(spanName);
  check(
    r !== undefined && r.headers['content-type'] === 'application/x-protobuf',
    `${what}: the collector received span "${spanName}" as OTLP/HTTP protobuf`,
    r
      ? `${r.body.length} B, ${r.headers['content-type']}`
      : `${received.length} requests, none with it`,
  );
}

// ---------------------------------------------------------------------------------------------
// A static server (with the application/wasm type) for the built pages.
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};
async function serveStatic(root) {
  const log = [];
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = resolve(root, `.${path}`);
    if (
      !(file + sep).startsWith(resolve(root) + sep) ||
      !existsSync(file) ||
      !statSync(file).isFile()
    ) {
      log.push({ path, status: 404 });
      res.writeHead(404);
      return res.end();
    }
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    log.push({ path, status: 200, type });
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    log,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Loads `pageUrl` in a fresh headless Chromium; resolves the page's report (or a timeout error). */
async function browse(pageUrl, id, timeoutMs = 45_000) {
  const profile = mkdtempSync(join(work, 'chromium-'));
  const report = new Promise((r) => {
    waiters.set(id, r);
    setTimeout(
      () => r({ error: `no report from the page within ${timeoutMs / 1000} s` }),
      timeoutMs,
    );
  });
  const chrome = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--enable-logging=stderr',
      '--v=0',
      `--user-data-dir=${profile}`,
      pageUrl,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  chrome.stderr.on('data', (d) => (stderr += d));
  try {
    const r = await report;
    if (r.error) {
      const console_ = stderr
        .split('\n')
        .filter((l) => /CONSOLE|Uncaught|ERROR:.*(wasm|fetch|module)/i.test(l));
      r.console = console_.slice(-8).join('\n');
    }
    return r;
  } finally {
    waiters.delete(id);
    await stopChromium(chrome, profile);
  }
}

// ---------------------------------------------------------------------------------------------
// The page every bundler builds: main.js imports 'crosstrace', exports one span, reports.
const PAGE_MAIN = (
  prelude = '',
  beforeInit = '',
) => `${prelude}import { init, startSpan, flush, health } from 'crosstrace';

const params = new URLSearchParams(location.search);
const reportTo = params.get('collector') + '/report?id=' + params.get('id');

async function main() {
  ${beforeInit}await init({
    serviceName: 'crosstrace-npm-check',
    backend: 'otlp',
    endpoint: params.get('collector') + '/v1/traces',
    otlpProtocol: 'http/protobuf',
    scheduleDelayMillis: 60000,
  });
  const span = startSpan(params.get('span'), { kind: 'client', attributes: { 'check.page': true } });
  const traceId = span.traceId;
  span.end();
  await flush();
  return { traceId, health: health() };
}

main().then(
  (result) => fetch(reportTo, { method: 'POST', body: JSON.stringify(result) }),
  (e) => fetch(reportTo, { method: 'POST', body: JSON.stringify({ error: String((e && e.stack) || e) }) }),
);
`;
// A classic script that reports what stops the module from running at all.
const ON_ERROR = `<script>
  addEventListener('error', (e) => {
    const p = new URLSearchParams(location.search);
    fetch(p.get('collector') + '/report?id=' + p.get('id'), { method: 'POST',
      body: JSON.stringify({ error: 'window error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || e) }) });
  }, true);
</script>`;
const PAGE_HTML = (script) =>
  `<!doctype html>\n<meta charset="utf-8">\n<title>crosstrace npm check</title>\n${ON_ERROR}\n${script}\n`;

function gzSizes(dir) {
  const out = { js: 0, wasm: 0, jsRaw: 0, wasmRaw: 0, files: [] };
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(m?js|wasm)$/.test(e.name)) {
        const raw = readFileSync(p);
        const kind = e.name.endsWith('.wasm') ? 'wasm' : 'js';
        out[kind] += gzipSync(raw, { level: 9 }).length;
        out[`${kind}Raw`] += raw.length;
        out.files.push(relative(dir, p));
      }
    }
  };
  walk(dir);
  return out;
}
const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;

/** Serves `dist`, loads `page` in Chromium, checks the report, the .wasm request and the span. */
async function checkPage(what, dist, page, { origin } = {}) {
  const server = origin ? null : await serveStatic(dist);
  const id = `${what.replace(/\W+/g, '-')}-${nonce}`;
  const spanName = `span-${id}`;
  const base = origin ?? server.origin;
  const url = `${base}/${page}?collector=${encodeURIComponent(collectorOrigin)}&id=${id}&span=${spanName}`;
  try {
    const r = await browse(url, id);
    check(
      !r.error,
      `${what}: the page in headless Chromium initialised, traced and flushed`,
      r.error ? `${r.error}\n${r.console ?? ''}` : `trace ${r.traceId}`,
    );
    if (!r.error)
      check(
        r.health?.spans_exported === 1,
        `${what}: health().spans_exported == 1`,
        JSON.stringify(r.health?.last_export_error),
      );
    checkExported(what, spanName);
    if (server) {
      const wasm = server.log.filter((l) => l.path.endsWith('.wasm'));
      check(
        wasm.length > 0 && wasm.every((l) => l.status === 200 && l.type === 'application/wasm'),
        `${what}: the page fetched the bundle's .wasm (application/wasm)`,
        wasm.map((l) => `${l.path} ${l.status}`).join(', ') || 'no .wasm request',
      );
    }
  } finally {
    await server?.close();
  }
}

async function project(name, deps, files) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `check-${name}`, private: true, version: '0.0.0' }, null, 2),
  );
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  const r = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...deps],
    { cwd: dir },
  );
  check(
    r.code === 0,
    `${name}: npm install ${['crosstrace.tgz', ...deps].join(' ')}`,
    `${secs(r.ms)}${r.code ? `\n${r.out}` : ''}`,
  );
  return { dir, installMs: r.ms, ok: r.code === 0 };
}

async function build(name, dir, cmd, argv) {
  const r = await run(cmd, argv, { cwd: dir });
  check(r.code === 0, `${name}: build`, `${secs(r.ms)}${r.code ? `\n${r.out.slice(-3000)}` : ''}`);
  return { ms: r.ms, ok: r.code === 0, out: r.out };
}

function reportSize(name, dist) {
  const s = gzSizes(dist);
  sizes.push({ name, ...s });
  console.log(
    `     ${name}: JS ${kib(s.js)} gzipped (${kib(s.jsRaw)} raw), wasm ${kib(s.wasm)} gzipped (${kib(s.wasmRaw)} raw) [${s.files.join(', ')}]`,
  );
}

// ---------------------------------------------------------------------------------------------
// 0. The tarball.
let tarball = resolve(target);
if (statSync(tarball).isDirectory()) {
  const r = await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: tarball });
  if (!check(r.code === 0, 'npm pack', r.code ? r.out : '')) process.exit(1);
  tarball = join(work, r.out.trim().split('\n').pop());
}
console.log(`     package ${tarball} (${kib(statSync(tarball).size)}); work dir ${work}`);
{
  const r = await run('tar', ['-tzf', tarball]);
  const files = r.out
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  for (const f of [
    'package.json',
    'README.md',
    'LICENSE',
    'index.js',
    'node.js',
    'edge.js',
    'edge.d.ts',
    'core.js',
    'otel.js',
    'otel.d.ts',
    'index.cjs',
    'index.d.ts',
    'index.d.cts',
    'wasm.d.ts',
    'wasm/crosstrace_wasm.js',
    'wasm/crosstrace_wasm_bg.wasm',
    'web/crosstrace_wasm.js',
    'web/crosstrace_wasm_bg.wasm',
  ]) {
    check(files.includes(f), `tarball holds ${f}`);
  }
  const x = join(work, 'unpacked');
  mkdirSync(x);
  await run('tar', ['-xzf', tarball, '-C', x]);
  const pkg = JSON.parse(readFileSync(join(x, 'package/package.json'), 'utf8'));
  check(
    Array.isArray(pkg.keywords) && pkg.keywords.length > 0,
    'package.json: keywords',
    (pkg.keywords ?? []).join(', '),
  );
  check(typeof pkg.license === 'string', 'package.json: license', pkg.license);
  const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  // The project's public address is not settled yet: said, not failed (and never a placeholder).
  if (!repo) warn('package.json: no repository yet');
  else check(!/TODO|example\.invalid/.test(repo), 'package.json: repository', repo);
  const dot = pkg.exports?.['.'] ?? {};
  check(dot.browser && dot.node, 'exports["."]: separate browser and node conditions');
  check(
    typeof pkg.exports?.['./wasm'] === 'object' || typeof pkg.exports?.['./wasm'] === 'string',
    'exports["./wasm"]: the .wasm is an exported path',
  );
  // The browser path: index.js and crosstrace/otel (otel.js) and everything they import,
  // transitively, within the package.
  const seen = new Set();
  const visit = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    const src = readFileSync(join(x, 'package', f), 'utf8');
    for (const m of src.matchAll(
      /(?:import|export)\s*(?:[^'"]*?from\s*)?\(?\s*['"]([^'"]+)['"]/g,
    )) {
      if (m[1].startsWith('.')) visit(join(dirname(f), m[1]));
    }
  };
  visit('index.js');
  visit('edge.js');
  visit('otel.js');
  check(
    typeof pkg.exports?.['./otel'] === 'object',
    'exports["./otel"]: crosstrace behind the OpenTelemetry API',
  );
  const nodeImports = [...seen].filter((f) =>
    /['"]node:|\brequire\s*\(|\bprocess\.versions\b/.test(
      readFileSync(join(x, 'package', f), 'utf8'),
    ),
  );
  check(
    nodeImports.length === 0,
    `the browser and edge paths (${[...seen].join(', ')}) name no node:* module, require() or process`,
    nodeImports.join(', '),
  );
}

// ---------------------------------------------------------------------------------------------
// 1. Node: ESM import and CommonJS require.
if (only.includes('node')) {
  const body = (
    sp,
  ) => `  await ct.init({ serviceName: 'crosstrace-npm-check', backend: 'otlp', endpoint: process.argv[2], otlpProtocol: 'http/protobuf', scheduleDelayMillis: 60000 });
  const span = ct.startSpan(${JSON.stringify(sp)});
  span.end();
  await ct.flush();
  const h = ct.health();
  if (h.spans_exported !== 1) throw new Error('spans_exported ' + JSON.stringify(h));
  console.log('exported', span.traceId);`;
  const esmSpan = `span-node-esm-${nonce}`;
  const cjsSpan = `span-node-cjs-${nonce}`;
  const edgeSpan = (how) => `span-edge-${how}-${nonce}`;
  const p = await project('node', [], {
    'esm.mjs': `import * as ct from 'crosstrace';
const wasm = import.meta.resolve('crosstrace/wasm');
if (!wasm.endsWith('/crosstrace_wasm_bg.wasm')) throw new Error('crosstrace/wasm resolved to ' + wasm);
${body(esmSpan)}\n`,
    // An edge runtime (workerd's export condition; Node stands in for it) gets the full build,
    // which reads its settings as OTEL_* strings; the browser build refuses them, naming the way.
    // node edge.mjs <endpoint> <entry specifier> <wasm specifier> <span name>
    'edge.mjs': `import { readFile } from 'node:fs/promises';
const [endpoint, entrySpec, wasmSpec, spanName] = process.argv.slice(2);
const entry = import.meta.resolve(entrySpec);
const wasm = import.meta.resolve(wasmSpec);
if (!entry.endsWith('/edge.js')) throw new Error(entrySpec + ' resolved to ' + entry);
if (!wasm.endsWith('/wasm/crosstrace_wasm_bg.wasm')) throw new Error(wasmSpec + ' resolved to ' + wasm);
const ct = await import(entrySpec);
await ct.ready(await readFile(new URL(wasm)));
await ct.init({ OTEL_SERVICE_NAME: 'crosstrace-npm-check', OTEL_BACKEND: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_BSP_SCHEDULE_DELAY: '60000' });
const span = ct.startSpan(spanName);
span.end();
await ct.flush();
if (ct.health().spans_exported !== 1) throw new Error('spans_exported ' + JSON.stringify(ct.health()));\n`,
    'browser-build.mjs': `import * as ct from 'crosstrace';
import { readFile } from 'node:fs/promises';
const entry = import.meta.resolve('crosstrace');
if (!entry.endsWith('/index.js')) throw new Error('crosstrace under browser resolved to ' + entry);
await ct.ready(await readFile(new URL(import.meta.resolve('crosstrace/wasm'))));
let refused = null;
try {
  await ct.init({ OTEL_BACKEND: 'none' });
} catch (e) {
  refused = e;
}
if (refused?.name !== 'CrosstraceConfigError' || !refused.message.includes('crosstrace/edge'))
  throw new Error('the browser build took an OTEL_* object: ' + refused);
await ct.init({ backend: 'none' });\n`,
    'cjs.cjs': `const ct = require('crosstrace');
const assert = require('node:assert/strict');
require('node:fs').accessSync(require.resolve('crosstrace/wasm'));
assert.throws(() => ct.startSpan('too early'), { name: 'CrosstraceInvalidArgumentError' });
(async () => {
${body(cjsSpan)}
})().catch((e) => { console.error(e); process.exit(1); });\n`,
  });
  if (p.ok) {
    const esm = await run(process.execPath, ['esm.mjs', endpoint], { cwd: p.dir });
    check(
      esm.code === 0,
      'node ESM: import, init, span, flush',
      `${secs(esm.ms)}${esm.code ? `\n${esm.out}` : ''}`,
    );
    checkExported('node ESM', esmSpan);
    const cjs = await run(process.execPath, ['cjs.cjs', endpoint], { cwd: p.dir });
    check(
      cjs.code === 0,
      'node CommonJS: require, init, span, flush',
      `${secs(cjs.ms)}${cjs.code ? `\n${cjs.out}` : ''}`,
    );
    checkExported('node CommonJS', cjsSpan);
    // Cloudflare's and Vercel's conditions pick the edge entry and the full build's module; any
    // other runtime (here one that resolves as a browser) names them: crosstrace/edge and
    // crosstrace/edge/wasm.
    for (const [how, condition, entry, wasm] of [
      ['workerd', 'workerd', 'crosstrace', 'crosstrace/wasm'],
      ['edge-light', 'edge-light', 'crosstrace', 'crosstrace/wasm'],
      ['explicit', 'browser', 'crosstrace/edge', 'crosstrace/edge/wasm'],
    ]) {
      const edge = await run(
        process.execPath,
        [`--conditions=${condition}`, 'edge.mjs', endpoint, entry, wasm, edgeSpan(how)],
        { cwd: p.dir },
      );
      check(
        edge.code === 0,
        `edge runtime (${how}: ${entry}, ${wasm}): the full build, OTEL_* settings, span, flush`,
        `${secs(edge.ms)}${edge.code ? `\n${edge.out}` : ''}`,
      );
      checkExported(`edge runtime (${how})`, edgeSpan(how));
    }
    const browser = await run(process.execPath, ['--conditions=browser', 'browser-build.mjs'], {
      cwd: p.dir,
    });
    check(
      browser.code === 0,
      'the browser build (browser condition) refuses OTEL_* settings, naming crosstrace/edge',
      browser.code ? browser.out : '',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// 2. esbuild. It leaves `new URL('./x.wasm', import.meta.url)` as it is, so either
//    (a) the page passes the .wasm's URL from `import wasmUrl from 'crosstrace/wasm'` (file loader),
//    (b) or the build copies the .wasm to <outdir>/web/ next to an ESM bundle;
//    (c) is (a) for a classic-script (IIFE) bundle, where import.meta.url is empty: --public-path.
//    The builds are the README's command lines.
if (only.includes('esbuild')) {
  const urlPrelude =
    "import wasmUrl from 'crosstrace/wasm';\nimport { ready } from 'crosstrace';\n";
  const p = await project('esbuild', [`esbuild@${VERSIONS.esbuild}`], {
    'src/main-url.js': PAGE_MAIN(urlPrelude, 'await ready(new URL(wasmUrl, import.meta.url));\n  '),
    'src/main-copy.js': PAGE_MAIN(),
    'src/main-iife.js': PAGE_MAIN(urlPrelude, 'await ready(wasmUrl);\n  '),
    'dist-url/index.html': PAGE_HTML('<script type="module" src="./main-url.js"></script>'),
    'dist-copy/index.html': PAGE_HTML('<script type="module" src="./main-copy.js"></script>'),
    'site/index.html': PAGE_HTML('<script src="/assets/main-iife.js"></script>'),
    'build.sh': `set -e
esbuild=node_modules/.bin/esbuild
# (a)
$esbuild src/main-url.js --bundle --format=esm --minify --log-level=warning --outdir=dist-url --loader:.wasm=file
# (b)
$esbuild src/main-copy.js --bundle --format=esm --minify --log-level=warning --outdir=dist-copy
mkdir -p dist-copy/web && cp node_modules/crosstrace/web/crosstrace_wasm_bg.wasm dist-copy/web/
# (c)
$esbuild src/main-iife.js --bundle --format=iife --minify --log-level=error --outdir=site/assets --loader:.wasm=file --public-path=/assets
`,
  });
  if (p.ok) {
    const b = await build('esbuild', p.dir, 'bash', ['build.sh']);
    timings.push({ name: `esbuild ${VERSIONS.esbuild}`, install: p.installMs, build: b.ms });
    if (b.ok) {
      reportSize('esbuild (a) import crosstrace/wasm', join(p.dir, 'dist-url'));
      reportSize('esbuild (b) copied .wasm', join(p.dir, 'dist-copy'));
      await checkPage(
        'esbuild (a) wasm URL from crosstrace/wasm',
        join(p.dir, 'dist-url'),
        'index.html',
      );
      await checkPage(
        'esbuild (b) .wasm copied to dist/web/',
        join(p.dir, 'dist-copy'),
        'index.html',
      );
      await checkPage('esbuild (c) IIFE, --public-path', join(p.dir, 'site'), 'index.html');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Vite (Rollup): `vite build`, no configuration for the build; the dev server needs
//    optimizeDeps.exclude (its esbuild pre-bundling moves the module away from its .wasm).
if (only.includes('vite')) {
  const p = await project('vite', [`vite@${VERSIONS.vite}`], {
    'index.html': PAGE_HTML('<script type="module" src="/main.js"></script>'),
    'main.js': PAGE_MAIN(),
    'vite.config.js': `import { defineConfig } from 'vite';
export default defineConfig({
  // dev server only: serve crosstrace as it is, next to its .wasm, instead of pre-bundling it
  optimizeDeps: { exclude: ${process.env.VITE_NO_EXCLUDE ? '[]' : "['crosstrace']"} },
});
`,
  });
  if (p.ok) {
    const vite = join(p.dir, 'node_modules/vite/bin/vite.js');
    const b = await build('vite', p.dir, process.execPath, [vite, 'build', '--logLevel', 'warn']);
    timings.push({ name: `vite ${VERSIONS.vite}`, install: p.installMs, build: b.ms });
    if (b.ok) {
      reportSize('vite build', join(p.dir, 'dist'));
      await checkPage('vite build', join(p.dir, 'dist'), 'index.html');
    }
    // The dev server, as developers run it.
    const port = await new Promise((r) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = s.address();
        s.close(() => r(free));
      });
    });
    const dev = spawn(
      process.execPath,
      [vite, '--host', '127.0.0.1', '--port', String(port), '--strictPort'],
      {
        cwd: p.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let devOut = '';
    dev.stdout.on('data', (d) => (devOut += d));
    dev.stderr.on('data', (d) => (devOut += d));
    try {
      const up = await new Promise((r) => {
        const t = setInterval(() => {
          if (/Local:|ready in/.test(devOut)) {
            clearInterval(t);
            r(true);
          }
        }, 100);
        setTimeout(() => {
          clearInterval(t);
          r(false);
        }, 30_000);
      });
      if (check(up, 'vite dev: server started', up ? '' : devOut)) {
        await checkPage('vite dev server (optimizeDeps.exclude)', null, 'index.html', {
          origin: `http://127.0.0.1:${port}`,
        });
      }
    } finally {
      dev.kill('SIGTERM');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. webpack 5: no configuration beyond entry/output; `new URL(..., import.meta.url)` becomes an
//    asset module (the .wasm is emitted and fetched; no experiments.asyncWebAssembly).
if (only.includes('webpack')) {
  const p = await project('webpack', [`webpack@${VERSIONS.webpack}`], {
    'src/main.js': PAGE_MAIN(),
    'dist/index.html': PAGE_HTML('<script src="./main.js"></script>'),
    'webpack.config.cjs': `const path = require('node:path');
module.exports = {
  mode: 'production',
  entry: './src/main.js',
  output: { path: path.resolve(__dirname, 'dist'), filename: 'main.js' },
  performance: { hints: false },
};
`,
    // webpack's Node API (what webpack-cli calls), to keep webpack-cli out of the install.
    'build.cjs': `const webpack = require('webpack');
webpack(require('./webpack.config.cjs'), (err, stats) => {
  if (err) { console.error(err); process.exit(1); }
  const info = stats.toJson({ all: false, errors: true, warnings: true });
  for (const w of info.warnings) console.error('warning:', w.message);
  if (stats.hasErrors()) { for (const e of info.errors) console.error(e.message); process.exit(1); }
});
`,
  });
  if (p.ok) {
    const b = await build('webpack', p.dir, process.execPath, ['build.cjs']);
    if (b.ok && /warning:/.test(b.out)) warn(`webpack warnings:\n${b.out.trim()}`);
    timings.push({ name: `webpack ${VERSIONS.webpack}`, install: p.installMs, build: b.ms });
    if (b.ok) {
      reportSize('webpack', join(p.dir, 'dist'));
      await checkPage('webpack', join(p.dir, 'dist'), 'index.html');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 5. The typings as TypeScript resolves them: Node ESM and CommonJS (nodenext: the `import` and
//    `require` branches, index.d.ts and index.d.cts) and bundlers (moduleResolution bundler).
if (only.includes('types')) {
  const use = `await ct.init({ backend: 'none' });
const span: ct.Span = ct.startSpan('typed', { kind: 'server' });
span.end();
const url: string = wasmUrl;
await ct.ready(new URL(url, 'http://x/'));
`;
  const tsc = (dir, module_, resolution, files) =>
    run(
      process.execPath,
      [
        join(dir, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        'false',
        '--target',
        'ES2022',
        '--lib',
        'ES2022,DOM',
        '--module',
        module_,
        '--moduleResolution',
        resolution,
        ...files,
      ],
      { cwd: dir },
    );
  const p = await project('types', [`typescript@${process.env.TYPESCRIPT_VERSION ?? '5.9.3'}`], {
    'esm.mts': `import * as ct from 'crosstrace';\nimport wasmUrl from 'crosstrace/wasm';\n${use}`,
    'cjs.cts': `import ct = require('crosstrace');\nasync function main(): Promise<void> {\n  await ct.init({ backend: 'none' });\n  const span: ct.Span = ct.startSpan('typed');\n  span.end();\n}\nvoid main();\n`,
    'bundler.ts': `import * as ct from 'crosstrace';\nimport wasmUrl from 'crosstrace/wasm';\n${use}export {};\n`,
  });
  if (p.ok) {
    for (const [what, m, r, files] of [
      [
        'TypeScript nodenext: import (index.d.ts) and require (index.d.cts)',
        'nodenext',
        'nodenext',
        ['esm.mts', 'cjs.cts'],
      ],
      ['TypeScript moduleResolution bundler', 'esnext', 'bundler', ['bundler.ts']],
    ]) {
      const t = await tsc(p.dir, m, r, files);
      check(t.code === 0, what, `${secs(t.ms)}${t.code ? `\n${t.out}` : ''}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
collector.close();
console.log(`\n     ${npmCache ? 'cold npm cache' : 'npm cache as found (~/.npm)'}:`);
for (const t of timings) {
  console.log(
    `     ${t.name.padEnd(16)} install ${secs(t.install).padStart(7)}  build ${secs(t.build).padStart(6)}  total ${secs(t.install + t.build).padStart(7)}`,
  );
}
if (!flag('keep')) rmSync(work, { recursive: true, force: true });
else console.log(`     kept ${work}`);
console.log(failures === 0 ? '\nall checks passed' : `\n${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
