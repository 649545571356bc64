"""The specification's Python API over the Rust core, as users rely on it."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import inspect
import json
import os
import pathlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import propagate
from opentelemetry import trace as otel_trace

import crosstrace
from conftest import Collector, attrs
from crosstrace import startup

VECTORS = pathlib.Path(__file__).parents[2] / "tests" / "vectors"


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


# --------------------------------------------------------------------------- shared vectors


def test_vectors_config_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    for case in load("config_env.json")["cases"] + load("config_bounds.json")["cases"]:
        for var in list(os.environ):
            if var.startswith(("OTEL_", "CROSSTRACE_")) or var == "ENVIRONMENT":
                monkeypatch.delenv(var)
        for k, v in case["env"].items():
            monkeypatch.setenv(k, v)
        if "expect" in case:
            got = json.loads(crosstrace.TracingConfig.from_env().to_json())
            for k, want in case["expect"].items():
                assert got[k] == want, (case["name"], k)
        else:
            with pytest.raises(crosstrace.ConfigError) as e:
                crosstrace.TracingConfig.from_env()
            assert case["error"]["variable"] in str(e.value), case["name"]
            assert case["error"]["value"] in str(e.value), case["name"]
            assert case["error"].get("expected_contains", "") in str(e.value), case["name"]


def _native_value(v: object) -> object:
    """The vectors' stand-ins for what JSON cannot hold, as Python values."""
    if v == "NaN":
        return float("nan")
    if v == "inf":
        return float("inf")
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return v


def test_vectors_config_fields() -> None:
    for case in load("config_fields.json")["cases"]:
        kwargs: dict[str, Any] = {k: _native_value(v) for k, v in case["config"].items()}
        if "expect" in case:
            config = crosstrace.TracingConfig(**kwargs)
            for k, want in case["expect"].items():
                assert getattr(config, k) == want, case["name"]
        else:
            # Refused when the config is made, naming the field, the value and the bound.
            with pytest.raises(crosstrace.ConfigError) as e:
                crosstrace.TracingConfig(**kwargs)
            err = case["error"]
            for part in (err["field"], err["value"], err["expected_contains"]):
                assert part in str(e.value), (case["name"], str(e.value))


def test_every_config_default_is_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """TracingConfig's defaults are the core's TracingConfig::default(), as the native module
    reports it, field for field: a field the core adds or a default it changes shows here."""
    core = json.loads(crosstrace._native.config_defaults())
    fields = {f.name: f for f in dataclasses.fields(crosstrace.TracingConfig)}
    assert set(fields) == set(core)
    config = crosstrace.TracingConfig()
    for name, want in core.items():
        got = getattr(config, name)
        got = got.value if isinstance(got, enum.Enum) else got
        assert got == want, name
        assert type(got) is type(want), name
    # Mutable defaults are the dataclass's own copies, one per config.
    other = crosstrace.TracingConfig()
    for name in ("headers", "resource_attributes", "propagators", "metrics_buckets_ms"):
        assert getattr(config, name) is not getattr(other, name), name
    # The same through the core: the defaults normalise to themselves, and an environment
    # with nothing set reads as them.
    assert json.loads(config.to_json()) == json.loads(
        crosstrace._native.config_normalize(json.dumps(core))
    )
    for var in list(os.environ):
        if var.startswith(("OTEL_", "CROSSTRACE_")) or var == "ENVIRONMENT":
            monkeypatch.delenv(var)
    assert crosstrace.TracingConfig.from_env() == config


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0, 1e300])
def test_flush_and_shutdown_refuse_a_bad_timeout(timeout: float) -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    for call in (crosstrace.force_flush, crosstrace._native.shutdown):
        with pytest.raises(crosstrace.InvalidArgumentError, match="timeout"):
            call(timeout)


def test_a_refused_shutdown_timeout_leaves_tracing_running(traced: Collector) -> None:
    """`shutdown_tracing` with a bad timeout raises and stops nothing: the spans queued are
    still exported by a later shutdown."""
    crosstrace.start_span("queued").end()
    with pytest.raises(crosstrace.InvalidArgumentError, match="timeout"):
        crosstrace.shutdown_tracing(7200)
    crosstrace.start_span("after the refusal").end()
    assert crosstrace.shutdown_tracing() == 0
    assert set(traced.by_name()) == {"queued", "after the refusal"}


def test_vectors_propagation() -> None:
    for case in load("propagation_extract.json")["cases"]:
        props = case["propagators"]
        crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none", propagators=props))
        got = json.loads(crosstrace.extract(case["headers"]).to_json())
        want = case["expect"]
        if want["span"] is None:
            assert got["span"] is None, case["name"]
        else:
            for k, v in want["span"].items():
                assert got["span"][k] == v, (case["name"], k)
        if "baggage" in want:
            assert got["baggage"] == want["baggage"], case["name"]
        if "correlation" in want:
            assert got["correlation"] == want["correlation"], case["name"]
    for case in load("propagation_inject.json")["cases"]:
        props = case["propagators"]
        crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none", propagators=props))
        cx = crosstrace.Context.from_json(json.dumps(case["context"]))
        assert crosstrace.inject({}, cx) == case["expect_headers"], case["name"]


def test_vectors_error_kinds() -> None:
    import builtins

    for kind in load("error_kinds.json")["kinds"]:
        cls = getattr(crosstrace, kind["python_class"])
        assert issubclass(cls, crosstrace.CrosstraceError)
        assert issubclass(cls, Exception)
        # Shown as the package's, and never named like a builtin it would shadow.
        assert (cls.__module__, cls.__qualname__) == ("crosstrace", kind["python_class"])
        assert not hasattr(builtins, kind["python_class"]), kind["python_class"]
        assert cls.__name__ in crosstrace.__all__


