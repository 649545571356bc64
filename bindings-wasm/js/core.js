// crosstrace for browsers, workers, edge runtimes and Node >= 18: the camelCase API over the
// core compiled to WebAssembly. Spans, sampling, propagation, queueing and encoding are the
// core's; this file only keeps the current context of synchronous code, schedules flushes and
// adapts Headers objects.
//
// Shared by the entry points, which differ in the build they load and where its .wasm comes from
// by default: index.js (browsers, workers, bundlers: the browser build, web/, from a URL next to
// the module) and node.js (Node, Deno, Bun: the full build, wasm/, read from disk). Each gives
// its build's wasm-bindgen glue to `_use` first. Nothing here imports `node:*`, so bundlers for
// the web never see it.

/** The glue of the build the entry point loads (its exports are the wasm side's calls). */
let raw = null;

/** Called once by the entry point, before anything else, with its build's glue module. */
export function _use(glue) {
  raw = glue;
  Context = glue.Context;
}

/** The immutable propagation context class of the build loaded (a live binding: set by `_use`). */
export let Context = null;

let loading = null;

/** Instantiates the WebAssembly module once: from `source` (a WebAssembly.Module, bytes, a
 * URL/string/Request/Response or a promise of one) or, when undefined, from what the entry point's
 * `defaultSource()` returns. A failed load may be retried. */
