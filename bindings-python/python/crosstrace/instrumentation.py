"""Zero-code instrumentation through the ecosystem: each official OpenTelemetry instrumentation
whose target library is importable is enabled with crosstrace as its tracer provider, as
``instrument_db``, ``instrument_http`` and ``instrument_logging`` allow."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

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
    """Enables what the config allows and can be found; returns (and keeps) the status."""
    switches = {
        "http": (config.instrument_http, "OTEL_INSTRUMENT_HTTP=false"),
        "db": (config.instrument_db, "OTEL_INSTRUMENT_DB=false"),
        "logging": (config.instrument_logging, "OTEL_INSTRUMENT_LOGGING=false"),
    }
    active: list[str] = []
    reasons: dict[str, str] = {}
    for name, switch, target, module, cls, package in INSTRUMENTATIONS:
        enabled, why_not = switches[switch]
        if not config.enabled:
            reasons[name] = "tracing is disabled"
        elif not config.auto_instrument:
            reasons[name] = "OTEL_AUTO_INSTRUMENT=false"
        elif not enabled:
            reasons[name] = f"disabled by {why_not}"
        elif importlib.util.find_spec(target.split(".")[0]) is None:
            reasons[name] = f"{target} is not installed"
        else:
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
                if not instrumentor.is_instrumented_by_opentelemetry:
                    kwargs: dict[str, Any] = {"tracer_provider": provider}
                    if name == "logging":
                        kwargs["set_logging_format"] = False
                        kwargs["inject_trace_context"] = True
                    instrumentor.instrument(**kwargs)
                if not instrumentor.is_instrumented_by_opentelemetry:
                    reasons[name] = f"{cls} declined to instrument"
                    continue
                if name == "logging":
                    _install_correlation_in_logs()
                active.append(name)
            except Exception as e:  # noqa: BLE001 (an instrumentation must never break startup)
                reasons[name] = f"failed: {type(e).__name__}: {e}"
    _status.clear()
    _status.update(
        {
            "auto_instrument": config.auto_instrument and config.enabled,
            "instrumented_libraries": active,
            "not_instrumented": reasons,
        }
    )
    return status()


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
