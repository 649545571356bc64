"""crosstrace's propagation as an OpenTelemetry ``TextMapPropagator``. While crosstrace is set up
it is the OpenTelemetry API's global propagator, so the official instrumentations inject what
crosstrace's configured propagators write. It is also registered (entry points) under the names
``b3``, ``b3multi`` and ``jaeger``, which the OpenTelemetry API looks up from OTEL_PROPAGATORS when
it is imported. This module imports the rest of crosstrace only when used."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags


class CrosstracePropagator(TextMapPropagator):
    """Injects what crosstrace's configured propagators write — tracecontext, baggage, b3,
    jaeger, and X-Correlation-ID — from crosstrace's context; extracts into it."""

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        from . import _native
        from ._api import _context_of

        for name, value in _native.inject(_context_of(context)):
            setter.set(carrier, name, value)

    def extract(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> otel_context.Context:
        from . import _native
        from ._api import _CX_KEY

        headers = []
        for name in getter.keys(carrier):
            values = getter.get(carrier, name)
            if values:
                headers.append((name.lower(), values[0]))
        cx = _native.extract(headers)
        ctx = otel_context.set_value(_CX_KEY, cx, context)
        if cx.trace_id and cx.span_id:
            remote = SpanContext(
                int(cx.trace_id, 16),
                int(cx.span_id, 16),
                True,
                TraceFlags(TraceFlags.SAMPLED if cx.sampled else TraceFlags.DEFAULT),
            )
            ctx = otel_trace.set_span_in_context(NonRecordingSpan(remote), ctx)
        return ctx

    @property
    def fields(self) -> set[str]:
        from . import _native

        return set(_native.propagation_fields())