def test_errors_are_also_the_builtin_errors_they_mean() -> None:
    assert issubclass(crosstrace.ConfigError, ValueError)
    assert issubclass(crosstrace.CrosstraceTimeoutError, TimeoutError)
    assert repr(crosstrace.ConfigError("x")) == "ConfigError('x')"
    with pytest.raises(ValueError, match="sampling_rate") as e:
        crosstrace.TracingConfig(sampling_rate=2.0)
    assert type(e.value) is crosstrace.ConfigError
    assert isinstance(e.value, crosstrace.CrosstraceError)
    assert f"{type(e.value).__module__}.{type(e.value).__qualname__}" == "crosstrace.ConfigError"
    # A backend that takes the connection and never answers: the flush runs out of time.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        crosstrace.setup_tracing(
            crosstrace.TracingConfig(
                backend="otlp",
                endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}/v1/traces",
                otlp_protocol="http/protobuf",
                export_timeout_seconds=1,
                export_attempt_timeout_seconds=1,
            )
        )
        crosstrace.start_span("never.answered").end()
        with pytest.raises(TimeoutError) as t:
            crosstrace.force_flush(0.1)
        assert type(t.value) is crosstrace.CrosstraceTimeoutError
        crosstrace.shutdown_tracing(0.1)


def test_force_flush_says_whether_the_spans_were_exported(traced: Collector) -> None:
    """A flush whose spans the backend refused returns False (the spans are lost: health says
    why), not None as if they had arrived; it does not raise. The OpenTelemetry API provider's
    ``force_flush`` answers the same, as the SDK's does."""
    from crosstrace.otel import PROVIDER

    crosstrace.start_span("accepted").end()
    assert crosstrace.force_flush() is True
    traced.status = 400
    crosstrace.start_span("refused").end()
    assert crosstrace.force_flush() is False
    health = crosstrace.get_tracing_health()
    assert health["spans_export_failed"] == 1
    assert health["last_export_error"]["kind"] == "http_400"
    crosstrace.start_span("refused.too").end()
    assert PROVIDER.force_flush(10_000) is False
    traced.status = 200
    crosstrace.start_span("accepted.again").end()
    assert PROVIDER.force_flush() is True
    assert sorted(traced.by_name()) == ["accepted", "accepted.again", "refused", "refused.too"]


def test_the_otel_providers_shutdown_exports_then_stops(traced: Collector) -> None:
    """``TracerProvider.shutdown()`` (called by code written for the SDK) exports what is
    queued and stops tracing: a later span is counted, not exported."""
    from crosstrace.otel import PROVIDER

    crosstrace.start_span("before.shutdown").end()
    PROVIDER.shutdown()
    assert list(traced.by_name()) == ["before.shutdown"]
    crosstrace.start_span("after.shutdown").end()
    assert crosstrace.get_tracing_health()["spans_started_after_shutdown"] == 1


def test_star_import_does_not_shadow_the_builtin_timeout_error() -> None:
    import builtins
    import warnings

    names: dict[str, object] = {}
    exec("from crosstrace import *", names)  # noqa: S102
    assert names.get("TimeoutError", builtins.TimeoutError) is builtins.TimeoutError
    assert "TimeoutError" not in crosstrace.__all__
    # The old name still answers, deprecated: the same class, which is a TimeoutError.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = crosstrace.TimeoutError  # type: ignore[attr-defined]
    assert old is crosstrace.CrosstraceTimeoutError
    assert [w.category for w in caught] == [DeprecationWarning]
    with pytest.raises(AttributeError):
        crosstrace.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


# --------------------------------------------------------------------------- configuration


def test_bad_config_raises_config_error_naming_the_field() -> None:
    with pytest.raises(crosstrace.ConfigError, match="sampling_rate"):
        crosstrace.setup_tracing(crosstrace.TracingConfig(sampling_rate=1.5))
    with pytest.raises(crosstrace.ConfigError, match="backend"):
        crosstrace.setup_tracing(crosstrace.TracingConfig(backend="kafka"))
    with pytest.raises(crosstrace.ConfigError):
        crosstrace.TracingConfig(export_max_batch_size=0).to_json()


@pytest.mark.parametrize(
    ("backend", "endpoint"),
    [
        ("jaeger", "http://127.0.0.1:14268/api/traces"),  # Jaeger Thrift
        ("zipkin", "http://127.0.0.1:9411/api/v2/spans"),
        ("otlp", "http://127.0.0.1:4318/v1/traces"),
    ],
)
def test_every_backend_of_the_config_table_sets_up(backend: str, endpoint: str) -> None:
    # The extension is built with the core's optional encoders (Zipkin, Jaeger Thrift): a build
    # without them would refuse these configs at setup.
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(backend=backend, endpoint=endpoint, auto_instrument=False)
    )
    try:
        assert crosstrace.get_tracing_health()["backend"] == backend
    finally:
        crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none", auto_instrument=False))


def test_backend_enum_and_specification_fields() -> None:
    cfg = crosstrace.TracingConfig(
        enabled=True,
        service_name="retail-etl-pipeline",
        service_version="1.0.0",
        environment="production",
        backend=crosstrace.TracingBackend.JAEGER,
        endpoint="http://jaeger:14268/api/traces",
        sampling_rate=0.1,
        export_timeout_seconds=30,
        export_max_batch_size=512,
        auto_instrument=True,
        instrument_db=True,
        instrument_http=True,
        resource_attributes={"service.namespace": "retail-analytics"},
    )
    normalised = json.loads(cfg.to_json())
    assert normalised["backend"] == "jaeger"
    assert normalised["resource_attributes"] == {"service.namespace": "retail-analytics"}


