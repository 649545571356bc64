"""The specification's tracing API (``core.tracing``), over the Rust core.

The current span and correlation live in ``contextvars``, so asyncio tasks and threads never see
each other's; spans, ids, sampling, attribute limits, batching and export are the core's.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import dataclasses
import enum
import functools
import inspect
import json
import math
import multiprocessing.util
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace.propagation import _SPAN_KEY

from . import _native
from ._native import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


class TracingBackend(str, enum.Enum):
    """Where finished spans go."""

    CONSOLE = "console"
    OTLP = "otlp"
    JAEGER = "jaeger"
    ZIPKIN = "zipkin"
    NONE = "none"


# Every default is the core's (one source of truth).
_D: dict[str, Any] = json.loads(_native.config_defaults())


def _json_safe(value: Any) -> Any:
    """What JSON cannot hold, as text the core names in its ConfigError: NaN, infinities and
    integers beyond 64 bits (a bad value must be refused naming its field, not fail to encode)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)
    return value


@dataclasses.dataclass
class TracingConfig:
    """Every option of the specification (and the standard OTEL_* ones), with the core's
    defaults. Checked when made: a bad value raises ConfigError naming the field, the value
    and what is accepted (numbers within their documented bounds)."""

    enabled: bool = _D["enabled"]
    service_name: str = _D["service_name"]
    service_version: str = _D["service_version"]
    environment: str = _D["environment"]
    backend: TracingBackend | str = TracingBackend(_D["backend"])
    endpoint: str | None = _D["endpoint"]
    otlp_protocol: str | None = _D["otlp_protocol"]
    headers: dict[str, str] = dataclasses.field(default_factory=lambda: dict(_D["headers"]))
    compression: str = _D["compression"]
    sampler: str = _D["sampler"]
    sampling_rate: float = _D["sampling_rate"]
    export_timeout_seconds: float = _D["export_timeout_seconds"]
    export_attempt_timeout_seconds: float = _D["export_attempt_timeout_seconds"]
    export_max_batch_size: int = _D["export_max_batch_size"]
    max_queue_size: int = _D["max_queue_size"]
    schedule_delay_millis: int = _D["schedule_delay_millis"]
    auto_instrument: bool = _D["auto_instrument"]
    instrument_db: bool = _D["instrument_db"]
    instrument_http: bool = _D["instrument_http"]
    instrument_logging: bool = _D["instrument_logging"]
    resource_attributes: dict[str, str] = dataclasses.field(
        default_factory=lambda: dict(_D["resource_attributes"])
    )
    propagators: list[str] = dataclasses.field(default_factory=lambda: list(_D["propagators"]))
    attribute_value_length_limit: int = _D["attribute_value_length_limit"]
    attribute_count_limit: int = _D["attribute_count_limit"]
    event_count_limit: int = _D["event_count_limit"]
    link_count_limit: int = _D["link_count_limit"]
    log_level: str = _D["log_level"]
    metrics_enabled: bool = _D["metrics_enabled"]
    metrics_buckets_ms: list[float] = dataclasses.field(
        default_factory=lambda: list(_D["metrics_buckets_ms"])
    )
    metrics_max_series: int = _D["metrics_max_series"]
    redact_keys: list[str] = dataclasses.field(default_factory=lambda: list(_D["redact_keys"]))
    max_body_bytes: int = _D["max_body_bytes"]
    metrics_dir: str | None = _D["metrics_dir"]
    metrics_sync_interval_millis: int = _D["metrics_sync_interval_millis"]

    def __post_init__(self) -> None:
        self.to_json()

    def __repr__(self) -> str:
        """The fields, as a dataclass shows them, with the credentials redacted: the endpoint's
        userinfo and secret query values, and every header's value (a config is often logged)."""
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "endpoint" and value:
                value = _native.redact_url(value)
            elif f.name == "headers":
                value = dict.fromkeys(value, "REDACTED")
            shown.append(f"{f.name}={value!r}")
        return f"TracingConfig({', '.join(shown)})"

    @classmethod
    def from_env(cls) -> TracingConfig:
        """Reads the OTEL_* environment (the core's rules); raises ConfigError on a bad value."""
        return cls._from_json(_native.config_from_env())

    @classmethod
    def _from_json(cls, text: str) -> TracingConfig:
        data = json.loads(text)
        data["backend"] = TracingBackend(data["backend"])
        return cls(**data)

    def to_json(self) -> str:
        """Validates and returns the normalised JSON; raises ConfigError naming the field."""
        data = {k: _json_safe(v) for k, v in dataclasses.asdict(self).items()}
        if isinstance(self.backend, TracingBackend):
            data["backend"] = self.backend.value
        return _native.config_normalize(json.dumps(data))


