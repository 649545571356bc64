"""crosstrace as an OpenTelemetry API ``TracerProvider``: the official instrumentation packages
(FastAPI, requests, httpx, urllib, SQLAlchemy, psycopg, sqlite3, redis, logging) produce their
spans into crosstrace unchanged, nested with crosstrace's own spans."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Link, SpanKind

from . import _native
from ._api import Span, _context_of, _wrap_coroutine
from .propagator import CrosstracePropagator

_KINDS = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}


def _links(links: Sequence[Link] | None) -> list[_native._LinkArg] | None:
    """The API's links as the native module takes them (see ``_native.start_span_under``)."""
    if not links:
        return None
    out: list[_native._LinkArg] = []
    for link in links:
        sc = link.context
        state = sc.trace_state.to_header() if sc.trace_state is not None else ""
        out.append(
            (
                format(sc.trace_id, "032x"),
                format(sc.span_id, "016x"),
                int(sc.trace_flags),
                state or None,
                sc.is_remote,
                link.attributes or None,
            )
        )
    return out


class Tracer(otel_trace.Tracer):
    """An OpenTelemetry tracer whose spans are crosstrace spans, exported under the tracer's
    instrumentation scope (its name, version and schema URL)."""

    def __init__(
        self, name: str, version: str | None = None, schema_url: str | None = None
    ) -> None:
        self.name = name
        self.version = version
        self.schema_url = schema_url
        self._scope = _native.Scope(name, version, schema_url)

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
        span = _native.start_span_under(
            name, _context_of(context), k, attributes, start_time, self._scope, _links(links)
        )
        if not (record_exception and set_status_on_exception):
            span._on_exit(record_exception, set_status_on_exception)
        return span

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
    ) -> _native.ApiSpanBlock:
        # A span started on entry and current inside, as the API's use_span makes it (an
        # Exception leaving the block is recorded and sets the error status; the span ends on
        # exit), in one native object: in Python, the block cost more than the span.
        return _native.ApiSpanBlock(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            self._scope,
            end_on_exit,
            record_exception,
            set_status_on_exception,
        )


def _start(
    name: str,
    context: otel_context.Context | None,
    kind: SpanKind | None,
    attributes: Mapping[str, Any] | None,
    links: Sequence[Link] | None,
    start_time: int | None,
    scope: _native.Scope | None,
) -> Span:
    """``ApiSpanBlock``'s start where it does not start the span itself: an explicit context,
    links, a start time, another tracer's current span, or a kind that is not the API's."""
    k = _KINDS.get(kind, "internal") if kind is not None else "internal"
    return _native.start_span_under(
        name, _context_of(context), k, attributes, start_time, scope, _links(links)
    )


def _decorate(block: _native.ApiSpanBlock, func: Callable[..., Any]) -> Callable[..., Any]:
    """``start_as_current_span`` as a decorator, as the API's own: each call in a block of its
    own, a coroutine function's awaited body included."""
    if inspect.iscoroutinefunction(func):
        return _wrap_coroutine(func, block._recreate_cm)
    return contextlib.ContextDecorator.__call__(block, func)  # type: ignore[arg-type]


_native.set_api_hooks(list(_KINDS.items()), _start, _decorate)


class TracerProvider(otel_trace.TracerProvider):
    """Hands out crosstrace tracers; configure crosstrace itself with ``setup_tracing``."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> Tracer:
        # (Scope attributes are not kept: see crosstrace::Scope.)
        return Tracer(instrumenting_module_name, instrumenting_library_version, schema_url)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """As the SDK's provider: exports everything queued, and says whether every span was
        exported within ``timeout_millis`` (code written for the SDK calls it, the AWS Lambda
        instrumentation after each invocation among others). Never raises."""
        from . import _api

        try:
            return _api.force_flush(max(timeout_millis, 0) / 1000)
        except Exception:
            return False

    def shutdown(self) -> None:
        """As the SDK's provider: exports what is queued, then stops crosstrace's tracing (the
        process's one pipeline, whoever set it up)."""
        from . import _api

        _api.shutdown_tracing()


PROVIDER = TracerProvider()


def provider_from_entry_point() -> TracerProvider:
    """What the OpenTelemetry API loads for ``OTEL_PYTHON_TRACER_PROVIDER=crosstrace`` (the
    ``opentelemetry_tracer_provider`` entry point): crosstrace's provider, which the API then
    installs as its global one. When ``setup_tracing`` has not run, tracing is set up from the
    ``OTEL_*`` environment (without turning on instrumentations: ``setup_tracing`` does) and
    crosstrace's propagator becomes the global one, so the API's spans are exported."""
    from . import _api

    if _api.get_config() is None:
        _api._init(None)
    if not isinstance(propagate.get_global_textmap(), CrosstracePropagator):
        propagate.set_global_textmap(CrosstracePropagator())
    return PROVIDER


def install_global() -> None:
    """Makes crosstrace the OpenTelemetry API's global tracer provider (once per process) and
    its propagator the global one. When another provider holds the API already (the official
    SDK's, say: the API lets a process set one once), the spans of tracers from
    ``opentelemetry.trace.get_tracer`` go there, not to crosstrace: said once in health's
    ``warnings`` and on stderr."""
    current = otel_trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        with contextlib.suppress(Exception):
            otel_trace.set_tracer_provider(PROVIDER)
        current = otel_trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        other = f"{type(current).__module__}.{type(current).__qualname__}"
        _native.add_warning(
            f"the OpenTelemetry API's tracer provider is another SDK's ({other}), installed "
            "before crosstrace: spans of tracers from opentelemetry.trace.get_tracer() go to "
            "it, not to crosstrace (the instrumentations crosstrace turns on still report to "
            "crosstrace). Set up crosstrace instead of that SDK, or set "
            "OTEL_PYTHON_TRACER_PROVIDER=crosstrace"
        )
    if not isinstance(propagate.get_global_textmap(), CrosstracePropagator):
        propagate.set_global_textmap(CrosstracePropagator())
