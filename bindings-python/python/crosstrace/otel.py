"""crosstrace as an OpenTelemetry API ``TracerProvider``: the official instrumentation packages
(FastAPI, requests, httpx, urllib, SQLAlchemy, psycopg, sqlite3, redis, logging) produce their
spans into crosstrace unchanged, nested with crosstrace's own spans."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry import trace as otel_trace
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from . import _native
from ._api import _CX_KEY, Span, _context_of

_KINDS = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}


class Tracer(otel_trace.Tracer):
    """An OpenTelemetry tracer whose spans are crosstrace spans."""

    def __init__(self, name: str, version: str | None = None) -> None:
        self.name = name
        self.version = version

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        parent = _context_of(context)
        attrs = dict(attributes) if attributes else None
        k = _KINDS.get(kind, "internal")
        return Span(_native.start_span(name, parent, k, attrs, None, start_time), name, k)

    # The API declares its own context-manager type; a generator-based one behaves the same.
    @contextlib.contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with otel_trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current  # type: ignore[misc]


class TracerProvider(otel_trace.TracerProvider):
    """Hands out crosstrace tracers; configure crosstrace itself with ``setup_tracing``."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> Tracer:
        return Tracer(instrumenting_module_name, instrumenting_library_version)


PROVIDER = TracerProvider()

# Every header crosstrace's propagators may write (the configured ones are a subset).
_FIELDS = {
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "uber-trace-id",
    "x-correlation-id",
}


class CrosstracePropagator(TextMapPropagator):
    """The OpenTelemetry API's global propagator while crosstrace is set up: instrumented
    clients (requests, httpx, urllib) inject what crosstrace's configured propagators write —
    tracecontext, baggage, b3, jaeger, and X-Correlation-ID — from crosstrace's context."""

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        for name, value in _native.inject(_context_of(context)):
            setter.set(carrier, name, value)

    def extract(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> otel_context.Context:
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
        return set(_FIELDS)


def install_global() -> None:
    """Makes crosstrace the OpenTelemetry API's global tracer provider (once per process) and
    its propagator the global one."""
    if not isinstance(otel_trace.get_tracer_provider(), TracerProvider):
        with contextlib.suppress(Exception):
            otel_trace.set_tracer_provider(PROVIDER)
    if not isinstance(propagate.get_global_textmap(), CrosstracePropagator):
        propagate.set_global_textmap(CrosstracePropagator())