@dataclasses.dataclass
class _State:
    config: TracingConfig | None = None
    shut_down: bool = False
    # The multiprocessing worker whose exit flushes its spans, and the finalizer that does (see
    # _watch_worker).
    worker_pid: int = 0
    worker_flush: Any = None


_state = _State()
_lock = threading.Lock()
_ROOT = _native.Context()
# crosstrace keeps its context (baggage, correlation, an extracted parent) in OpenTelemetry's
# context, beside OpenTelemetry's current span: one contextvar for both APIs, so spans of the
# official instrumentations and of crosstrace nest in one trace, per asyncio task and thread.
_CX_KEY = otel_context.create_key("crosstrace-context")

# The current OpenTelemetry context: the API's contextvars runtime read directly (two Python
# calls fewer per span), or through the API when another runtime context is configured.
_RUNTIME = getattr(otel_context, "_RUNTIME_CONTEXT", None)
_CURRENT_VAR = getattr(_RUNTIME, "_current_context", None)
# Only the API's own contextvars runtime: a subclass (OTEL_PYTHON_CONTEXT) may override attach,
# detach or get_current, and then goes through the API.
if type(_RUNTIME) is not ContextVarsRuntimeContext or not isinstance(
    _CURRENT_VAR, contextvars.ContextVar
):
    _CURRENT_VAR = None
_get_current: Callable[[], otel_context.Context] = (
    _CURRENT_VAR.get if _CURRENT_VAR is not None else otel_context.get_current
)


def _attach_span(span: Span, own_context: bool = False) -> object:
    """Makes ``span`` current; returns the token to detach. The crosstrace context (baggage,
    correlation) stays the current one, which the span started under: children take their
    parent from the current span and the rest from it (as for spans that OpenTelemetry's
    ``use_span`` makes current). With ``own_context`` (a span started under an explicit parent,
    e.g. extracted headers), the span's own context becomes current too."""
    if _CURRENT_VAR is None:
        ctx = otel_trace.set_span_in_context(span)
        if own_context:
            ctx = otel_context.set_value(_CX_KEY, span.context(), ctx)
        return otel_context.attach(ctx)
    # What set_span_in_context (+ set_value) + attach do, with one copy of the context and no
    # calls between.
    if own_context:
        return _CURRENT_VAR.set(
            otel_context.Context({**_CURRENT_VAR.get(), _SPAN_KEY: span, _CX_KEY: span.context()})
        )
    return _CURRENT_VAR.set(otel_context.Context({**_CURRENT_VAR.get(), _SPAN_KEY: span}))


def _detach(token: Any) -> None:
    # (`token: Any`, not `cast`: a cast is a function call, and this runs for every span.)
    if _CURRENT_VAR is None:
        otel_context.detach(token)
        return
    try:
        _CURRENT_VAR.reset(token)
    except Exception:  # noqa: BLE001
        # A token from another context (a generator resumed elsewhere), or reused: the API
        # logs it and goes on, and so do we (through it).
        otel_context.detach(token)


def setup_tracing(config: TracingConfig | None = None) -> TracingConfig:
    """Configures tracing from ``config`` or the environment. Replaces an earlier setup."""
    from . import instrumentation, otel

    config = _init(config)
    otel.install_global()
    instrumentation.instrument(config, otel.PROVIDER)
    return config