export function _ready(source, defaultSource) {
  if (!loading) {
    loading = (async () => {
      const from = source !== undefined ? source : await defaultSource();
      memory = (await raw.default({ module_or_path: from })).memory;
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

let memory = null;

// Attributes cross into wasm without JSON or a string copy per key: keys and span names are
// interned once (an id per distinct string, kept here in Maps) and a span's attributes are
// written into a scratch buffer in the module's memory (spans.rs `packed_attributes` reads
// them). Past INTERN_MAX distinct strings, the rest go inline.
const INLINE = 0xffffffff;
/** What startSpanPacked returns when it failed (raw.takeError() has the error). */
const START_FAILED = 0xfffffffe;
const INTERN_MAX = 4096;
const keyIds = new Map();
const nameIds = new Map();
const utf8 = new TextEncoder();
let scratchAt = 0;
let scratchLen = 0;
let bytes = null;
let view = null;

function idOf(map, intern, s) {
  let id = map.get(s);
  if (id === undefined) {
    id = map.size < INTERN_MAX ? intern(s) : INLINE;
    if (id !== INLINE) map.set(s, id);
  }
  return id;
}

/** The scratch buffer's first size, and the most it keeps between spans: one span's huge
 * attribute must not hold its memory for good. */
const SCRATCH_MIN = 1024;
const SCRATCH_KEEP = 65536;

/** Makes room for `n` bytes in the scratch buffer, and views of the memory as it is now (a
 * grown memory has a new buffer); throws when the module's memory cannot grow to it. */
function room(n) {
  if (n > scratchLen) {
    const len = Math.max(n, 2 * scratchLen, SCRATCH_MIN);
    const at = raw.scratch(len);
    if (at === 0) {
      const e = new RangeError(
        `invalid attributes: ${len} bytes of attributes do not fit in the module's memory; expected smaller values`,
      );
      e.name = 'CrosstraceInvalidArgumentError';
      throw e;
    }
    scratchAt = at;
    scratchLen = len;
  }
  // A grown memory detaches the old buffer: its views read as empty.
  if (bytes === null || bytes.byteLength === 0) {
    bytes = new Uint8Array(memory.buffer);
    view = new DataView(memory.buffer);
  }
}

/** Writes `s` as (u32 length, UTF-8) at `at`, within the scratch buffer (which ends at `end`);
 * returns the end of what it wrote. ASCII by hand (short strings: cheaper than a call into the
 * encoder), the rest by encodeInto. */
function putText(s, at, end) {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) break;
    bytes[at + 4 + i] = c;
  }
  let len = i;
  if (i < n) len = i + utf8.encodeInto(s.slice(i), bytes.subarray(at + 4 + i, end)).written;
  view.setUint32(at, len, true);
  return at + 4 + len;
}

/** The keys, ids and values of the attributes being packed: read once (a getter or a Proxy
 * may answer differently twice), reused from span to span. */
const packKeys = [];
const packIds = [];
const packValues = [];
let packing = false;

/** Writes a plain object's own attributes into the scratch buffer; returns their count, or -1
 * for what the packed form does not carry (another prototype, a value that is not a string,
 * number, boolean or bigint in range, or a span started while packing — a getter's): the caller
 * passes those as they are or as JSON, and the wasm side converts them or names the bad value. */
function packAttributes(attributes) {
  const proto = Object.getPrototypeOf(attributes);
  if (packing || (proto !== Object.prototype && proto !== null)) return -1;
  packing = true;
  let count = 0;
  try {
    // First the values and ids (interning may grow the module's memory), then the room, then
    // the bytes, from what was read.
    let need = 0;
    for (const k in attributes) {
      const v = attributes[k];
      const t = typeof v;
      const id = idOf(keyIds, raw.internKey, k);
      const key = id === INLINE ? 4 + 3 * k.length : 0;
      // Strings: 3 UTF-8 bytes per UTF-16 unit at most.
      if (t === 'string') need += 9 + key + 3 * v.length;
      else if (t === 'number' || t === 'boolean') need += 14 + key;
      else if (t === 'bigint' && v >= -9223372036854775808n && v <= 9223372036854775807n) {
        need += 14 + key;
      } else return -1;
      packKeys[count] = k;
      packIds[count] = id;
      packValues[count] = v;
      count++;
    }
    room(need);
    const end = scratchAt + scratchLen;
    let at = scratchAt;
    for (let i = 0; i < count; i++) {
      const v = packValues[i];
      const id = packIds[i];
      view.setUint32(at, id, true);
      at += 4;
      if (id === INLINE) at = putText(packKeys[i], at, end);
      switch (typeof v) {
        case 'string':
          bytes[at] = 0;
          at = putText(v, at + 1, end);
          break;
        case 'boolean':
          bytes[at] = 1;
          bytes[at + 1] = v ? 1 : 0;
          at += 2;
          break;
        case 'number':
          // Integers as JSON carried them: whole numbers within i64 are integers.
          bytes[at] = Number.isInteger(v) && Math.abs(v) < 9223372036854775808 ? 2 : 3;
          view.setFloat64(at + 1, v, true);
          at += 9;
          break;
        default:
          bytes[at] = 4;
          view.setBigInt64(at + 1, v, true);
          at += 9;
      }
    }
    return count;
  } finally {
    for (let i = 0; i < count; i++) packValues[i] = undefined; // hold no user values
    packing = false;
  }
}

const stack = [];
let root = null;
let batchSize = 512;
let timer = null;
let flushing = null;
let hooked = false;
let initialised = false;

function requireInit() {
  if (!initialised) {
    const e = new Error('crosstrace is not initialised: await init(config) first');
    e.name = 'CrosstraceInvalidArgumentError';
    throw e;
  }
}

/** The current context outside crosstrace's own stack: `crosstrace/otel` gives the
 * OpenTelemetry API's active span (an instrumented server's, a startActiveSpan's), so spans
 * of crosstrace's API nest under it; null when it has none. */
let outerContext = null;
export function _setOuterContext(fn) {
  outerContext = fn;
}

function currentContext() {
  return (stack.length === 0 && outerContext !== null && outerContext()) || _currentContext();
}

/** The current crosstrace context: the innermost `withSpan`'s, else the root one (for
 * `crosstrace/otel`: the parent of an API span started where the API has no span). */
export function _currentContext() {
  return stack.length > 0 ? stack[stack.length - 1] : root;
}

/** The scope the exporter's `fetch` calls run in: `crosstrace/otel` gives one that suppresses
 * tracing, so instrumented fetch or undici do not trace the export. The wasm side calls the
 * wrapped fetch itself (its first poll runs in a microtask, outside any scope set around
 * `flush()`). */
let exportScope = null;
function applyExportScope() {
  const scope = exportScope;
  raw.setFetch(scope === null ? undefined : (url, init) => scope(() => fetch(url, init)));
}
/** The headers the configured propagators may write (for the OpenTelemetry API propagator):
 * the core's list; none before the module is loaded, when nothing can be written. */
export function _propagationFields() {
  return raw ? raw.propagationFields() : [];
}

export function _setExportScope(scope) {
  exportScope = scope;
  if (initialised) applyExportScope();
}

function flushSoon(keepalive = false) {
  if (!flushing) {
    flushing = raw.flush(keepalive).finally(() => {
      flushing = null;
    });
  }
  return flushing;
}

function onHidden() {
  if (typeof document === 'undefined' || document.visibilityState === 'hidden') {
    flushSoon(true);
  }
}

/** What JSON cannot hold (NaN, infinities, BigInt), as text the core names in its error. */
function jsonSafe(_key, value) {
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'number' && !Number.isFinite(value)) {
    if (Number.isNaN(value)) return 'NaN';
    return value > 0 ? 'inf' : '-inf';
  }
  return value;
}

/**
 * Configures tracing once the entry point has loaded the WebAssembly module. `config` holds
 * TracingConfig fields in camelCase (`serviceName`, `backend`, `endpoint`, `samplingRate`, ...)
 * or `OTEL_*` strings (an edge runtime's env). Throws an Error named CrosstraceConfigError naming
 * the bad setting. `hostName`: the resource's `host.name`, where the entry point knows it (Node).
 */
export function _init(config = {}, hostName = undefined) {
  if (hostName) raw.setHostName(hostName);
  // Through JSON first, as the settings always were: what JSON leaves out (undefined,
  // functions) is unset, and what it cannot hold (NaN, infinities, bigints) becomes text the
  // core names in its error. The wasm side reads the plain values that come back.
  raw.init(JSON.parse(JSON.stringify(config, jsonSafe)));
  initialised = true;
  applyExportScope();
  if (root === null) root = new raw.Context();
  batchSize = raw.batchSize();
  if (timer !== null) clearInterval(timer);
  timer = setInterval(() => {
    if (raw.queueDepth() > 0) flushSoon();
  }, raw.scheduleDelayMillis());
  if (typeof timer === 'object' && timer && typeof timer.unref === 'function') timer.unref();
  if (!hooked && typeof addEventListener === 'function') {
    hooked = true;
    addEventListener('visibilitychange', onHidden);
    addEventListener('pagehide', () => flushSoon(true));
  }
}

/** The handle of an ended span: no slot has its index (spans.rs keeps fewer live spans). */
const ENDED = 0xffffffff;

/** A span. `end()` is idempotent; attributes take strings, numbers, booleans and bigints. */
export class Span {
  constructor(handle) {
    this._h = handle;
    this._ids = null;
  }
  setAttribute(key, value) {
    raw.spanSetAttribute(this._h, key, value);
    return this;
  }
  setAttributes(attributes) {
    for (const [k, v] of Object.entries(attributes)) raw.spanSetAttribute(this._h, k, v);
    return this;
  }
  /** An event, now or at `time` (a Date or ms since the Unix epoch). */
  addEvent(name, attributes, time) {
    raw.spanAddEvent(
      this._h,
      name,
      attributes,
      time === undefined || time === null ? undefined : timeInput(time),
    );
    return this;
  }
  /** Links this span to `to` (a Span, or a Context from `extract`), with attributes. */
  addLink(to, attributes) {
    raw.spanAddLink(this._h, parentContext(to), attributes);
    return this;
  }
  /** Renames the span (e.g. once the route is known). */
  updateName(name) {
    raw.spanUpdateName(this._h, name);
    return this;
  }
  /** Records an exception event (type, message, stack) and sets error status. */
  recordException(error) {
    const isError = error instanceof Error;
    const type = isError ? error.name || 'Error' : typeof error;
    const message = isError ? error.message : String(error);
    raw.spanRecordException(this._h, type, message, isError ? error.stack : undefined);
    return this;
  }
  /** `code` is 'ok', 'error' or 'unset'. */
  setStatus(code, description) {
    raw.spanSetStatus(this._h, code, description);
    return this;
  }
  /**
   * Ends the span, now or at `endTime` (a Date or ms since the Unix epoch). Its ids and context
   * stay readable if they were read before `end()`.
   */
  end(endTime) {
    // A bad time throws before the handle is let go of: the span can still be ended.
    const at = endTime === undefined || endTime === null ? undefined : timeInput(endTime);
    const h = this._h;
    // The handle is let go of: its slot is reused by later spans, and after 4096 reuses its
    // generation comes round again; a late call on this object must not reach one of them.
    this._h = ENDED;
    let depth;
    if (at === undefined) depth = raw.spanEnd(h);
    else {
      raw.spanEndAt(h, at);
      depth = raw.queueDepth();
    }
    if (depth >= batchSize) flushSoon();
  }
  isRecording() {
    return raw.spanIsRecording(this._h);
  }
  /** Whether the sampler kept this span's trace (read it before `end()`). */
  get sampled() {
    return raw.spanIsSampled(this._h);
  }
  /** For tests: ends without the flush-at-batch-size check. */
  _end_without_flush() {
    const h = this._h;
    this._h = ENDED;
    raw.spanEnd(h);
  }
  _idPair() {
    if (this._ids === null || this._ids === '') {
      const ids = raw.spanIds(this._h);
      if (ids !== '') this._ids = ids;
      return ids;
    }
    return this._ids;
  }
  get traceId() {
    return this._idPair().slice(0, 32);
  }
  get spanId() {
    return this._idPair().slice(33);
  }
  /** The context for children of this span (and for `inject`). */
  context() {
    if (this._cx === undefined) this._cx = raw.spanContext(this._h);
    return this._cx;
  }
}

function parentContext(parent) {
  if (parent === undefined || parent === null) return currentContext();
  if (parent instanceof Span) return parent.context();
  if (parent instanceof raw.Context) return parent;
  const e = new Error('parent must be a Span or a Context from extract()');
  e.name = 'CrosstraceInvalidArgumentError';
  throw e;
}

function timeInput(t) {
  const ms = t instanceof Date ? t.getTime() : t;
  // performance.now() values (ms since the page loaded) would silently become 1970; past a
  // Date's range (8.64e15 ms) is no time either.
  if (typeof ms !== 'number' || !(ms >= 1e12 && ms <= 8.64e15)) {
    const e = new Error(`time: expected a Date or ms since the Unix epoch, got ${String(t)}`);
    e.name = 'CrosstraceInvalidArgumentError';
    throw e;
  }
  return ms;
}

/**
 * Starts a span: `{ kind, attributes, parent, startTime }`; without a parent, the current
 * span's; `startTime` a Date or ms since the Unix epoch (default now).
 */
export function startSpan(name, options = {}) {
  requireInit();
  const { kind = 'internal', attributes, parent, startTime } = options;
  const k = KINDS[kind];
  if (k === undefined) {
    const e = new Error(
      `invalid kind=${JSON.stringify(String(kind))}: expected internal, server, client, producer or consumer`,
    );
    e.name = 'CrosstraceInvalidArgumentError';
    throw e;
  }
  const start = startTime === undefined ? undefined : timeInput(startTime);
  const cx = parentContext(parent);
  let count = 0;
  if (attributes !== undefined && attributes !== null) {
    // Not a plain object (an array, a string): the wasm side names what is wrong.
    count =
      typeof attributes === 'object' && !Array.isArray(attributes)
        ? packAttributes(attributes)
        : -1;
  }
  if (count < 0) {
    // Values the packed form does not carry, or not an object: as they are, for the wasm side
    // to convert (bigints out of range) or to name what is wrong.
    return new Span(raw.startSpan(name, k, cx, attributes, start));
  }
  const id = typeof name === 'string' ? idOf(nameIds, raw.internName, name) : INLINE;
  const h = raw.startSpanPacked(id, id === INLINE ? name : undefined, k, cx, count, start);
  if (scratchLen > SCRATCH_KEEP) {
    scratchAt = raw.scratch(SCRATCH_MIN);
    scratchLen = SCRATCH_MIN;
  }
  if (h === START_FAILED) throw raw.takeError();
  return new Span(h);
}

/** Span kinds as the numbers the wasm side takes (no inherited keys: `toString` is no kind). */
const KINDS = Object.freeze(
  Object.assign(Object.create(null), {
    internal: 0,
    server: 1,
    client: 2,
    producer: 3,
    consumer: 4,
  }),
);

function runIn(context, fn, arg) {
  stack.push(context);
  try {
    return fn(arg);
  } finally {
    stack.pop();
  }
}

/**
 * Runs `fn(span)` in a new span that is current while `fn` runs synchronously, and ends when
 * `fn` returns or, for an async function, when its promise settles. A throw or rejection is
 * recorded on the span and passed on unchanged.
 */
export function withSpan(name, fn, options = {}) {
  const span = startSpan(name, options);
  let result;
  try {
    result = runIn(span.context(), fn, span);
  } catch (e) {
    span.recordException(e);
    span.end();
    throw e;
  }
  if (result && typeof result.then === 'function') {
    return result.then(
      (value) => {
        span.end();
        return value;
      },
      (e) => {
        span.recordException(e);
        span.end();
        throw e;
      },
    );
  }
  span.end();
  return result;
}

/**
 * Runs `fn` in a correlation context: `{ correlationId, userId, operation, ...fields }` (a UUID v4
 * when no id is given). Spans started inside carry correlation.id and the fields; injected
 * headers carry them on.
 */
export function withCorrelation(fields, fn) {
  requireInit();
  const { correlationId, userId, operation, ...rest } = fields || {};
  // Fields set to undefined are left out, as JSON leaves them.
  const extra = Object.keys(rest).length > 0 ? JSON.parse(JSON.stringify(rest)) : undefined;
  const cx = currentContext().withCorrelation(correlationId, userId, operation, extra);
  return runIn(cx, fn, cx.correlationId());
}

/** The current correlation id, or undefined. */
export function getCorrelationId() {
  if (!initialised) return undefined;
  return currentContext().correlationId() ?? undefined;
}

/** Writes propagation headers (traceparent, baggage, x-correlation-id; b3 and uber-trace-id in
 * the full build) of `from` (a Span or Context; default the current one) into a `Headers` or
 * `Map`, a `ClientRequest` (`setHeader`), an array of pairs (or Node's flat `[name, value,
 * ...]`), or a plain object. */
export function inject(headers, from) {
  requireInit();
  const values = Object.entries(raw.inject(parentContext(from)));
  if (Array.isArray(headers) && headers.length > 0 && !Array.isArray(headers[0])) {
    // Node's flat form (`rawHeaders`, `http.request`'s `headers: [name, value, ...]`).
    const names = new Set(values.map(([k]) => k));
    const kept = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (!names.has(String(headers[i]).toLowerCase())) kept.push(headers[i], headers[i + 1]);
    }
    headers.splice(0, headers.length, ...kept, ...values.flat());
  } else if (Array.isArray(headers)) {
    // Pairs: each header's earlier lines replaced by one.
    const names = new Set(values.map(([k]) => k));
    const kept = headers.filter(
      (p) => !(Array.isArray(p) && names.has(String(p[0]).toLowerCase())),
    );
    headers.splice(0, headers.length, ...kept, ...values);
  } else if (typeof headers.set === 'function') {
    // `Headers`, a `Map`.
    for (const [k, v] of values) headers.set(k, v);
  } else if (typeof headers.setHeader === 'function') {
    // Node's `ClientRequest` (an `OutgoingMessage`) before it is sent.
    for (const [k, v] of values) headers.setHeader(k, v);
  } else {
    Object.assign(headers, Object.fromEntries(values));
  }
  return headers;
}