# --------------------------------------------------------------------------- spans


def test_spans_nest_and_arrive_with_parent_links(traced: Collector) -> None:
    @crosstrace.trace_function(name="process_data", kind="internal")
    def process_data(data: list[int]) -> list[int]:
        crosstrace.set_span_attribute("rows", len(data))
        return [x * 2 for x in data]

    with crosstrace.create_span("custom_operation", attributes={"type": "etl"}) as span:
        result = process_data([1, 2, 3])
        span.set_attribute("result.count", len(result))
        crosstrace.set_span_status("ok")
    crosstrace.force_flush()
    spans = traced.by_name()
    op, child = spans["custom_operation"], spans["process_data"]
    assert child.parent_span_id == op.span_id
    assert child.trace_id == op.trace_id
    assert attrs(op) == {"type": "etl", "result.count": 3}
    assert attrs(child) == {"rows": 3}
    assert op.status.code == 1  # STATUS_CODE_OK
    resource = {kv.key: kv.value.string_value for kv in traced.spans()[0][1].attributes}
    assert resource["service.name"] == "py-tests"
    assert resource["telemetry.sdk.name"] == "crosstrace"


def test_decorated_calls_are_current_record_errors_and_bind_methods(traced: Collector) -> None:
    # The sync decorators' calls run natively (`_native.call_traced`, `call_in_span`): the span
    # is current in the call and ends with it, whatever way the call leaves.
    seen: list[str] = []

    class Loader:
        def __init__(self, table: str) -> None:
            self.table = table

        @crosstrace.trace_function(kind="client")
        def load(self, rows: int, *, strict: bool = False) -> str:
            span = crosstrace.get_current_span()
            assert span is not None
            seen.append(span.span_id)
            if strict:
                raise ValueError(f"{rows} rows rejected by {self.table}")
            return f"{self.table}:{rows}"

    @crosstrace.trace_etl_operation("gold_aggregation", stage="gold")
    def aggregate() -> None:
        raise KeyError("region")

    @crosstrace.trace_function(name="interrupted")
    def interrupted() -> None:
        raise KeyboardInterrupt

    @crosstrace.trace_function(name="untraced", kind="sideways")
    def untraced(x: int) -> tuple[int, str | None]:
        # A span that cannot start (an unknown kind): the call runs, untraced.
        current = crosstrace.get_current_span()
        return x * 2, current.span_id if current else None

    loader = Loader("sales")
    with crosstrace.create_span("job") as job:
        assert loader.load(3) == "sales:3"
        with pytest.raises(ValueError, match="3 rows rejected by sales"):
            loader.load(3, strict=True)
        with pytest.raises(KeyError):
            aggregate()
        with pytest.raises(KeyboardInterrupt):
            interrupted()
        assert untraced(21) == (42, job.span_id)
        # Each call let its span go: the block's span is current again.
        current = crosstrace.get_current_span()
        assert current is not None and current.span_id == job.span_id
    crosstrace.force_flush()
    spans = traced.spans()
    loads = [s for s, _ in spans if s.name.endswith("<locals>.Loader.load")]
    assert [s.span_id.hex() for s in loads] == seen
    assert all(s.parent_span_id == bytes.fromhex(job.span_id) for s in loads)
    assert all(s.kind == 3 for s in loads)  # SPAN_KIND_CLIENT
    ok, failed = loads
    assert ok.status.code == 0 and not ok.events
    assert failed.status.code == 2 and failed.events[0].name == "exception"
    gold = traced.by_name()["gold_aggregation"]
    assert gold.status.code == 2
    assert {kv.key: kv.value.string_value for kv in gold.events[0].attributes}[
        "exception.type"
    ] == "KeyError"
    stopped = traced.by_name()["interrupted"]
    assert stopped.status.code == 0 and not stopped.events
    assert "untraced" not in traced.by_name()


def test_start_span_follows_the_current_context_as_it_changes(traced: Collector) -> None:
    # start_span keeps the parent it derived from the last context object it saw: each span
    # here must still get the parent of the context current at its own start.
    crosstrace.start_span("root-1").end()
    with crosstrace.create_span("outer") as outer:
        crosstrace.start_span("under-outer").end()
        with crosstrace.create_span("inner"):
            crosstrace.start_span("under-inner").end()
        crosstrace.start_span("under-outer-again").end()
    crosstrace.start_span("root-2").end()
    with crosstrace.correlation_context(correlation_id="corr-cache-1"):
        crosstrace.start_span("correlated").end()
    crosstrace.start_span("root-3").end()
    # Contexts made and freed one after another (their memory, and so their address, reused):
    # each child still gets the parent of its own context.
    parents = [crosstrace.start_span(f"p{i}") for i in range(20)]
    for i, p in enumerate(parents):
        with otel_trace.use_span(p):
            crosstrace.start_span(f"c{i}").end()
        p.end()
    crosstrace.force_flush()
    spans = traced.by_name()
    assert outer.get_span_context().is_valid
    for name in ("root-1", "root-2", "outer", "correlated"):
        assert spans[name].parent_span_id == b"", name
    for name in ("under-outer", "inner", "under-outer-again"):
        assert spans[name].parent_span_id == spans["outer"].span_id, name
    assert spans["under-inner"].parent_span_id == spans["inner"].span_id
    assert spans["root-1"].trace_id != spans["root-2"].trace_id
    assert attrs(spans["correlated"]).get("correlation.id") == "corr-cache-1"
    assert "correlation.id" not in attrs(spans["root-2"])
    assert spans["root-3"].parent_span_id == b""
    assert "correlation.id" not in attrs(spans["root-3"])
    for i in range(20):
        assert spans[f"c{i}"].parent_span_id == spans[f"p{i}"].span_id, i