def _init(config: TracingConfig | None) -> TracingConfig:
    """``setup_tracing``'s own part: the core's instance, from ``config`` or the environment
    (the OpenTelemetry API's provider and the instrumentations are the caller's)."""
    config = config if config is not None else TracingConfig.from_env()
    normalised = config.to_json()
    with _lock:
        _native.init(normalised)
        _state.config = TracingConfig._from_json(normalised)
        _state.shut_down = False
    mp = sys.modules.get("multiprocessing")
    # A multiprocessing child; or one still importing its parent's main module, as spawn and
    # forkserver children do before their task (where a setup at module level runs): a spawned
    # child runs no after-fork hooks, so its watch starts here. (``_inheriting`` is how
    # multiprocessing itself tells that phase.)
    if mp is not None and (
        mp.parent_process() is not None or getattr(mp.current_process(), "_inheriting", False)
    ):
        _watch_worker()
    return _state.config


def get_config() -> TracingConfig | None:
    """The configuration in force, if tracing was set up."""
    return _state.config


def shutdown_tracing(timeout: float = 10.0) -> int:
    """Exports what is queued within ``timeout`` seconds, then stops; returns the number of
    spans that could not be sent. Idempotent."""
    with _lock:
        if _state.shut_down:
            return 0
        _state.shut_down = True
    try:
        return _native.shutdown(timeout)
    except (_native.InvalidArgumentError, TypeError):
        # A bad timeout is refused before anything stops: tracing still runs, and a later
        # call (or the exit's) must still export what is queued.
        with _lock:
            _state.shut_down = False
        raise


def force_flush(timeout: float = 10.0) -> bool:
    """Exports everything queued, waiting at most ``timeout`` seconds. Returns whether the
    spans it waited for were exported: ``False`` when some could not be (they are lost;
    ``get_tracing_health()`` counts them in ``spans_export_failed`` and says why in
    ``last_export_error``; spans dropped at a full queue are counted apart, in
    ``spans_dropped_queue_full``). After ``shutdown_tracing``, ``False``: nothing can be
    exported any more (a forked worker's parent may have shut down before forking it). Raises
    ``CrosstraceTimeoutError`` (a ``TimeoutError``) when the export takes longer."""
    try:
        return _native.force_flush(timeout)
    except _native.AlreadyShutdownError:
        return False


def _flush_at_exit() -> None:
    with contextlib.suppress(Exception):
        shutdown_tracing(5.0)


atexit.register(_flush_at_exit)


# Forked children. The core reseeds ids and starts a child's own export thread (the parent's
# queued spans stay the parent's). Here: the lock below, which another thread may have held at
# the fork, is made anew; and a multiprocessing worker, which leaves through os._exit (no
# atexit), flushes its spans as it exits.
_WORKER_FLUSH_SECONDS = 5.0


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _flush_worker() -> None:
    with contextlib.suppress(Exception):
        if _state.config is not None and not _state.shut_down:
            _native.force_flush(_WORKER_FLUSH_SECONDS)


def _watch_worker(_: object = None) -> None:
    """In a multiprocessing child (fork, forkserver or spawn) with tracing set up: flush its spans
    when it exits normally (a multiprocessing finalizer: Pool workers, ProcessPoolExecutor,
    Process) and when it is sent SIGTERM (Pool.terminate(), a Pool's with-block exit), if the
    worker has no SIGTERM handler of its own; the signal then ends it as before."""
    if _state.config is None:
        return
    # Registered again when multiprocessing cleared it (a forkserver child starting its task
    # after a setup made while it imported the main module).
    flush = _state.worker_flush
    if _state.worker_pid != os.getpid() or flush is None or not flush.still_active():
        _state.worker_flush = multiprocessing.util.Finalize(None, _flush_worker, exitpriority=0)
    if _state.worker_pid == os.getpid():
        return
    _state.worker_pid = os.getpid()
    # Natively (`flush_on_sigterm`): a Python handler would run only when the main thread next
    # runs Python, and a Pool worker blocked waiting for its next task would never end.
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        and hasattr(_native, "flush_on_sigterm")
    ):
        with contextlib.suppress(Exception):
            _native.flush_on_sigterm(_WORKER_FLUSH_SECONDS)


