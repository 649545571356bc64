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


def _ignores_case(getter: Getter[CarrierT], carrier: CarrierT, names: list[str]) -> bool:
    """Whether ``getter`` matches header names ignoring case: it answers a spelling the carrier
    does not list as it answers one it does."""
    probe = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(names[0]))
    if probe in names:
        probe = probe.swapcase()
    if probe in names:
        return False
    return getter.get(carrier, probe) == getter.get(carrier, names[0])


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
        from ._api import _CX_KEY, _otel_trace_state

        # Every line of every header. The getter returns a list per name; a name may be listed
        # once per line (the ASGI getter) and in several cases. A case-insensitive getter gives
        # every line for each spelling (asked once); a case-sensitive one gives each spelling's
        # own (all asked).
        spellings: dict[str, list[str]] = {}
        for name in getter.keys(carrier):
            names = spellings.setdefault(name.lower(), [])
            if name not in names:
                names.append(name)
        headers: list[tuple[str, str]] = []
        for names in spellings.values():
            if len(names) > 1 and _ignores_case(getter, carrier, names):
                names = names[:1]
            for name in names:
                headers.extend((name, value) for value in getter.get(carrier, name) or ())
        cx = _native.extract(headers)
        ctx = otel_context.set_value(_CX_KEY, cx, context)
        if cx.trace_id and cx.span_id:
            remote = SpanContext(
                int(cx.trace_id, 16),
                int(cx.span_id, 16),
                True,
                TraceFlags(cx.trace_flags),
                _otel_trace_state(cx.tracestate),
            )
            ctx = otel_trace.set_span_in_context(NonRecordingSpan(remote), ctx)
        return ctx

    @property
    def fields(self) -> set[str]:
        from . import _native

        return set(_native.propagation_fields())
