/** crosstrace: one tracing core for every language of the pipeline (WebAssembly build). */

export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type AttributeValue = string | number | boolean | bigint;
export type Attributes = Record<string, AttributeValue>;

/** TracingConfig fields in camelCase; every field optional (the specification's defaults). */
export interface TracingConfig {
  enabled?: boolean;
  serviceName?: string;
  serviceVersion?: string;
  environment?: string;
  backend?: 'console' | 'otlp' | 'jaeger' | 'zipkin' | 'none';
  endpoint?: string | null;
  otlpProtocol?: 'http/protobuf' | 'http/json';
  headers?: Record<string, string>;
  compression?: 'none' | 'gzip';
  sampler?:
    | 'always_on'
    | 'always_off'
    | 'traceidratio'
    | 'parentbased_always_on'
    | 'parentbased_always_off'
    | 'parentbased_traceidratio';
  samplingRate?: number;
  exportTimeoutSeconds?: number;
  exportMaxBatchSize?: number;
  maxQueueSize?: number;
  scheduleDelayMillis?: number;
  autoInstrument?: boolean;
  instrumentDb?: boolean;
  instrumentHttp?: boolean;
  instrumentLogging?: boolean;
  resourceAttributes?: Record<string, string>;
  /** Default tracecontext and baggage in the browser build, which has no other (`init` refuses
   * b3, b3multi and jaeger there); the full build (Node, edge runtimes) adds b3 and jaeger. */
  propagators?: Array<'tracecontext' | 'baggage' | 'b3' | 'b3multi' | 'jaeger'>;
  attributeValueLengthLimit?: number;
  attributeCountLimit?: number;
  /** Most events per span (default 128; 0 keeps none); further ones are dropped and counted. */
  eventCountLimit?: number;
  /** Most links per span (default 128; 0 keeps none); further ones are dropped and counted. */
  linkCountLimit?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'off';
  /** Span-derived metrics from every span (default true; the browser build has none). */
  metricsEnabled?: boolean;
  /** Duration histogram bounds in ms, ascending. */
  metricsBucketsMs?: number[];
  /** Most metric label sets; further ones go to overflow series. */
  metricsMaxSeries?: number;
}

/** `OTEL_*` variables as strings, as edge runtimes bind their environment (read by the full
 * build: Node, edge runtimes, `crosstrace/edge`; the browser build refuses them). */
export type OtelEnvironment = {
  [name: `OTEL_${string}` | `CROSSTRACE_${string}`]: string | undefined;
  ENVIRONMENT?: string;
};

/** A name of `K` shaped like an environment variable (capitals, digits and `_`, not a digit
 * first, a letter in it): what `init` takes for one. */
type UpperCaseName<K> = K extends string
  ? K extends Uppercase<K>
    ? K extends Lowercase<K>
      ? never
      : K extends `${string}${'-' | '.' | ' ' | '/' | ':'}${string}`
        ? never
        : K extends `${0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9}${string}`
          ? never
          : K
    : never
  : never;

/** What `init` asks of an environment object `E` declared as its runtime's typings declare it
 * (an edge worker's `Env` interface with its other bindings, Node's `process.env`): no
 * `TracingConfig` field and a name shaped like a variable, as `init` tells an environment from
 * a `TracingConfig` by, and strings in its `OTEL_*`, `CROSSTRACE_*` and `ENVIRONMENT`
 * variables; `never` otherwise. */
export type EnvironmentOf<E> = string extends keyof E
  ? OtelEnvironment
  : [Extract<keyof E, keyof TracingConfig>] extends [never]
    ? [UpperCaseName<keyof E>] extends [never]
      ? never
      : {
          [
            K in keyof E as K extends `OTEL_${string}` | `CROSSTRACE_${string}` | 'ENVIRONMENT'
              ? K
              : never
          ]?: string | undefined;
        }
    : never;

/** An immutable propagation context: parent span, baggage, correlation. */
export declare class Context {
  constructor();
  correlationId(): string | undefined;
  traceId(): string | undefined;
  spanId(): string | undefined;
  toJSON(): string;
  static fromJSON(json: string): Context;
  withCorrelation(
    id?: string,
    userId?: string,
    operation?: string,
    fields?: Record<string, string> | string,
  ): Context;
  /** Whether the parent span is sampled; false without a parent. */
  sampled(): boolean;
  free(): void;
}

