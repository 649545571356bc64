// Typings of `crosstrace/otel`: crosstrace behind the `@opentelemetry/api` interfaces.
import type {
  Context as ApiContext,
  ContextManager,
  TextMapGetter,
  TextMapPropagator,
  TextMapSetter,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';

/** The API TracerProvider: every tracer makes crosstrace spans. */
export declare class CrosstraceTracerProvider implements TracerProvider {
  getTracer(name: string, version?: string, options?: { schemaUrl?: string }): Tracer;
  /** Exports everything queued (crosstrace's `flush()`), as the SDK's provider does. */
  forceFlush(): Promise<void>;
  /** Exports what is queued, then stops crosstrace (`shutdown()`), as the SDK's provider does. */
  shutdown(): Promise<void>;
}

/** crosstrace's propagators (OTEL_PROPAGATORS) as an API TextMapPropagator. */
export declare class CrosstracePropagator implements TextMapPropagator {
  inject(context: ApiContext, carrier: unknown, setter: TextMapSetter): void;
  extract(context: ApiContext, carrier: unknown, getter: TextMapGetter): ApiContext;
  fields(): string[];
}

/** The active context while a callback runs synchronously (for pages without a manager). */
export declare class StackContextManager implements ContextManager {
  active(): ApiContext;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: ApiContext,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F>;
  bind<T>(context: ApiContext, target: T): T;
  enable(): this;
  disable(): this;
}

export interface RegisterOptions {
  /** Register the propagator globally (default true). */
  propagator?: boolean;
  /** Register a StackContextManager when none is registered (default true). */
  contextManager?: boolean;
}

export interface Registered {
  provider: CrosstraceTracerProvider;
  /** False when another TracerProvider was registered first (it stays). */
  tracerProvider: boolean;
  propagator: boolean;
  contextManager: boolean;
}

/** Registers crosstrace with `@opentelemetry/api` (call after `init`). */
export declare function registerOpenTelemetry(options?: RegisterOptions): Registered;