/**
 * Reads a context from headers: a `Headers` or `Map`, a plain object (string or string[]
 * values, as Node's `req.headers`), an array of `[name, value]` pairs, Node's flat `rawHeaders`
 * array, or an `IncomingMessage` (its `rawHeaders`: repeated lines kept). Bad headers give an
 * empty context.
 */
export function extract(headers) {
  requireInit();
  let given = headers;
  if ((typeof Headers !== 'undefined' && headers instanceof Headers) || headers instanceof Map) {
    given = [...headers];
  }
  return raw.extract(given || {});
}

/** The health report (the specification's field names). */
export function health() {
  return raw.health();
}

/**
 * The span-derived metrics (every span, sampled or not) in the Prometheus text format:
 * `traces_total`, the `duration` histogram in ms, `duration_quantile`, the sampling gauges.
 * Empty with the browser build, which computes none (the full build does).
 */
export function metricsText() {
  return raw.metricsText();
}

/**
 * Exports everything queued. Resolves to whether the spans it waited for were exported: `false`
 * when some could not be (lost, counted in `health().spans_export_failed`, with the reason in
 * `last_export_error`). It does not reject for that, as OpenTelemetry-JS's `forceFlush`. Spans
 * of a setup a later `init` replaced go out too, as that setup said (and count in the answer).
 */
export async function flush() {
  const failed = () => raw.spansExportFailed();
  const before = failed();
  if (flushing) await flushing;
  await flushSoon();
  return failed() === before;
}

/** Exports what is queued, then stops: later spans are no-ops. */
export async function shutdown() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  if (flushing) await flushing;
  await raw.shutdown();
}