export declare class Span {
  setAttribute(key: string, value: AttributeValue): this;
  setAttributes(attributes: Attributes): this;
  /** An event, now or at `time` (a Date or ms since the Unix epoch). */
  addEvent(name: string, attributes?: Attributes, time?: Date | number): this;
  /** Links this span to `to` (a Span, or a Context from `extract`), with attributes. */
  addLink(to: Span | Context, attributes?: Attributes): this;
  /** Renames the span (e.g. once the route is known). */
  updateName(name: string): this;
  recordException(error: unknown): this;
  setStatus(code: 'ok' | 'error' | 'unset', description?: string): this;
  /**
   * Ends the span, now or at `endTime` (a Date or ms since the Unix epoch). A bad `endTime`
   * throws CrosstraceInvalidArgumentError and leaves the span open.
   */
  end(endTime?: Date | number): void;
  isRecording(): boolean;
  /** Whether the sampler kept this span's trace (read it before `end()`). */
  readonly sampled: boolean;
  /**
   * The trace id, 32 hex digits. Read it (or `context()`) before `end()` to keep it: ending
   * lets go of the span, and an id never read is then `''` (reading it on every span would
   * double the cost of a span).
   */
  readonly traceId: string;
  /** The span id, 16 hex digits; kept after `end()` as `traceId` is. */
  readonly spanId: string;
  /**
   * The context for children of this span (and for `inject`). Kept after `end()` if read before
   * it; read after it for the first time, an empty context (children would start a new trace).
   */
  context(): Context;
}

export interface StartSpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  parent?: Span | Context;
  /** When the work began: a Date or ms since the Unix epoch (default now). */
  startTime?: Date | number;
}

export interface CorrelationFields {
  correlationId?: string;
  userId?: string;
  operation?: string;
  [field: string]: string | undefined;
}

export interface Health {
  tracing_enabled: boolean;
  shut_down: boolean;
  service_name: string;
  backend: string;
  endpoint: string | null;
  sampler: string;
  sampling_rate: number;
  propagators: string[];
  spans_started: number;
  spans_ended: number;
  spans_sampled_out: number;
  spans_exported: number;
  spans_dropped_queue_full: number;
  spans_export_failed: number;
  export_failures: number;
  queue_depth: number;
  last_export_error: { kind: string; message: string; unix_ms: number } | null;
  metrics_enabled: boolean;
  metrics_series: number;
  metrics_overflowed: number;
  [key: string]: unknown;
}

/** Where the WebAssembly module comes from, when the default (next to the entry point) cannot
 * work: a compiled `WebAssembly.Module` (an `object` here, so that these typings need no DOM
 * library: a Node project compiles them with @types/node alone) or its bytes; in browsers and
 * edge runtimes also a URL to fetch it from, a `Request` or a `Response`, or a promise of one. */
export type WasmSource =
  | object
  | ArrayBuffer
  | ArrayBufferView
  | URL
  | string
  | Request
  | Response
  | PromiseLike<Response>;

/** Loads the WebAssembly module (called by `init`); `source` overrides where it comes from. */
export function ready(source?: WasmSource): Promise<void>;
export function init(config?: TracingConfig): Promise<void>;
export function init(env: OtelEnvironment): Promise<void>;
export function init<E extends object>(env: E & EnvironmentOf<E>): Promise<void>;
export function startSpan(name: string, options?: StartSpanOptions): Span;
export function withSpan<T>(name: string, fn: (span: Span) => T, options?: StartSpanOptions): T;
export function withCorrelation<T>(fields: CorrelationFields, fn: (correlationId: string) => T): T;
export function getCorrelationId(): string | undefined;
/** Writes the propagation headers of `from` (default: the current context) into `headers` and
 * returns it: a `Headers` or `Map`, Node's `ClientRequest` before it is sent (`setHeader`), an
 * array of `[name, value]` pairs or Node's flat `[name, value, ...]` (a header's earlier lines
 * replaced), or a plain object. */
export function inject<
  H extends
    | Headers
    | Map<string, string>
    | Array<[string, string]>
    | string[]
    | { setHeader(name: string, value: string): unknown }
    | Record<string, string>,
>(headers: H, from?: Span | Context): H;
export function extract(
  headers:
    | Headers
    | Map<string, string>
    | Record<string, string | string[] | undefined>
    | Array<[string, string | string[]]>
    | string[]
    | { rawHeaders: string[] },
): Context;
export function health(): Health;
/** The span metrics in the Prometheus text format; empty with the browser build, which computes
 * none (the full build does: Node, edge runtimes). */
export function metricsText(): string;
/** Exports everything queued; resolves to whether the spans it waited for were exported (`false`
 * when some could not be: `health()` counts them and says why). Never rejects for that. */
export function flush(): Promise<boolean>;
export function shutdown(): Promise<void>;
