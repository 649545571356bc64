// Compiled with `tsc --noEmit` against the package's index.d.ts: the typings users get.
import {
  init,
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
  Context,
  type Span,
  type TracingConfig,
} from '../pkg/index.js';

const config: TracingConfig = { serviceName: 'storefront', backend: 'otlp', samplingRate: 0.5 };

// Environments as their runtimes' typings declare them: Node's `process.env` (@types/node's
// `ProcessEnv`), an edge worker's `Env` with its other bindings, one with no OTEL_* variable.
interface ProcessEnv {
  [key: string]: string | undefined;
  TZ?: string;
}
interface WorkerEnv {
  OTEL_SERVICE_NAME: string;
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  API_TOKEN: string;
  ORDERS: { get(key: string): Promise<string | null> };
}
interface BareEnv {
  ORDERS: object;
}
declare const processEnv: ProcessEnv;
declare const workerEnv: WorkerEnv;
declare const bareEnv: BareEnv;

export async function main(): Promise<number> {
  await init(config);
  await init({ OTEL_SERVICE_NAME: 'edge', OTEL_BACKEND: 'none' });
  await init(processEnv);
  await init(workerEnv);
  await init(bareEnv);
  const span: Span = startSpan('checkout', { kind: 'server', attributes: { items: 3, vip: true } });
  span.setAttribute('total', 12.5).addEvent('priced', { currency: 'EUR' });
  const total: number = await withSpan('async work', async (s) => {
    s.setStatus('ok');
    return 42;
  });
  const id: string = withCorrelation({ correlationId: 'c-1', jobId: 'j' }, (cid) => cid);
  const maybe: string | undefined = getCorrelationId();
  const headers = inject(new Headers(), span);
  const plain: Record<string, string> = inject({}, span.context());
  const map: Map<string, string> = inject(new Map<string, string>(), span);
  const pairs: Array<[string, string]> = inject([], span);
  const parent: Context = extract(headers);
  const child = startSpan('child', { parent });
  child.recordException(new Error('x'));
  child.end(Date.now());
  span.end();
  const timed = startSpan('timed', { startTime: new Date(Date.now() - 5) });
  timed.end(new Date());
  const kept: boolean = timed.sampled;
  const text: string = metricsText();
  const series: number = health().metrics_series;
  const exported: boolean = await flush();
  await shutdown();
  return (
    total +
    Number(kept) +
    Number(exported) +
    text.length +
    series +
    id.length +
    (maybe?.length ?? 0) +
    Object.keys(plain).length +
    map.size +
    pairs.length +
    health().spans_ended
  );
}

// crosstrace/otel: registered with @opentelemetry/api.
import { registerOpenTelemetry, CrosstraceTracerProvider } from '../pkg/otel.js';
const registered = registerOpenTelemetry({ contextManager: false });
const provider: CrosstraceTracerProvider = registered.provider;
const tracer = provider.getTracer('checkout', '1.0.0');
tracer.startSpan('typed').end();
const flushed: Promise<void> = provider.forceFlush();
void flushed;
const linked: boolean = registered.tracerProvider && registered.propagator;
void linked;