def test_spans_go_to_the_instance_set_up_last(traced: Collector) -> None:
    # The same (top-level) context before and after another thread's setup_tracing replaces
    # the instance: the span after it must reach the new instance, not the one this thread's
    # start_span kept beside the context it saw last.
    crosstrace.start_span("before-setup").end()
    crosstrace.force_flush()
    second = Collector()
    try:
        config = crosstrace.TracingConfig(
            service_name="py-tests-2",
            backend="otlp",
            endpoint=second.url,
            otlp_protocol="http/protobuf",
            schedule_delay_millis=60_000,
        )
        setup = threading.Thread(target=crosstrace.setup_tracing, args=(config,))
        setup.start()
        setup.join()
        crosstrace.start_span("after-setup").end()
        crosstrace.force_flush()
        assert "after-setup" in second.by_name()
        assert "after-setup" not in traced.by_name()
        assert "before-setup" in traced.by_name()
    finally:
        second.server.shutdown()


def test_exceptions_are_recorded_and_reraised_unchanged(traced: Collector) -> None:
    err = ValueError("bad price")

    @crosstrace.trace_etl_operation("silver_transformation", stage="silver")
    def transform() -> None:
        raise err

    with pytest.raises(ValueError) as raised:
        transform()
    assert raised.value is err
    crosstrace.force_flush()
    span = traced.by_name()["silver_transformation"]
    assert attrs(span)["etl.stage"] == "silver"
    assert span.status.code == 2  # STATUS_CODE_ERROR
    assert span.status.message == "bad price"
    event = span.events[0]
    assert event.name == "exception"
    ev = attrs(event)
    assert ev["exception.type"] == "ValueError"
    assert "Traceback" in ev["exception.stacktrace"]


def test_a_span_is_an_opentelemetry_span(traced: Collector) -> None:
    """The native span is what instrumentations get from the API: its whole Span interface."""
    import types

    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = otel_trace.get_tracer("test")
    span = tracer.start_span("first", kind=SpanKind.SERVER)
    assert isinstance(span, otel_trace.Span)
    assert span.kind is SpanKind.SERVER and span.name == "first"
    span.update_name("renamed")
    assert span.name == "renamed"
    sc = span.get_span_context()
    assert (format(sc.trace_id, "032x"), format(sc.span_id, "016x")) == (
        span.trace_id,
        span.span_id,
    )
    assert sc.trace_flags.sampled and not sc.is_remote
    span.set_attributes(types.MappingProxyType({"a": 1, "b": "two"}))
    span.add_event("at", {"k": True}, timestamp=1_700_000_000_000_000_000)
    span.add_link(sc, {"why": "after start"})
    span.set_status(Status(StatusCode.ERROR, "from Status"))
    with span:  # ends it, as the API's spans do
        assert span.is_recording()
    assert not span.is_recording()
    other = tracer.start_span("second")
    other.set_status(StatusCode.OK)
    try:
        raise KeyError("missing")
    except KeyError as e:
        other.record_exception(e)
    end = time.time_ns() + 1_000_000_000
    other.end(end_time=end)
    with pytest.raises(TypeError, match="status"):
        other.set_status(3.5)
    with pytest.raises(TypeError, match="status"):  # has a status_code, is no Status
        other.set_status(types.SimpleNamespace(status_code=StatusCode.OK, name="OK"))
    # No attributes of its own (no per-span __dict__, which Python 3.11 would allocate for
    # every span): span data goes through set_attribute, and a stray assignment says so.
    with pytest.raises(AttributeError, match="note"):
        other.note = "kept elsewhere"
    crosstrace.force_flush()
    got = traced.by_name()
    first, second = got["renamed"], got["second"]
    assert attrs(first) == {"a": 1, "b": "two"}
    assert first.events[0].name == "at"
    assert first.events[0].time_unix_nano == 1_700_000_000_000_000_000
    assert [(link.span_id, attrs(link)) for link in first.links] == [
        (sc.span_id.to_bytes(8, "big"), {"why": "after start"})
    ]
    assert (first.status.code, first.status.message) == (2, "from Status")
    assert second.status.code == 1  # OK, not overwritten by the exception event
    assert second.end_time_unix_nano == end
    ev = attrs(second.events[0])
    assert ev["exception.type"] == "KeyError" and "Traceback" in ev["exception.stacktrace"]


class PaymentDeclined(Exception):
    """An exception outside builtins: its type is recorded with its module."""


def test_record_exception_takes_attributes_timestamp_and_escaped(traced: Collector) -> None:
    """``record_exception``'s optional arguments reach the event as opentelemetry-sdk's do:
    ``attributes`` added (replacing the exception's own by key), ``timestamp`` as its time,
    ``escaped`` as ``exception.escaped``; the type is module-qualified outside builtins."""
    span = crosstrace.start_span("charge")
    try:
        raise PaymentDeclined("card declined")
    except PaymentDeclined as e:
        span.record_exception(
            e,
            attributes={"retry": 1, "exception.message": "declined (redacted)"},
            timestamp=1_700_000_000_000_000_000,
            escaped=True,
        )
    span.end()
    crosstrace.force_flush()
    charge = traced.by_name()["charge"]
    event = charge.events[0]
    assert event.name == "exception" and event.time_unix_nano == 1_700_000_000_000_000_000
    ev = attrs(event)
    assert ev["exception.type"] == f"{__name__}.PaymentDeclined"
    assert ev["exception.message"] == "declined (redacted)"
    assert ev["retry"] == 1 and ev["exception.escaped"] is True
    assert [a.key for a in event.attributes].count("exception.message") == 1
    assert charge.status.code == 2