# Run in every multiprocessing child as it starts, after multiprocessing clears the finalizers
# it inherited (a finalizer registered at os.fork time would be cleared).
multiprocessing.util.register_after_fork(_state, _watch_worker)


# A span: what ``create_span`` yields, and what the OpenTelemetry API's tracers return. The
# native span itself (no Python object around it), registered as an OpenTelemetry ``Span`` so
# that the API and its instrumentations take it for one.
Span = _native.Span
otel_trace.Span.register(Span)


def _context_of(ctx: otel_context.Context | None) -> _native.Context:
    # The current context read once, its two keys straight from it (a Context is a dict): what
    # get_value and get_current_span do, four Python calls fewer per span.
    if ctx is None:
        ctx = _get_current()
    base = cast(_native.Context, ctx.get(_CX_KEY) or _ROOT)
    span = ctx.get(_SPAN_KEY)
    if isinstance(span, Span):
        return base.with_parent_of(span.context())
    if not isinstance(span, otel_trace.Span):
        return base  # no span, or not one (get_current_span's INVALID_SPAN)
    sc = span.get_span_context()
    if not sc.is_valid:
        return base
    trace_id, span_id = format(sc.trace_id, "032x"), format(sc.span_id, "016x")
    if base.trace_id == trace_id and base.span_id == span_id:
        # The parent crosstrace extracted (through CrosstracePropagator): its tracestate as
        # received, which OpenTelemetry's TraceState may not hold whole.
        return base
    return base.with_remote_parent(
        trace_id,
        span_id,
        sc.trace_flags.sampled,
        int(sc.trace_flags),
        sc.trace_state.to_header() or None,
    )


try:  # the OpenTelemetry API's own key/value check (private; absent: let TraceState check)
    from opentelemetry.trace.span import _is_valid_pair
except ImportError:  # pragma: no cover

    def _is_valid_pair(key: str, value: str) -> bool:
        return True


def _otel_trace_state(header: str | None) -> otel_trace.TraceState:
    """OpenTelemetry's TraceState of a tracestate crosstrace validated: every member its older
    key grammar accepts (crosstrace itself passes the header on whole)."""
    if not header:
        return otel_trace.TraceState()
    pairs: dict[str, str] = {}
    for member in header.split(","):
        key, value = member.split("=", 1)
        if key not in pairs and _is_valid_pair(key, value):
            pairs[key] = value  # the first of duplicate keys (TraceState holds one of each)
    return otel_trace.TraceState(list(pairs.items()))


def current_context() -> _native.Context:
    """The context of the running task or thread."""
    return _context_of(None)


def get_current_span() -> Span | None:
    """The crosstrace span of the running task or thread, if any."""
    span = otel_trace.get_current_span()
    return span if isinstance(span, Span) else None


@contextlib.contextmanager
def use_context(context: _native.Context) -> Iterator[_native.Context]:
    """Makes ``context`` (e.g. from ``extract``) current for the block."""
    ctx = otel_trace.set_span_in_context(otel_trace.INVALID_SPAN)
    token = otel_context.attach(otel_context.set_value(_CX_KEY, context, ctx))
    try:
        yield context
    finally:
        otel_context.detach(token)


