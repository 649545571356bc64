"""Zero-code instrumentation through the ecosystem: each official OpenTelemetry instrumentation
whose target library is importable is enabled with crosstrace as its tracer provider, as
``instrument_db``, ``instrument_http`` and ``instrument_logging`` allow. A later
``setup_tracing`` that does not allow one any more turns it off again; one that another caller
instrumented first is left to that caller (and said so in the status). A query through
SQLAlchemy is one client span, SQLAlchemy's, not a second one from its driver's
instrumentation (sqlite3, psycopg)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Callable
from typing import Any

from . import _native
from ._api import TracingConfig, get_correlation_id

# name, switch, target module, instrumentor module, instrumentor class, pip package
INSTRUMENTATIONS: list[tuple[str, str, str, str, str, str]] = [
    (
        "fastapi",
        "http",
        "fastapi",
        "opentelemetry.instrumentation.fastapi",
        "FastAPIInstrumentor",
        "opentelemetry-instrumentation-fastapi",
    ),
    (
        "requests",
        "http",
        "requests",
        "opentelemetry.instrumentation.requests",
        "RequestsInstrumentor",
        "opentelemetry-instrumentation-requests",
    ),
    (
        "httpx",
        "http",
        "httpx",
        "opentelemetry.instrumentation.httpx",
        "HTTPXClientInstrumentor",
        "opentelemetry-instrumentation-httpx",
    ),
    (
        "urllib",
        "http",
        "urllib.request",
        "opentelemetry.instrumentation.urllib",
        "URLLibInstrumentor",
        "opentelemetry-instrumentation-urllib",
    ),
    (
        "sqlalchemy",
        "db",
        "sqlalchemy",
        "opentelemetry.instrumentation.sqlalchemy",
        "SQLAlchemyInstrumentor",
        "opentelemetry-instrumentation-sqlalchemy",
    ),
    (
        "psycopg",
        "db",
        "psycopg",
        "opentelemetry.instrumentation.psycopg",
        "PsycopgInstrumentor",
        "opentelemetry-instrumentation-psycopg",
    ),
    (
        "sqlite3",
        "db",
        "sqlite3",
        "opentelemetry.instrumentation.sqlite3",
        "SQLite3Instrumentor",
        "opentelemetry-instrumentation-sqlite3",
    ),
    (
        "redis",
        "db",
        "redis",
        "opentelemetry.instrumentation.redis",
        "RedisInstrumentor",
        "opentelemetry-instrumentation-redis",
    ),
    (
        "logging",
        "logging",
        "logging",
        "opentelemetry.instrumentation.logging",
        "LoggingInstrumentor",
        "opentelemetry-instrumentation-logging",
    ),
]

_status: dict[str, Any] = {
    "auto_instrument": False,
    "instrumented_libraries": [],
    "not_instrumented": {"all": "tracing is not set up (call setup_tracing)"},
}
_record_factory_installed = False
# The instrumentations crosstrace turned on (so the ones a later setup may turn off again), as
# opposed to those another caller instrumented before it.
_ours: set[str] = set()
# The SQLAlchemy events installed by _leave_queries_to_sqlalchemy, to remove them again.
_sqlalchemy_listeners: list[tuple[Any, str, Callable[..., bool]]] = []


def _install_correlation_in_logs() -> None:
    """Log records carry ``correlation_id`` beside the trace ids the logging instrumentation
    adds (``otelTraceID``, ``otelSpanID``)."""
    global _record_factory_installed
    if _record_factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.correlation_id = get_correlation_id() or ""
        return record

    logging.setLogRecordFactory(factory)
    _record_factory_installed = True


def instrument(config: TracingConfig, provider: Any) -> dict[str, Any]:
    """Enables what the config allows and can be found, turns off what crosstrace enabled
    before and the config no longer allows; returns (and keeps) the status."""
    switches = {
        "http": (config.instrument_http, "OTEL_INSTRUMENT_HTTP=false"),
        "db": (config.instrument_db, "OTEL_INSTRUMENT_DB=false"),
        "logging": (config.instrument_logging, "OTEL_INSTRUMENT_LOGGING=false"),
    }
    active: list[str] = []
    reasons: dict[str, str] = {}
    for name, switch, target, module, cls, package in INSTRUMENTATIONS:
        enabled, why_not = switches[switch]
        off: str | None = None
        if not config.enabled:
            off = "tracing is disabled"
        elif not config.auto_instrument:
            off = "OTEL_AUTO_INSTRUMENT=false"
        elif not enabled:
            off = f"disabled by {why_not}"
        if off is not None:
            # This setup replaces the one that turned it on.
            failure = _turn_off(name, module, cls) if name in _ours else None
            if failure is None:
                reasons[name] = off
            else:
                active.append(name)  # (still on: the status says what is)
                _native.add_warning(f"{cls} is still on ({off}): turning it off failed: {failure}")
            continue
        if importlib.util.find_spec(target.split(".")[0]) is None:
            reasons[name] = f"{target} is not installed"
            continue
        try:
            instrumentor = getattr(importlib.import_module(module), cls)()
        except ImportError:
            reasons[name] = f"pip install {package}"
            continue
        conflict = _dependency_conflict(instrumentor)
        if conflict:
            reasons[name] = conflict
            continue
        try:
            if instrumentor.is_instrumented_by_opentelemetry and name not in _ours:
                reasons[name] = (
                    "instrumented before setup_tracing by another caller (opentelemetry-"
                    f"instrument, or {cls}().instrument() in the application), with its own "
                    "tracer provider and options: crosstrace leaves it so"
                )
                continue
            if not instrumentor.is_instrumented_by_opentelemetry:
                kwargs: dict[str, Any] = {"tracer_provider": provider}
                if name == "logging":
                    kwargs["set_logging_format"] = False
                    kwargs["inject_trace_context"] = True
                instrumentor.instrument(**kwargs)
            if not instrumentor.is_instrumented_by_opentelemetry:
                reasons[name] = f"{cls} declined to instrument"
                continue
            _ours.add(name)
            if name == "logging":
                _install_correlation_in_logs()
            active.append(name)
        except Exception as e:  # noqa: BLE001 (an instrumentation must never break startup)
            reasons[name] = f"failed: {type(e).__name__}: {e}"
    if "sqlalchemy" in active:
        try:
            _leave_queries_to_sqlalchemy()
        except Exception as e:  # noqa: BLE001 (then a query is traced twice, not broken)
            _native.add_warning(
                "SQLAlchemy is instrumented, but its drivers' instrumentations could not be "
                f"kept from tracing its queries a second time: {type(e).__name__}: {e}"
            )
    _status.clear()
    _status.update(
        {
            "auto_instrument": config.auto_instrument and config.enabled,
            "instrumented_libraries": active,
            "not_instrumented": reasons,
        }
    )
    return status()


def _turn_off(name: str, module: str, cls: str) -> str | None:
    """Uninstruments what crosstrace instrumented; the reason it could not, else None."""
    try:
        instrumentation = importlib.import_module(module)
        instrumentor = getattr(instrumentation, cls)()
        # Uninstrumenting FastAPI builds the middleware stack of every app it instrumented,
        # after which Starlette refuses add_middleware (and setup_tracing_middleware): an app
        # that had not started is left open to middleware.
        unstarted = [
            app
            for app in getattr(
                getattr(instrumentation, "_InstrumentedFastAPI", None),
                "_instrumented_fastapi_apps",
                (),
            )
            if getattr(app, "middleware_stack", True) is None
        ]
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        for app in unstarted:
            app.middleware_stack = None
    except Exception as e:  # noqa: BLE001 (a setup must not fail on an instrumentation)
        return f"{type(e).__name__}: {e}"
    _ours.discard(name)
    if name == "logging":
        # The instrumentation put back the record factory it found, which crosstrace's wrapped:
        # the next one to turn it on installs crosstrace's again.
        global _record_factory_installed
        _record_factory_installed = False
    if name == "sqlalchemy":
        _restore_driver_spans()
    return None


def _leave_queries_to_sqlalchemy() -> None:
    """One client span per query made through SQLAlchemy: its instrumentation's, which knows
    the engine, the database and the statement as SQLAlchemy ran it, and covers every driver.
    The driver's own instrumentation (sqlite3, psycopg: it wraps the connections SQLAlchemy
    opens) is suppressed while SQLAlchemy has the driver run a statement that SQLAlchemy's
    instrumentation traced; queries made on the driver directly, or through an engine made
    before instrumenting, keep their driver span.

    SQLAlchemy's span is not current while the driver runs (it starts it in
    ``before_cursor_execute`` and ends it in ``after_cursor_execute``), so the driver's span
    cannot be told apart by its parent: the suppression goes around the driver call itself, in
    the dialect's ``do_execute`` events, which then run the remaining listeners and the
    dialect's own call as SQLAlchemy would have."""
    if _sqlalchemy_listeners:
        return
    from opentelemetry.instrumentation.utils import (
        is_instrumentation_enabled,
        suppress_instrumentation,
    )
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def listener(method: str) -> Callable[..., bool]:
        def run_without_driver_span(cursor: Any, statement: Any, *rest: Any) -> bool:
            # (do_execute: parameters, then the execution context; do_execute_no_params: no
            # parameters.)
            context = rest[-1]
            if getattr(context, "_otel_span", None) is None or not is_instrumentation_enabled():
                # No SQLAlchemy span for this statement; or inside the run below.
                return False
            dialect = context.dialect
            with suppress_instrumentation():
                for fn in getattr(dialect.dispatch, method):
                    if fn(cursor, statement, *rest):
                        return True
                getattr(dialect, method)(cursor, statement, *rest)
            return True

        return run_without_driver_span

    for method in ("do_execute", "do_executemany", "do_execute_no_params"):
        fn = listener(method)
        event.listen(Engine, method, fn)
        _sqlalchemy_listeners.append((Engine, method, fn))


def _restore_driver_spans() -> None:
    """Removes ``_leave_queries_to_sqlalchemy``'s events."""
    with contextlib.suppress(Exception):
        from sqlalchemy import event

        while _sqlalchemy_listeners:
            event.remove(*_sqlalchemy_listeners.pop())


def _dependency_conflict(instrumentor: Any) -> str | None:
    """The instrumentor's own version check, as a reason (None when it can instrument)."""
    try:
        from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

        conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    except Exception:  # noqa: BLE001 (no check available: let instrument() decide)
        return None
    return f"version not supported: {conflict}" if conflict else None


def status() -> dict[str, Any]:
    """Which instrumentations are active, and why the others are not."""
    return {
        "auto_instrument": _status["auto_instrument"],
        "instrumented_libraries": list(_status["instrumented_libraries"]),
        "not_instrumented": dict(_status["not_instrumented"]),
    }