def test_spans_under_another_tracers_span_continue_its_trace() -> None:
    """start_span's native path hands spans under a foreign current span to the Python path."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    remote = SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(1)
    )
    with otel_trace.use_span(NonRecordingSpan(remote)):
        span = crosstrace.start_span("under.foreign")
        with crosstrace.create_span("block.under.foreign") as block:
            child = crosstrace.start_span("child.of.block")
    assert span.trace_id == block.trace_id == child.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert crosstrace.inject(context=span)["traceparent"].startswith(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-"
    )
    for s in (span, child):
        s.end()
    with pytest.raises(TypeError):
        crosstrace.start_span(42)  # type: ignore[arg-type]


def test_decorators_keep_signature_name_doc_and_kind() -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))

    @crosstrace.trace_function()
    def sync(a: int, b: str = "x") -> str:
        """Sync doc."""
        return f"{a}{b}"

    @crosstrace.trace_async_function(name="fetch", kind="client")
    async def fetch(url: str) -> int:
        """Async doc."""
        await asyncio.sleep(0)
        return len(url)

    @crosstrace.trace_function
    def gen(n: int):
        yield from range(n)

    @crosstrace.trace_function
    async def agen(n: int):
        for i in range(n):
            yield i

    async def collect() -> list[int]:
        return [i async for i in agen(3)]

    @crosstrace.trace_database_operation("insert", "sales_transactions")
    async def insert(rows: list[int]) -> int:
        return len(rows)

    assert sync.__name__ == "sync" and sync.__doc__ == "Sync doc."
    assert str(inspect.signature(sync)) == "(a: 'int', b: 'str' = 'x') -> 'str'"
    assert inspect.iscoroutinefunction(fetch) and fetch.__doc__ == "Async doc."
    assert inspect.iscoroutinefunction(insert)
    assert inspect.isgeneratorfunction(gen)
    assert sync(1) == "1x"
    assert asyncio.run(fetch("abc")) == 3
    assert list(gen(3)) == [0, 1, 2]
    assert inspect.isasyncgenfunction(agen)
    assert asyncio.run(collect()) == [0, 1, 2]
    assert asyncio.run(insert([1, 2])) == 2


def test_a_decorated_generator_is_current_only_while_its_body_runs(traced: Collector) -> None:
    """A traced generator's span covers its steps and is its body's parent, but is not current
    in the caller between steps: two interleaved generators never leave an ended span current,
    and one abandoned early ends its span without an error. Async generators alike."""
    seen: list[str | None] = []

    def current() -> str | None:
        span = crosstrace.get_current_span()
        return span.name if span is not None else None

    @crosstrace.trace_function
    def a():
        seen.append(current())
        yield 1
        seen.append(current())
        yield 2

    @crosstrace.trace_function
    def b():
        yield 1
        yield 2
        yield 3

    for _ in a():
        assert current() is None, "the generator's span leaked into its caller"
    for _ in zip(a(), b(), strict=False):
        pass
    assert current() is None
    assert all(name is not None and name.endswith(".a") for name in seen), seen
    early = a()
    next(early)
    early.close()

    @crosstrace.trace_function
    async def ag():
        seen.append(current())
        yield 1
        yield 2

    async def main() -> list[str | None]:
        outside = []
        async for _ in ag():
            outside.append(current())
            break
        await asyncio.sleep(0)
        return [*outside, current()]

    with crosstrace.create_span("caller"):
        # The caller's own span stays current around and after the abandoned async generator.
        assert asyncio.run(main()) == ["caller", "caller"]
    crosstrace.force_flush()
    spans = [s for s, _ in traced.spans() if s.name.endswith((".a", ".b", ".ag"))]
    assert len(spans) == 5, [s.name for s in spans]  # a three times, b, ag
    assert all(s.status.code == 0 for s in spans), "closing a generator early is no error"


def test_create_span_decorates_coroutines_and_generators(traced: Collector) -> None:
    """``@create_span`` on ``async def`` covers the awaited body (the span is current in it, and
    ends after it); on a generator function it covers the steps. A cancelled task is not an
    error."""

    @crosstrace.create_span("awaited")
    async def work() -> str | None:
        await asyncio.sleep(0.01)
        span = crosstrace.get_current_span()
        return span.name if span is not None else None

    @crosstrace.create_span("stepped")
    def steps():
        span = crosstrace.get_current_span()
        yield span.name if span is not None else None

    assert asyncio.run(work()) == "awaited"
    assert list(steps()) == ["stepped"]

    async def cancelled() -> None:
        async def sleeper() -> None:
            with crosstrace.create_span("cancelled"):
                await asyncio.sleep(10)

        task = asyncio.ensure_future(sleeper())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    crosstrace.force_flush()
    spans = traced.by_name()
    assert spans["awaited"].end_time_unix_nano - spans["awaited"].start_time_unix_nano >= 10_000_000
    assert spans["stepped"].status.code == 0
    assert spans["cancelled"].status.code == 0 and not spans["cancelled"].events


def test_database_and_etl_helpers_use_the_shared_attribute_names(traced: Collector) -> None:
    @crosstrace.trace_database_operation("insert", "sales_transactions")
    def insert() -> None:
        pass

    @crosstrace.trace_etl_operation("bronze_ingestion", stage="bronze")
    async def ingest() -> None:
        crosstrace.set_etl_records(input=10, output=9, rejected=1)
        insert()

    asyncio.run(ingest())
    crosstrace.force_flush()
    spans = traced.by_name()
    db = spans["INSERT sales_transactions"]
    assert db.kind == 3  # SPAN_KIND_CLIENT
    assert attrs(db)["db.system.name"] == "postgresql"
    assert attrs(db)["db.collection.name"] == "sales_transactions"
    etl = attrs(spans["bronze_ingestion"])
    assert etl["etl.operation"] == "bronze_ingestion"
    assert (etl["etl.records.input"], etl["etl.records.output"], etl["etl.records.rejected"]) == (
        10,
        9,
        1,
    )
    assert db.parent_span_id == spans["bronze_ingestion"].span_id


# --------------------------------------------------------------------------- context


def test_asyncio_tasks_never_see_each_others_context() -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    seen: dict[str, list[str | None]] = {}

    async def job(name: str) -> None:
        with crosstrace.correlation_context(correlation_id=f"corr-{name}", job_id=name):
            with crosstrace.create_span(f"task-{name}"):
                seen[name] = []
                for _ in range(5):
                    await asyncio.sleep(0.001)
                    seen[name].append(crosstrace.get_correlation_id())
                    seen[name].append(crosstrace.get_current_span().trace_id)  # type: ignore[union-attr]

    async def main() -> None:
        await asyncio.gather(job("a"), job("b"), job("c"))

    asyncio.run(main())
    for name, values in seen.items():
        assert set(values[0::2]) == {f"corr-{name}"}
        assert len(set(values[1::2])) == 1
    traces = {values[1] for values in seen.values()}
    assert len(traces) == 3
    assert crosstrace.get_correlation_id() is None


def test_correlation_nesting_and_generated_ids() -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    with crosstrace.correlation_context(
        correlation_id="123e4567-e89b-12d3-a456-426614174000",
        user_id="user123",
        operation="data_processing",
    ) as ctx:
        assert ctx.correlation_id == "123e4567-e89b-12d3-a456-426614174000"
        with crosstrace.correlation_context(operation="background_job", job_id="j1") as inner:
            assert len(inner.correlation_id) == 36
            assert crosstrace.get_correlation_id() == inner.correlation_id
            headers = crosstrace.inject()
            assert headers["x-correlation-id"] == inner.correlation_id
            assert "correlation.job_id=j1" in headers["baggage"]
        assert crosstrace.get_correlation_id() == ctx.correlation_id
    with pytest.raises(crosstrace.InvalidArgumentError):
        with crosstrace.correlation_context(correlation_id="not valid\n"):
            pass


def test_context_is_carried_into_threads_and_executors() -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))

    def work() -> tuple[str | None, str | None]:
        span = crosstrace.get_current_span()
        return crosstrace.get_correlation_id(), span.trace_id if span else None

    with crosstrace.correlation_context(correlation_id="thread-1"):
        with crosstrace.create_span("parent") as parent:
            with ThreadPoolExecutor(2) as pool:
                bound = pool.submit(crosstrace.bind_context(work)).result()
                unbound = pool.submit(work).result()
    assert bound == ("thread-1", parent.trace_id)
    assert unbound == (None, None)


def test_extract_inject_round_trip_and_bad_headers() -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    incoming = {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "X-Correlation-ID": "req-42",
    }
    cx = crosstrace.extract(incoming)
    with crosstrace.use_context(cx):
        assert crosstrace.get_correlation_id() == "req-42"
        with crosstrace.create_span("handler", kind="server") as span:
            assert span.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
            out = crosstrace.inject()
            assert out["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    empty = crosstrace.extract({"traceparent": "garbage", "baggage": "x" * 9000})
    assert empty.trace_id is None


def test_a_span_under_an_explicit_parent_brings_that_context_into_its_block() -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    cx = crosstrace.extract(
        {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "X-Correlation-ID": "req-77",
            "baggage": "tenant=acme",
        }
    )
    with crosstrace.correlation_context(correlation_id="outer-1"):
        with crosstrace.create_span("handler", kind="server", parent=cx) as span:
            # The parent's correlation and baggage, not the surrounding block's.
            assert crosstrace.get_correlation_id() == "req-77"
            with crosstrace.create_span("child") as child:
                assert child.trace_id == span.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
                out = crosstrace.inject()
                assert out["traceparent"] == f"00-{span.trace_id}-{child.span_id}-01"
                assert "tenant=acme" in out["baggage"]
                assert out["x-correlation-id"] == "req-77"
        assert crosstrace.get_correlation_id() == "outer-1"
        # Without an explicit parent, a span keeps the surrounding context.
        with crosstrace.create_span("plain") as plain:
            assert crosstrace.get_correlation_id() == "outer-1"
            out = crosstrace.inject()
            # A new trace: sampled, and its id is random (W3C level 2's random flag).
            assert out["traceparent"] == f"00-{plain.trace_id}-{plain.span_id}-03"


# --------------------------------------------------------------------------- robustness


def test_decorators_never_raise_their_own_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from crosstrace import _native

    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))

    def broken(*args: object, **kwargs: object) -> None:
        raise crosstrace.CrosstraceError("tracing is broken")

    @crosstrace.trace_function(name="f")
    def f(x: int) -> int:
        return x + 1

    @crosstrace.trace_async_function(name="g")
    async def g() -> str:
        return "ok"

    @crosstrace.trace_etl_operation("h", stage="gold")
    def h() -> str:
        return "etl ok"

    # A kind the native call cannot take, a callable without a `__qualname__`: decorated, and
    # called untraced.
    @crosstrace.trace_function(kind=otel_trace.SpanKind.CLIENT)  # type: ignore[arg-type]
    def enum_kind() -> str:
        return "enum ok"

    partial = crosstrace.trace_function(functools.partial(lambda x, y: x + y, 40))

    # What the decorators start their spans with, patched where they look it up: `start_span`
    # (async functions), `start_etl_span`, and `start_span_under`, through which a sync
    # function's native call starts its span under another tracer's current span.
    monkeypatch.setattr(crosstrace._api, "start_span", broken)
    monkeypatch.setattr(_native, "start_etl_span", broken)
    monkeypatch.setattr(_native, "start_span_under", broken)
    foreign = otel_trace.NonRecordingSpan(
        otel_trace.SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=otel_trace.TraceFlags(1))
    )
    with otel_trace.use_span(foreign):
        assert f(1) == 2
    assert asyncio.run(g()) == "ok"
    assert h() == "etl ok"
    assert enum_kind() == "enum ok"
    assert partial(2) == 42


def test_wrong_types_raise_type_error_never_crash() -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    with crosstrace.create_span("x") as span:
        # Attributes as the SDK takes them: left out with a warning, never raised.
        span.set_attribute("k", object())
        span.set_attribute(1, "v")  # type: ignore[arg-type]
        warnings = crosstrace.get_tracing_health()["warnings"]
        assert any("its value was object," in w for w in warnings), warnings
        assert any("its key was of type int" in w for w in warnings), warnings
        with pytest.raises(crosstrace.InvalidArgumentError):
            span.set_status("maybe")
    with pytest.raises(crosstrace.InvalidArgumentError, match="kind"):
        crosstrace.start_span("x", kind="sideways")
    with pytest.raises(TypeError, match="attributes: expected a mapping"):
        crosstrace.start_span("x", ["ab"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="start_time"):
        crosstrace.start_span("x", start_time="soon")  # type: ignore[arg-type]
    # Errors are ordinary exceptions, caught by `except Exception`.
    try:
        crosstrace.setup_tracing(crosstrace.TracingConfig(sampling_rate=-1))
    except Exception as e:  # noqa: BLE001 (that is the point)
        assert isinstance(e, crosstrace.ConfigError)


def test_a_rust_panic_is_an_ordinary_exception() -> None:
    from crosstrace import _native

    with pytest.raises(crosstrace.CrosstraceError, match="internal error"):
        _native._debug_panic()
    try:
        _native._debug_panic()
    except Exception:  # noqa: BLE001 (the point: `except Exception` catches it)
        pass
    # The interpreter and tracing go on.
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    assert crosstrace.start_span("after").is_recording()


def test_health_and_startup() -> None:
    health = asyncio.run(
        startup.startup_application(crosstrace.TracingConfig(service_name="api", backend="none"))
    )
    assert health["tracing_enabled"] is True
    assert health["service_name"] == "api"
    assert "instrumented_libraries" in health["current_instrumentation"]
    assert startup.get_tracing_health()["backend"] == "none"


def test_shutdown_is_idempotent_and_later_spans_are_noops(traced: Collector) -> None:
    with crosstrace.create_span("before"):
        pass
    assert crosstrace.shutdown_tracing() == 0
    assert crosstrace.shutdown_tracing() == 0
    span = crosstrace.start_span("after")
    assert not span.is_recording()
    assert [s.name for s, _ in traced.spans()] == ["before"]
    # A flush after the shutdown (a worker forked after it, ending as the docs say) answers
    # that nothing more goes out, as the OpenTelemetry provider's does; it does not raise.
    assert crosstrace.force_flush(1.0) is False


def test_a_forked_child_keeps_exporting(traced: Collector) -> None:
    with crosstrace.create_span("parent-before-fork"):
        pass
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            with crosstrace.create_span("in-child"):
                pass
            crosstrace.force_flush(10)
            # Its span metrics count its own spans, as its health does: summed over a
            # server's workers, the parent's would count once per worker.
            totals = {
                line.split('span_name="')[1].split('"')[0]: line.rsplit(" ", 1)[1]
                for line in crosstrace.metrics_text().splitlines()
                if line.startswith("traces_total{")
            }
            own = totals.get("in-child") == "1" and totals.get("parent-before-fork", "0") == "0"
            code = 0 if own else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with crosstrace.create_span("parent-after-fork"):
        pass
    crosstrace.force_flush()
    deadline = time.time() + 10
    while time.time() < deadline and len(traced.by_name()) < 3:
        time.sleep(0.05)
    assert set(traced.by_name()) == {"parent-before-fork", "in-child", "parent-after-fork"}


def test_forks_while_the_export_thread_is_busy_do_not_hang(traced: Collector) -> None:
    """Forks while another thread makes spans and the export thread exports them: every child
    starts its own pipeline, exports and exits in time (a lock held at the fork by a thread the
    child does not have would hang it)."""
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            for _ in range(200):
                crosstrace.start_span("busy", {"k": "v" * 40}).end()
            crosstrace.force_flush(1)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        for i in range(8):
            time.sleep(0.02)
            pid = os.fork()
            if pid == 0:  # the child
                code = 1
                try:
                    with crosstrace.create_span(f"child-{i}", {"k": "v" * 40}):
                        pass
                    crosstrace.force_flush(10)
                    code = 0
                finally:
                    os._exit(code)
            deadline = time.time() + 20
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.time() > deadline:
                    os.kill(pid, 9)
                    pytest.fail(f"child {i} hung after fork")
                time.sleep(0.02)
            assert os.waitstatus_to_exitcode(status) == 0
    finally:
        stop.set()
        worker.join()
    names = set(traced.by_name())
    assert {f"child-{i}" for i in range(8)} <= names


def test_create_span_is_one_block_at_a_time() -> None:
    """A create_span object runs one block at a time; entered again while in use it says so
    (instead of losing the outer span), and after its block it can be used again."""
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none", auto_instrument=False))
    cs = crosstrace.create_span("reused")
    with cs as first:
        with pytest.raises(RuntimeError, match="already in use"), cs:
            pass
        assert crosstrace.get_current_span() is first
    assert crosstrace.get_current_span() is None
    assert not first.is_recording()
    with cs as second:
        assert second is not first and crosstrace.get_current_span() is second

    @crosstrace.create_span("as-decorator")
    def twice() -> str | None:
        span = crosstrace.get_current_span()
        return span.span_id if span is not None else None

    assert twice() != twice()


def test_create_span_records_what_escapes_its_block(traced: Collector) -> None:
    """An exception escaping a create_span block is recorded (error status, an exception
    event) and re-raised as it was; KeyboardInterrupt is not recorded, and the span still ends
    and stops being current. Arguments of the wrong type are refused by name."""
    err = ValueError("bad basket")
    with pytest.raises(ValueError) as raised, crosstrace.create_span("fails") as failed:
        raise err
    assert raised.value is err
    assert crosstrace.get_current_span() is None and not failed.is_recording()
    with pytest.raises(KeyboardInterrupt), crosstrace.create_span("interrupted") as stopped:
        raise KeyboardInterrupt
    assert crosstrace.get_current_span() is None and not stopped.is_recording()
    with pytest.raises(TypeError, match="name must be a str, not int"):
        with crosstrace.create_span(42):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="kind must be a str"):
        with crosstrace.create_span("x", kind=1):  # type: ignore[arg-type]
            pass
    assert crosstrace.get_current_span() is None
    crosstrace.force_flush()
    spans = traced.by_name()
    assert spans["fails"].status.code == 2 and spans["fails"].status.message == "bad basket"
    assert [e.name for e in spans["fails"].events] == ["exception"]
    assert spans["interrupted"].status.code == 0 and not spans["interrupted"].events


def test_create_span_under_another_context_runtime() -> None:
    """With a context runtime other than the API's own (OTEL_PYTHON_CONTEXT), create_span goes
    through the API to make its span current: nesting and the current span still hold."""
    import subprocess
    import sys

    code = (
        "from opentelemetry import context\n"
        "from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext\n"
        "class Custom(ContextVarsRuntimeContext): pass\n"
        "context._RUNTIME_CONTEXT = Custom()\n"
        "import crosstrace, crosstrace._api as api\n"
        "cfg = crosstrace.TracingConfig(backend='none', auto_instrument=False)\n"
        "crosstrace.setup_tracing(cfg)\n"
        "with crosstrace.create_span('outer') as outer:\n"
        "    with crosstrace.create_span('inner') as inner:\n"
        "        assert crosstrace.get_current_span() is inner\n"
        "        assert inner.trace_id == outer.trace_id\n"
        "    assert crosstrace.get_current_span() is outer\n"
        "assert crosstrace.get_current_span() is None\n"
        "print('ok', api._CURRENT_VAR is None)\n"
    )
    env = {**os.environ, "OTEL_BACKEND": "none", "OTEL_AUTO_INSTRUMENT": "false"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ok", "True"]


def test_instrumented_clients_inject_crosstraces_headers() -> None:
    """The OpenTelemetry API's global propagator is crosstrace's: what an instrumented client
    injects follows crosstrace's configured formats and carries the correlation id."""
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(backend="none", propagators=["b3"], auto_instrument=False)
    )
    with crosstrace.correlation_context("order-42"), crosstrace.create_span("call") as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    assert carrier["b3"].startswith(f"{span.trace_id}-{span.span_id}-1")
    assert carrier["x-correlation-id"] == "order-42"
    assert "traceparent" not in carrier
    ctx = propagate.extract(carrier)
    remote = otel_trace.get_current_span(ctx).get_span_context()
    assert format(remote.trace_id, "032x") == span.trace_id
    assert remote.is_remote and remote.trace_flags.sampled


def test_otel_propagators_naming_b3_and_jaeger_do_not_break_the_opentelemetry_api() -> None:
    """The OpenTelemetry API resolves OTEL_PROPAGATORS when imported and raises on names no
    installed package provides; crosstrace provides b3, b3multi and jaeger."""
    import subprocess
    import sys

    code = (
        "import fastapi, crosstrace\n"
        "from opentelemetry import propagate\n"
        "crosstrace.setup_tracing()\n"
        "c = {}\n"
        "with crosstrace.create_span('x'):\n"
        "    propagate.inject(c)\n"
        "print(sorted(c))\n"
    )
    env = {**os.environ, "OTEL_PROPAGATORS": "b3,jaeger", "OTEL_BACKEND": "none"}
    env["OTEL_AUTO_INSTRUMENT"] = "false"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['b3', 'uber-trace-id']"