class _activate:  # noqa: N801 (used like the context-manager function it replaces)
    """Makes ``span`` current for a block, records an exception escaping it, ends it. A class,
    not a generator-based context manager: entering and leaving cost a fraction."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span | None) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> Span | None:
        span = self._span
        if span is not None:  # None: untraced (a decorator could not start its span)
            self._token = _attach_span(span)
        return span

    def __exit__(self, _type: object, e: BaseException | None, _tb: object) -> None:
        span, token = self._span, self._token
        self._span = self._token = None  # (create_span may be entered again afterwards)
        if span is None:
            return
        try:
            # An Exception, as the API's use_span: not GeneratorExit, KeyboardInterrupt,
            # SystemExit or asyncio's CancelledError (a cancelled task is no failure).
            if isinstance(e, Exception):
                span.record_exception(e)
        finally:
            _detach(token)
            span.end()


def _start_span_in_python(
    name: str,
    attributes: Mapping[str, Any] | None,
    kind: str,
    parent: _native.Context | Span | None,
    start_time: int | None,
) -> Span:
    """``start_span`` where its native part does not start the span itself: an explicit
    parent, a start time, or another tracer's current span (the API's NonRecordingSpan, say).
    The parent is derived here, in Python, and the span started under it."""
    if isinstance(parent, Span):
        parent = parent.context()
    elif parent is None:
        parent = _context_of(None)
    return _native.start_span_under(name, parent, kind, attributes, start_time)


class _StepsIn:
    """Awaits ``awaitable`` with each of its steps run in ``ctx``: an async generator's body
    sees its own context, and its caller never does."""

    __slots__ = ("_ctx", "_it")

    def __init__(self, ctx: contextvars.Context, awaitable: Any) -> None:
        self._ctx = ctx
        self._it = awaitable.__await__()

    def __await__(self) -> Any:
        run, it = self._ctx.run, self._it
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                out = run(it.throw, error) if error is not None else run(it.send, value)
            except StopIteration as stop:
                return stop.value
            try:
                value, error = (yield out), None
            except BaseException as e:  # noqa: BLE001 (handed to the awaited step)
                value, error = None, e


def _enter_in_copy(
    block: Callable[[], Any], func: Callable[..., Any], args: Any, kwargs: Any
) -> tuple[contextvars.Context, Any, Any]:
    """The start of a wrapped (async) generator: a copy of the current context, the block
    ``block()`` entered in it, and the generator ``func(*args, **kwargs)`` made in it (the
    block left with the error if that fails)."""
    ctx = contextvars.copy_context()
    cm = block()
    ctx.run(cm.__enter__)
    try:
        return ctx, cm, ctx.run(func, *args, **kwargs)
    except BaseException as e:
        ctx.run(cm.__exit__, type(e), e, e.__traceback__)
        raise


def _wrap_coroutine(func: Callable[..., Any], block: Callable[[], Any]) -> Callable[..., Any]:
    """A coroutine function whose every call runs in a block of its own (``block()``), the
    awaited body included."""

    @functools.wraps(func)
    async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
        with block():
            return await func(*args, **kwargs)

    return async_wrapper


def _wrap_generator(func: Callable[..., Any], block: Callable[[], Any]) -> Callable[..., Any]:
    """A generator function whose every generator runs in a span of its own (``block()``, a
    context manager, entered at the first step and left at the last). The span is current
    while the generator's body runs, not in its caller between steps: the body runs in a copy
    of the context it was started in."""

    @functools.wraps(func)
    def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx, cm, gen = _enter_in_copy(block, func, args, kwargs)
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                item = ctx.run(gen.throw, error) if error is not None else ctx.run(gen.send, value)
            except StopIteration as stop:
                ctx.run(cm.__exit__, None, None, None)
                return stop.value
            except BaseException as e:
                ctx.run(cm.__exit__, type(e), e, e.__traceback__)
                raise
            try:
                value, error = (yield item), None
            except GeneratorExit:
                # Closed early (or collected): the body is closed in its context; no error.
                try:
                    ctx.run(gen.close)
                finally:
                    ctx.run(cm.__exit__, None, None, None)
                raise
            except BaseException as e:  # noqa: BLE001 (thrown into the body)
                value, error = None, e

    return gen_wrapper


def _wrap_async_generator(func: Callable[..., Any], block: Callable[[], Any]) -> Callable[..., Any]:
    """As ``_wrap_generator``, for an async generator function."""

    @functools.wraps(func)
    async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx, cm, agen = _enter_in_copy(block, func, args, kwargs)
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = agen.athrow(error) if error is not None else agen.asend(value)
                item = await _StepsIn(ctx, step)
            except StopAsyncIteration:
                ctx.run(cm.__exit__, None, None, None)
                return
            except BaseException as e:
                ctx.run(cm.__exit__, type(e), e, e.__traceback__)
                raise
            try:
                value, error = (yield item), None
            except GeneratorExit:
                try:
                    await _StepsIn(ctx, agen.aclose())
                finally:
                    ctx.run(cm.__exit__, None, None, None)
                raise
            except BaseException as e:  # noqa: BLE001 (thrown into the body)
                value, error = None, e

    return agen_wrapper


def _decorate_block(block: Any, func: Callable[..., Any]) -> Callable[..., Any]:
    """``create_span`` as a decorator: each call in a block of its own (``_recreate_cm``); a
    coroutine function's awaited body, and a generator's steps, included."""
    if inspect.isasyncgenfunction(func):
        return _wrap_async_generator(func, block._recreate_cm)
    if inspect.iscoroutinefunction(func):
        return _wrap_coroutine(func, block._recreate_cm)
    if inspect.isgeneratorfunction(func):
        return _wrap_generator(func, block._recreate_cm)
    return contextlib.ContextDecorator.__call__(block, func)  # type: ignore[arg-type]


# Starts a span (not made current): in one native call for the common case (under the current
# crosstrace span or none, now), else through _start_span_in_python. With the API's own
# contextvars runtime (contexts never change once made), the parent derived from a context
# object is kept for the next span under the same object.
_native.set_context_keys(
    _CX_KEY,
    _SPAN_KEY,
    otel_trace.INVALID_SPAN,
    _get_current,
    _start_span_in_python,
    _CURRENT_VAR is not None,
    _CURRENT_VAR,
    otel_context.Context,
    _attach_span,
    _detach,
    _decorate_block,
)
start_span = _native.start_span
_call_traced = _native.call_traced
_call_in_span = _native.call_in_span


# A span that is current inside a with-block: native (see `_native.create_span`); also a
# decorator (a new span per call).
create_span = _native.create_span


def set_span_attribute(key: str, value: Any) -> None:
    """Sets an attribute on the current span (no-op without one)."""
    span = get_current_span()
    if span is not None:
        span.set_attribute(key, value)


def set_span_status(status: str, description: str | None = None) -> None:
    """Sets the status ("ok" / "error") of the current span (no-op without one)."""
    span = get_current_span()
    if span is not None:
        span.set_status(status, description)


def _decorate(start_traced: Callable[[Callable[..., Any]], Span]) -> Callable[[F], F]:
    """Wraps sync and async functions and (async) generators so each call runs in a span. The
    decorators never raise their own errors into user code: if a span cannot be started, the
    function runs untraced."""

    def start(func: Callable[..., Any]) -> Span | None:
        try:
            return start_traced(func)
        except Exception:  # noqa: BLE001 (tracing must not break the traced function)
            return None

    def decorator(func: F) -> F:
        if inspect.isasyncgenfunction(func):
            return _wrap_async_generator(func, lambda: _activate(start(func)))  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):
            return _wrap_coroutine(func, lambda: _activate(start(func)))  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(func, lambda: _activate(start(func)))  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # What `with _activate(start(func))` does, natively: the common decorated call.
            span = start(func)
            if span is None:
                return func(*args, **kwargs)
            return _call_in_span(span, func, args, kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def trace_function(name: str | Callable[..., Any] | None = None, kind: str = "internal") -> Any:
    """Traces every call of a function (sync, async or generator) in a span named ``name`` (the
    function's qualified name by default). Usable bare (``@trace_function``) or called."""
    if callable(name):
        return trace_function()(name)

    def start(func: Callable[..., Any]) -> Span:
        return start_span(name or func.__qualname__, kind=kind)

    others = _decorate(start)

    def decorator(func: F) -> F:
        span_name = name or getattr(func, "__qualname__", None)
        if (
            inspect.isasyncgenfunction(func)
            or inspect.iscoroutinefunction(func)
            or inspect.isgeneratorfunction(func)
            # A name or kind the native call cannot take (a callable without `__qualname__`,
            # an enum for the kind): the Python wrapper, whose span then fails to start and
            # leaves each call untraced, as ever.
            or not isinstance(span_name, str)
            or not isinstance(kind, str)
        ):
            return others(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # The span started, made current, the call, the exception recorded, the span
            # ended: one native call (what `_decorate`'s wrapper does, without its frames).
            return _call_traced(span_name, kind, func, args, kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def trace_async_function(name: str | None = None, kind: str = "internal") -> Callable[[F], F]:
    """``trace_function`` for coroutine functions (the specification's name for it)."""
    return trace_function(name, kind)


def trace_etl_operation(name: str, stage: str = "unknown") -> Callable[[F], F]:
    """Traces an ETL step (sync or async): a span named ``name`` with ``etl.operation`` and
    ``etl.stage``; record counts with ``set_etl_records``."""

    def start(func: Callable[..., Any]) -> Span:
        return _native.start_etl_span(name, stage, current_context())

    return _decorate(start)


def trace_database_operation(
    operation: str, table: str, system: str = "postgresql"
) -> Callable[[F], F]:
    """Traces a database call: a client span ``"{OPERATION} {table}"`` with ``db.system.name``,
    ``db.operation.name`` and ``db.collection.name``."""

    def start(func: Callable[..., Any]) -> Span:
        op = operation.upper()
        return _native.start_db_span(system, op, table, current_context())

    return _decorate(start)


def set_etl_records(
    input: int | None = None, output: int | None = None, rejected: int | None = None
) -> None:
    """Records ETL record counts on the current span."""
    span = get_current_span()
    if span is not None:
        _native.set_etl_records(span, input, output, rejected)


class CorrelationContext:
    """What ``correlation_context`` yields."""

    def __init__(self, context: _native.Context) -> None:
        self._context = context
        data = json.loads(context.correlation() or "null") or {}
        self.correlation_id: str = data.get("id", "")
        self.user_id: str | None = data.get("user_id")
        self.operation: str | None = data.get("operation")
        self.fields: dict[str, str] = data.get("fields", {})


@contextlib.contextmanager
def correlation_context(
    correlation_id: str | None = None,
    user_id: str | None = None,
    operation: str | None = None,
    **fields: Any,
) -> Iterator[CorrelationContext]:
    """A correlation context for the block: spans started inside carry ``correlation.id``
    (a UUID v4 when none is given) and the other fields; injected headers carry them on.
    Nesting restores the outer context on exit."""
    context = current_context().with_correlation(
        correlation_id, user_id, operation, [(k, str(v)) for k, v in fields.items()]
    )
    # The parent span stays what it is; only baggage and correlation change.
    token = otel_context.attach(otel_context.set_value(_CX_KEY, context))
    try:
        yield CorrelationContext(context)
    finally:
        otel_context.detach(token)


def get_correlation_id() -> str | None:
    """The current correlation id, or None."""
    return current_context().correlation_id


_H = TypeVar("_H")


@overload
def inject(headers: None = None, context: Any = None) -> dict[str, str]: ...
@overload
def inject(headers: _H, context: Any = None) -> _H: ...
def inject(headers: Any = None, context: Any = None) -> Any:
    """Writes the propagation headers of ``context`` (default: current) into ``headers`` and
    returns it: a ``dict`` (a new one when ``None``) or any mutable mapping (Starlette's
    ``MutableHeaders``, requests' and httpx's headers), each header set; or a list of pairs
    (raw ASGI headers), each header's earlier lines replaced by one (``bytes`` when the list's
    names are)."""
    if isinstance(context, Span):
        context = context.context()
    lines = _native.inject(context if context is not None else current_context())
    if headers is None:
        return dict(lines)
    if isinstance(headers, list):
        as_bytes = any(isinstance(item[0], bytes) for item in headers[:1])
        names = {name for name, _ in lines}
        headers[:] = [
            item
            for item in headers
            if (item[0].decode("latin-1") if isinstance(item[0], bytes) else item[0]).lower()
            not in names
        ]
        for name, value in lines:
            headers.append((name.encode(), value.encode()) if as_bytes else (name, value))
        return headers
    for name, value in lines:
        headers[name] = value
    return headers


def _header_lines(headers: Any) -> Iterator[tuple[Any, Any]]:
    """Every header line of ``headers``, in order, whatever its shape: httpx's ``Headers``
    (``multi_items``), a mapping or anything with ``items()`` (``dict``, ``email.message.Message``
    and ``http.client.HTTPMessage``, which keep repeated lines; requests', Starlette's and
    aiohttp's headers), or an iterable of pairs (raw ASGI ``scope["headers"]``). A value that is
    a list (the OpenTelemetry getter's shape) gives one line per element. Names and values may
    be ``str`` or ``bytes``."""
    multi = getattr(headers, "multi_items", None)
    if callable(multi):
        items = multi()
    elif hasattr(headers, "items"):
        items = headers.items()
    else:
        items = headers
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(value, (list, tuple)):
            for one in value:
                yield name, one
        else:
            yield name, value


def extract(headers: Mapping[str, str] | Any) -> _native.Context:
    """Reads a context from headers: a mapping, a headers object of any common library, or an
    iterable of (name, value) pairs, ``str`` or ``bytes`` (see ``_header_lines``). A header
    received on several lines keeps all of them. Bad headers give an empty context, never an
    error."""
    return _native.extract(_header_lines(headers))


def bind_context(func: Callable[..., Any]) -> Callable[..., Any]:
    """Returns ``func`` bound to the current context (span and correlation), for running it in
    a thread or an executor: ``executor.submit(bind_context(work), arg)``."""
    captured = contextvars.copy_context()

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        return captured.copy().run(func, *args, **kwargs)

    return run


def get_instrumentation_status() -> dict[str, Any]:
    """Which library instrumentations are active, and why the others are not."""
    from . import instrumentation

    return instrumentation.status()


def get_tracing_health() -> dict[str, Any]:
    """The health report (the specification's field names) and the instrumentation status."""
    health: dict[str, Any] = json.loads(_native.health())
    health["current_instrumentation"] = get_instrumentation_status()
    return health


PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_text() -> str:
    """The span-derived metrics (every span, sampled or not) in the Prometheus text format:
    with ``metrics_dir`` (``CROSSTRACE_METRICS_DIR``), those of every process sharing it (the
    workers of a uvicorn or gunicorn server), else this process's:
    ``traces_total``, the ``duration`` histogram in ms, ``duration_quantile``, the sampling
    gauges. Empty when metrics are off (``CROSSTRACE_METRICS=false``)."""
    return _native.metrics_text()


class Tracer:
    """What ``get_tracer`` returns."""

    def __init__(self, name: str) -> None:
        self.name = name

    def start_span(self, name: str, **kwargs: Any) -> Span:
        return start_span(name, **kwargs)

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, **kwargs: Any) -> Iterator[Span]:
        with create_span(name, **kwargs) as span:
            yield span

    def record_exception(self, exception: BaseException) -> None:
        """Records ``exception`` on the current span (as the specification's example does)."""
        span = get_current_span()
        if span is not None:
            span.record_exception(exception)


def get_tracer(name: str = "crosstrace") -> Tracer:
    """A tracer (spans from every tracer share the one core pipeline)."""
    return Tracer(name)


__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "ConfigError",
    "bind_context",
    "CorrelationContext",
    "Span",
    "Tracer",
    "TracingBackend",
    "TracingConfig",
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
    "inject",
    "metrics_text",
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
