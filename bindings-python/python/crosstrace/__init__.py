"""crosstrace: one tracing core for every language of the pipeline — the Python package.

The specification's ``core.tracing`` API; spans, sampling, propagation, batching and export run
in the Rust core (``crosstrace._native``).
"""

from ._api import (
    CorrelationContext,
    Span,
    Tracer,
    TracingBackend,
    TracingConfig,
    bind_context,
    correlation_context,
    create_span,
    current_context,
    extract,
    force_flush,
    get_config,
    get_correlation_id,
    get_current_span,
    get_instrumentation_status,
    get_tracer,
    get_tracing_health,
    inject,
    metrics_text,
    set_etl_records,
    set_span_attribute,
    set_span_status,
    setup_tracing,
    shutdown_tracing,
    start_span,
    trace_async_function,
    trace_database_operation,
    trace_etl_operation,
    trace_function,
    use_context,
)
from ._native import VERSION as __version__
from ._native import (
    AlreadyShutdownError,
    ConfigError,
    Context,
    CrosstraceError,
    CrosstraceTimeoutError,
    ExportError,
    ExporterSetupError,
    InvalidArgumentError,
)

__all__ = [
    "AlreadyShutdownError",
    "ConfigError",
    "Context",
    "CorrelationContext",
    "CrosstraceError",
    "CrosstraceTimeoutError",
    "ExportError",
    "ExporterSetupError",
    "InvalidArgumentError",
    "Span",
    "Tracer",
    "TracingBackend",
    "TracingConfig",
    "__version__",
    "bind_context",
    "correlation_context",
    "create_span",
    "current_context",
    "extract",
    "force_flush",
    "get_config",
    "get_correlation_id",
    "get_current_span",
    "get_instrumentation_status",
    "get_tracer",
    "get_tracing_health",
    "metrics_text",
    "inject",
    "set_etl_records",
    "set_span_attribute",
    "set_span_status",
    "setup_tracing",
    "shutdown_tracing",
    "start_span",
    "trace_async_function",
    "trace_database_operation",
    "trace_etl_operation",
    "trace_function",
    "use_context",
]


def __getattr__(name: str) -> object:
    """``crosstrace.TimeoutError``, the old name of ``CrosstraceTimeoutError``: deprecated, and
    left out of ``__all__`` so that ``from crosstrace import *`` does not shadow the builtin
    ``TimeoutError`` (of which ``CrosstraceTimeoutError`` is a subclass)."""
    if name == "TimeoutError":
        import warnings

        warnings.warn(
            "crosstrace.TimeoutError is deprecated: use crosstrace.CrosstraceTimeoutError (a "
            "subclass of the builtin TimeoutError)",
            DeprecationWarning,
            stacklevel=2,
        )
        return CrosstraceTimeoutError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
