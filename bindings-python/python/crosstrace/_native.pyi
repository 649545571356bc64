"""Type stubs of the native module (Rust, PyO3)."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, final

from opentelemetry.trace import Span as _OtelSpan
from opentelemetry.trace import SpanContext, SpanKind
from opentelemetry.util.types import AnyValue

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")

__all__ = [
    "VERSION",
    "_debug_panic",
    "AlreadyShutdownError",
    "ConfigError",
    "Context",
    "CrosstraceError",
    "CrosstraceTimeoutError",
    "ExportError",
    "ExporterSetupError",
    "InvalidArgumentError",
    "Scope",
    "Span",
    "create_span",
    "ApiSpanBlock",
    "set_api_hooks",
    "add_warning",
    "config_from_env",
    "config_defaults",
    "redact_body",
    "redact_query",
    "redact_text",
    "redact_url",
    "config_normalize",
    "extract",
    "force_flush",
    "health",
    "metrics_text",
    "propagation_fields",
    "inject_format",
    "extract_format",
    "init",
    "inject",
    "set_etl_records",
    "shutdown",
    "start_db_span",
    "start_etl_span",
    "set_context_keys",
    "start_span",
    "call_traced",
    "call_in_span",
    "flush_on_sigterm",
    "start_span_under",
    "validate_correlation_id",
]

VERSION: str

# Shown as crosstrace.<name> (their __module__): the package re-exports them.
class CrosstraceError(Exception): ...
class ConfigError(CrosstraceError, ValueError): ...
class ExporterSetupError(CrosstraceError): ...
class ExportError(CrosstraceError): ...
class CrosstraceTimeoutError(CrosstraceError, TimeoutError): ...
class AlreadyShutdownError(CrosstraceError): ...
class InvalidArgumentError(CrosstraceError): ...

@final
class Scope:
    def __new__(
        cls, name: str, version: str | None = None, schema_url: str | None = None
    ) -> Scope: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def schema_url(self) -> str | None: ...

# trace id and span id (hex), trace flags, tracestate header, remote, attributes.
_LinkArg = tuple[str, str, int, str | None, bool, Mapping[str, Any] | None]

@final
class Context:
    def __init__(self) -> None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def trace_id(self) -> str | None: ...
    @property
    def span_id(self) -> str | None: ...
    @property
    def sampled(self) -> bool: ...
    @property
    def trace_flags(self) -> int: ...
    @property
    def tracestate(self) -> str | None: ...
    @property
    def debug(self) -> bool: ...
    def correlation(self) -> str | None: ...
    def with_correlation(
        self,
        id: str | None = None,
        user_id: str | None = None,
        operation: str | None = None,
        fields: list[tuple[str, str]] | None = None,
    ) -> Context: ...
    def with_parent_of(self, other: Context) -> Context: ...
    def with_remote_parent(
        self,
        trace_id: str,
        span_id: str,
        sampled: bool,
        trace_flags: int | None = None,
        tracestate: str | None = None,
    ) -> Context: ...
    def to_json(self) -> str: ...
    @staticmethod
    def from_json(json: str) -> Context: ...

@final
class ApiSpanBlock:
    """What crosstrace's OpenTelemetry tracer's ``start_as_current_span`` returns."""

    def __new__(
        cls,
        name: str,
        context: Mapping[str, object] | None = None,
        kind: SpanKind | None = None,
        attributes: Mapping[str, Any] | None = None,
        links: Iterable[object] | None = None,
        start_time: int | None = None,
        scope: Scope | None = None,
        end_on_exit: object = True,
        record_exception: object = True,
        set_status_on_exception: object = True,
    ) -> ApiSpanBlock: ...
    def __call__(self, func: _F) -> _F: ...
    def _recreate_cm(self) -> ApiSpanBlock: ...
    def __enter__(self) -> Span: ...
    def __exit__(
        self, _exc_type: object = None, exc: BaseException | None = None, _tb: object = None
    ) -> None: ...

def set_api_hooks(
    kinds: list[tuple[SpanKind, str]],
    start_in_python: Callable[..., Span],
    decorate: Callable[[ApiSpanBlock, Callable[..., Any]], Callable[..., Any]],
) -> None: ...

@final
class create_span:  # noqa: N801 (the specification's name)
    """A span that is current inside a with-block; also a decorator."""

    def __new__(
        cls,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        kind: str | None = None,
        parent: Context | Span | None = None,
        start_time: int | None = None,
    ) -> create_span: ...
    def __call__(self, func: _F) -> _F: ...
    def _recreate_cm(self) -> create_span: ...
    def __enter__(self) -> Span: ...
    def __exit__(
        self, _exc_type: object = None, exc: BaseException | None = None, _tb: object = None
    ) -> None: ...

@final
class Span(_OtelSpan):
    """An ``opentelemetry.trace.Span`` (registered as one by the package: a virtual subclass)."""

    def set_attribute(self, key: str, value: AnyValue) -> None: ...
    def set_attributes(self, attributes: Mapping[str, AnyValue]) -> None: ...
    def add_event(
        self,
        name: str,
        attributes: Mapping[str, AnyValue] | None = None,
        timestamp: int | None = None,
    ) -> None: ...
    def add_link(self, context: object, attributes: object | None = None) -> None: ...
    def record_exception(
        self,
        exception: BaseException,
        attributes: object | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None: ...
    def set_status(self, status: object, description: str | None = None) -> None: ...
    def update_name(self, name: str) -> None: ...
    def end(self, end_time: int | None = None) -> None: ...
    def is_recording(self) -> bool: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> SpanKind: ...
    def get_span_context(self) -> SpanContext: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def span_id(self) -> str: ...
    @property
    def sampled(self) -> bool: ...
    def context(self) -> Context: ...
    def __enter__(self) -> Span: ...
    def __exit__(
        self, _exc_type: object | None = None, exc: object | None = None, _tb: object | None = None
    ) -> None: ...
    def _on_exit(self, record_exception: bool, set_status_on_exception: bool) -> None: ...

def config_from_env() -> str: ...
def config_defaults() -> str: ...
def redact_url(url: str) -> str: ...
def redact_query(query: str) -> str: ...
def redact_text(text: str) -> str: ...
def redact_body(content_type: str, body: bytes, max_bytes: int | None = None) -> str | None: ...
def config_normalize(config_json: str) -> str: ...
def init(config_json: str) -> None: ...
def start_span_under(
    name: str,
    parent: Context,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
    start_time: int | None = None,
    scope: Scope | None = None,
    links: list[_LinkArg] | None = None,
) -> Span: ...
def flush_on_sigterm(timeout_seconds: float) -> bool: ...
def call_traced(
    name: str,
    kind: str,
    func: Callable[..., _T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
) -> _T: ...
def call_in_span(
    span: Span,
    func: Callable[..., _T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
) -> _T: ...
def start_span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    kind: str = "internal",
    parent: Context | Span | None = None,
    start_time: int | None = None,
) -> Span: ...
def set_context_keys(
    crosstrace_key: str,
    span_key: str,
    invalid_span: object,
    get_current: Callable[[], Mapping[str, object]],
    start_in_python: Callable[..., Span],
    cache_parent: bool,
    current_var: object | None,
    context_type: type,
    attach_span: Callable[[Span, bool], object],
    detach: Callable[[Any], None],
    decorate: Callable[[Any, Callable[..., Any]], Callable[..., Any]],
) -> None: ...
def start_etl_span(operation: str, stage: str, parent: Context) -> Span: ...
def start_db_span(system: str, operation: str, table: str, parent: Context) -> Span: ...
def set_etl_records(
    span: Span, input: int | None = None, output: int | None = None, rejected: int | None = None
) -> None: ...
def inject(context: Context) -> list[tuple[str, str]]: ...
def extract(headers: Iterable[tuple[str | bytes, str | bytes]]) -> Context: ...
def health() -> str: ...
def add_warning(message: str) -> bool: ...
def metrics_text() -> str: ...
def propagation_fields() -> list[str]: ...
def inject_format(context: Context, name: str) -> list[tuple[str, str]]: ...
def extract_format(lines: list[tuple[str, str]], name: str) -> Context: ...
def force_flush(timeout_seconds: float) -> bool: ...
def shutdown(timeout_seconds: float) -> int: ...
def validate_correlation_id(id: str) -> None: ...
def _debug_panic() -> None: ...
