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
from opentelemetry.trace import Link, SpanKind

from . import _native
from ._api import Span, _context_of
from .propagator import CrosstracePropagator

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
        k = _KINDS.get(kind, "internal")
        return _native.start_span(name, _context_of(context), k, attributes, start_time)

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


def install_global() -> None:
    """Makes crosstrace the OpenTelemetry API's global tracer provider (once per process) and
    its propagator the global one."""
    if not isinstance(otel_trace.get_tracer_provider(), TracerProvider):
        with contextlib.suppress(Exception):
            otel_trace.set_tracer_provider(PROVIDER)
    if not isinstance(propagate.get_global_textmap(), CrosstracePropagator):
        propagate.set_global_textmap(CrosstracePropagator())
