// crosstrace behind the OpenTelemetry JS API (`crosstrace/otel`): a TracerProvider, a
// TextMapPropagator and, where none is registered, a context manager, so code and official
// instrumentations written against `@opentelemetry/api` (fetch, XMLHttpRequest, document-load in
// pages; http, undici in Node) make crosstrace spans unchanged. Import `crosstrace` (and `init`)
// as usual; this module adds no state of its own beyond the API's globals.
//
// `@opentelemetry/api` is a peer dependency: the page's own copy is the one its instrumentations
// use. Never imports `node:*`.
import {
  ROOT_CONTEXT,
  TraceFlags,
  context as apiContext,
  createContextKey,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';

import {
  Context,
  _currentContext,
  _propagationFields,
  _setExportScope,
  _setOuterContext,
  extract,
  flush,
  inject,
  shutdown,
  startSpan,
} from './core.js';

/** Where an extracted crosstrace context (its baggage and correlation) rides in an API context. */
const CROSSTRACE_CONTEXT = createContextKey('crosstrace context');
/** The baggage an extraction also put in the API's baggage (key to value): an entry no longer
 * there was removed through the API (`deleteBaggage`, `removeEntry`), one with another value
 * there changed through it. */
const MIRRORED_BAGGAGE = createContextKey('crosstrace mirrored baggage');
/** The key of `@opentelemetry/core`'s suppressTracing (a `Symbol.for`, so the same symbol):
 * instrumentations and exporters set it around work that must not be traced. */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');
const INVALID_SPAN_CONTEXT = {
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  traceFlags: TraceFlags.NONE,
};
const STATUS = ['unset', 'ok', 'error'];

/** OpenTelemetry's TimeInput (HrTime, ms since the epoch or since the time origin, Date) as ms
 * since the Unix epoch; undefined for none. */
function epochMillis(t) {
  if (t === undefined || t === null) return undefined;
  if (Array.isArray(t)) return t[0] * 1e3 + t[1] / 1e6;
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'number') {
    const origin = typeof performance !== 'undefined' ? performance.timeOrigin : 0;
    return t < origin ? origin + t : t;
  }
  return undefined;
}

/** A TimeInput as ms since the epoch where crosstrace takes it (a finite time from 2001 on);
 * undefined otherwise, which means now (the API never throws). */
function timeOrNow(t) {
  const at = epochMillis(t);
  return Number.isFinite(at) && at >= 1e12 && at <= 8.64e15 ? at : undefined;
}

/** An attribute value crosstrace takes: arrays become their JSON text; null, undefined and
 * other values are dropped (the API never throws). */
function attributeValue(v) {
  const t = typeof v;
  if (t === 'string' || t === 'boolean' || t === 'bigint') return v;
  if (t === 'number') return Number.isFinite(v) ? v : String(v);
  if (Array.isArray(v)) return JSON.stringify(v);
  return undefined;
}

function cleanAttributes(attributes) {
  if (!attributes) return undefined;
  const out = {};
  for (const k of Object.keys(attributes)) {
    const v = attributeValue(attributes[k]);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** A crosstrace Context for a span context crosstrace did not make (another SDK's, or one the
 * API built), keeping the baggage and correlation `cx` carries when it is the same trace. */
function contextOf(sc, cx) {
  const stored = cx.getValue(CROSSTRACE_CONTEXT);
  if (stored && stored.traceId() === sc.traceId && stored.spanId() === sc.spanId) return stored;
  // Read as a written context's parent, not through the configured propagators: a config
  // without W3C tracecontext (b3 only) would not read a `traceparent` back.
  const span = {
    trace_id: sc.traceId,
    span_id: sc.spanId,
    sampled: (sc.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
    remote: sc.isRemote === true,
  };
  const state = sc.traceState && sc.traceState.serialize();
  try {
    return Context.fromJSON(
      JSON.stringify({ span: state ? { ...span, tracestate: state } : span }),
    );
  } catch {
    // A tracestate crosstrace refuses: the parent without it (the ids were checked valid).
    return Context.fromJSON(JSON.stringify({ span }));
  }
}

/** The crosstrace context an API context names: a crosstrace span's, a foreign span
 * context's, or the baggage and correlation of an extracted one; null when it names none. */
function namedIn(cx) {
  const span = trace.getSpan(cx);
  if (span instanceof OtelSpan) return span._context();
  if (span && isSpanContextValid(span.spanContext())) return contextOf(span.spanContext(), cx);
  return cx.getValue(CROSSTRACE_CONTEXT) ?? null;
}

/** The parent of an API span started in `cx`: what `cx` names, else crosstrace's own current
 * context (an instrumented call inside `withSpan` is that span's child). */
function parentIn(cx) {
  return namedIn(cx) ?? _currentContext();
}

/** Runs `fn`, swallowing what it throws: the API's methods never throw. */
function quietly(fn) {
  try {
    fn();
  } catch {
    /* a value crosstrace refuses, or not initialised: dropped */
  }
}

/** An API Span over a crosstrace span. */
class OtelSpan {
  constructor(span) {
    this._span = span;
    this._sc = null;
    this._cx = null;
  }
  spanContext() {
    if (this._sc === null) {
      this._sc = {
        traceId: this._span.traceId,
        spanId: this._span.spanId,
        traceFlags: this._span.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
        isRemote: false,
      };
    }
    return this._sc;
  }
  /** The crosstrace context for children and injection; kept past the end. */
  _context() {
    return this._cx ?? this._span.context();
  }
  setAttribute(key, value) {
    const v = attributeValue(value);
    if (v !== undefined) quietly(() => this._span.setAttribute(key, v));
    return this;
  }
  setAttributes(attributes) {
    for (const k of Object.keys(attributes || {})) this.setAttribute(k, attributes[k]);
    return this;
  }
  /** `addEvent(name, attributes?, time?)` or `addEvent(name, time)`, time an API TimeInput
   * (HrTime, Date, epoch or performance.now() ms: the web instrumentations' network timings). */
  addEvent(name, attributesOrTime, time) {
    const isTime = (t) => Array.isArray(t) || t instanceof Date || typeof t === 'number';
    const attrs =
      attributesOrTime && typeof attributesOrTime === 'object' && !isTime(attributesOrTime)
        ? cleanAttributes(attributesOrTime)
        : undefined;
    const when = timeOrNow(isTime(attributesOrTime) ? attributesOrTime : time);
    quietly(() => this._span.addEvent(String(name), attrs, when));
    return this;
  }
  addLink(link) {
    if (link && link.context && isSpanContextValid(link.context)) {
      quietly(() =>
        this._span.addLink(contextOf(link.context, ROOT_CONTEXT), cleanAttributes(link.attributes)),
      );
    }
    return this;
  }
  addLinks(links) {
    for (const l of links || []) this.addLink(l);
    return this;
  }
  setStatus(status) {
    const code = STATUS[status && status.code] ?? 'unset';
    quietly(() =>
      this._span.setStatus(code, code === 'error' ? String(status.message ?? '') : undefined),
    );
    return this;
  }
  updateName(name) {
    quietly(() => this._span.updateName(String(name)));
    return this;
  }
  end(endTime) {
    // Its ids and context stay readable after the end (children, injection).
    quietly(() => {
      this.spanContext();
      this._cx = this._span.context();
    });
    try {
      this._span.end(timeOrNow(endTime));
    } catch {
      quietly(() => this._span.end());
    }
  }
  isRecording() {
    try {
      return this._span.isRecording();
    } catch {
      return false;
    }
  }
  /** An `exception` event, as the API specifies: the status is the caller's to set. */
  recordException(exception, time) {
    const e = typeof exception === 'string' ? { message: exception } : exception || {};
    const attrs = {};
    const type = e.name || (e.code !== undefined ? String(e.code) : undefined);
    if (type) attrs['exception.type'] = String(type);
    if (e.message !== undefined) attrs['exception.message'] = String(e.message);
    if (e.stack !== undefined) attrs['exception.stacktrace'] = String(e.stack);
    quietly(() => this._span.addEvent('exception', attrs, timeOrNow(time)));
  }
}

/** An API Tracer: spans under the API's active context (or the one given). */
class OtelTracer {
  startSpan(name, options = {}, cx = apiContext.active()) {
    // Suppressed (e.g. crosstrace's own export, or an exporter's request): a span that records
    // nothing and propagates nothing, as the SDK's tracer does.
    if (cx.getValue(SUPPRESS_TRACING) === true) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    try {
      const span = startSpan(String(name), {
        kind: ['internal', 'server', 'client', 'producer', 'consumer'][options.kind ?? 0],
        attributes: cleanAttributes(options.attributes),
        parent: options.root ? new Context() : parentIn(cx),
        // A start time crosstrace refuses is now, as the end's is (the span is still made).
        startTime: timeOrNow(options.startTime),
      });
      const otel = new OtelSpan(span);
      if (options.links) otel.addLinks(options.links);
      return otel;
    } catch {
      // Not initialised, or a value crosstrace refuses: the API must not throw.
      return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    }
  }
  startActiveSpan(name, a, b, c) {
    let options = {};
    let cx = apiContext.active();
    let fn = a;
    if (typeof b === 'function') {
      options = a || {};
      fn = b;
    } else if (typeof c === 'function') {
      options = a || {};
      cx = b || cx;
      fn = c;
    }
    const span = this.startSpan(name, options, cx);
    return apiContext.with(trace.setSpan(cx, span), fn, undefined, span);
  }
}

/** The API TracerProvider: one tracer does for every instrumentation scope. */
export class CrosstraceTracerProvider {
  constructor() {
    this._tracer = new OtelTracer();
  }
  getTracer(_name, _version, _options) {
    return this._tracer;
  }
  /** As the SDK's provider: exports everything queued (crosstrace's `flush()`). Code written for
   * OpenTelemetry-JS calls it: the AWS Lambda instrumentation before each invocation returns. */
  async forceFlush() {
    await flush();
  }
  /** As the SDK's provider: exports what is queued, then stops crosstrace (`shutdown()`). */
  async shutdown() {
    await shutdown();
  }
}

/** `from` with the API's baggage of `cx` in it (`propagation.setBaggage`), whichever changed an
 * entry since it was extracted: an entry set or changed through the API replaces crosstrace's,
 * an extracted entry removed through the API is left out, one crosstrace changed since stays. */
function withApiBaggage(from, cx) {
  const api = propagation.getBaggage(cx);
  const mirrored = cx.getValue(MIRRORED_BAGGAGE) ?? {};
  if (!api && Object.keys(mirrored).length === 0) return from;
  const entries = new Map((api ? api.getAllEntries() : []).map(([k, e]) => [k, e.value]));
  const shape = JSON.parse((from ?? new Context()).toJSON());
  const baggage = { ...shape.baggage };
  for (const [k, v] of Object.entries(baggage)) {
    const extracted = mirrored[k];
    if (entries.has(k) && (extracted === undefined || entries.get(k) !== extracted)) {
      baggage[k] = entries.get(k);
    } else if (!entries.has(k) && v === extracted) {
      delete baggage[k];
    }
  }
  const held = new Set(Object.keys(shape.baggage ?? {}));
  for (const [k, v] of entries) if (!held.has(k)) baggage[k] = v;
  try {
    return Context.fromJSON(JSON.stringify({ ...shape, baggage }));
  } catch {
    return from; // an entry crosstrace refuses (the API takes any key): crosstrace's own
  }
}

/** W3C tracecontext and baggage, B3, Jaeger and X-Correlation-ID, as crosstrace is configured
 * (OTEL_PROPAGATORS), through the API's getter and setter; the API's baggage too. */
export class CrosstracePropagator {
  inject(cx, carrier, setter) {
    try {
      const span = trace.getSpan(cx);
      const valid = span && isSpanContextValid(span.spanContext());
      const from = withApiBaggage(valid ? parentIn(cx) : cx.getValue(CROSSTRACE_CONTEXT), cx);
      if (!from) return;
      for (const [k, v] of Object.entries(inject({}, from))) setter.set(carrier, k, v);
    } catch {
      /* not initialised: nothing to inject */
    }
  }
  extract(cx, carrier, getter) {
    const headers = [];
    for (const k of getter.keys(carrier)) {
      const v = getter.get(carrier, k);
      if (Array.isArray(v)) for (const one of v) headers.push([k, String(one)]);
      else if (v !== undefined) headers.push([k, String(v)]);
    }
    let found;
    try {
      found = extract(headers);
    } catch {
      return cx;
    }
    let out = cx.setValue(CROSSTRACE_CONTEXT, found);
    // The baggage received, also where the API reads it (`propagation.getBaggage`), as its own
    // W3CBaggagePropagator leaves it.
    const received = Object.entries(JSON.parse(found.toJSON()).baggage ?? {});
    if (received.length > 0) {
      const entries = Object.fromEntries(received.map(([k, v]) => [k, { value: v }]));
      out = propagation.setBaggage(out, propagation.createBaggage(entries));
      out = out.setValue(MIRRORED_BAGGAGE, Object.fromEntries(received));
    }
    const traceId = found.traceId();
    const spanId = found.spanId();
    if (traceId && spanId) {
      out = trace.setSpanContext(out, {
        traceId,
        spanId,
        traceFlags: found.sampled() ? TraceFlags.SAMPLED : TraceFlags.NONE,
        isRemote: true,
      });
    }
    return out;
  }
  fields() {
    return _propagationFields();
  }
}

/** A context manager for pages without one: the active context while a callback runs
 * synchronously (what sdk-trace-web's StackContextManager does). */
export class StackContextManager {
  constructor() {
    this._active = ROOT_CONTEXT;
  }
  active() {
    return this._active;
  }
  with(cx, fn, thisArg, ...args) {
    const previous = this._active;
    this._active = cx || ROOT_CONTEXT;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this._active = previous;
    }
  }
  bind(cx, target) {
    if (typeof target !== 'function') return target;
    const manager = this;
    return function bound(...args) {
      return manager.with(cx, () => target.apply(this, args));
    };
  }
  enable() {
    return this;
  }
  disable() {
    this._active = ROOT_CONTEXT;
    return this;
  }
}

/**
 * Registers crosstrace with `@opentelemetry/api`: as the global TracerProvider, as the global
 * propagator (unless `propagator: false`), and a StackContextManager when no context manager is
 * registered yet (unless `contextManager: false`; in Node register
 * `@opentelemetry/context-async-hooks`'s first). Returns what was registered; a TracerProvider
 * another SDK registered first stays, and `tracerProvider` is false.
 */
export function registerOpenTelemetry(options = {}) {
  const { propagator = true, contextManager = true } = options;
  const provider = new CrosstraceTracerProvider();
  // crosstrace's export requests are not traced by instrumented fetch, undici or http.
  _setExportScope((fn) =>
    apiContext.with(apiContext.active().setValue(SUPPRESS_TRACING, true), fn),
  );
  // crosstrace's own API nests under the API's active span when it has no span of its own.
  _setOuterContext(() => {
    try {
      return namedIn(apiContext.active());
    } catch {
      return null;
    }
  });
  const result = {
    provider,
    tracerProvider: trace.setGlobalTracerProvider(provider),
    propagator: propagator ? propagation.setGlobalPropagator(new CrosstracePropagator()) : false,
    contextManager: contextManager
      ? apiContext.setGlobalContextManager(new StackContextManager())
      : false,
  };
  return result;
}
