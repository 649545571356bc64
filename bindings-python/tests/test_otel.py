"""crosstrace as the OpenTelemetry API's SDK: tracers' scopes, links, the provider entry point,
another SDK holding the API, and the resource every span is exported with."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Link, SpanContext, TraceFlags, TraceState

import crosstrace
from conftest import Collector, attrs
from crosstrace import otel


def scopes(collector: Collector) -> dict[tuple[str, str, str], list[str]]:
    """Span names by the (name, version, schema URL) of the scope OTLP grouped them under."""
    out: dict[tuple[str, str, str], list[str]] = {}
    with collector.lock:
        for r in collector.requests:
            for rs in r.resource_spans:
                for ss in rs.scope_spans:
                    key = (ss.scope.name, ss.scope.version, ss.schema_url)
                    out.setdefault(key, []).extend(s.name for s in ss.spans)
    return out


def resource_of(collector: Collector, name: str) -> dict[str, Any]:
    for span, resource in collector.spans():
        if span.name == name:
            return attrs(resource)
    raise AssertionError(f"no span {name!r}")


def test_each_tracers_spans_are_exported_under_its_scope(traced: Collector) -> None:
    schema = "https://opentelemetry.io/schemas/1.26.0"
    orders = otel_trace.get_tracer("shop.orders", "1.4.2", schema_url=schema)
    stock = otel.PROVIDER.get_tracer("shop.stock", "0.9")
    with orders.start_as_current_span("place-order"):
        stock.start_span("reserve").end()
        crosstrace.start_span("crosstrace-own").end()
    orders.start_span("confirm").end()
    crosstrace.force_flush()
    got = scopes(traced)
    assert sorted(got[("shop.orders", "1.4.2", schema)]) == ["confirm", "place-order"]
    assert got[("shop.stock", "0.9", "")] == ["reserve"]
    assert got[("crosstrace", crosstrace.__version__, "")] == ["crosstrace-own"]
    # One tracer per name and version, whoever asks: the same scope.
    again = otel_trace.get_tracer("shop.orders", "1.4.2", schema_url=schema)
    assert repr(again._scope) == repr(orders._scope)  # type: ignore[attr-defined]


def test_start_as_current_span_is_current_inside_records_errors_and_decorates(
    traced: Collector,
) -> None:
    tracer = otel_trace.get_tracer("current")
    with tracer.start_as_current_span("outer") as outer:
        assert otel_trace.get_current_span() is outer
        crosstrace.start_span("inner").end()
    assert otel_trace.get_current_span() is not outer, "no longer current after the block"
    with pytest.raises(KeyError), tracer.start_as_current_span("fails"):
        raise KeyError("sku-1")
    with tracer.start_as_current_span("kept open", end_on_exit=False) as kept:
        pass
    assert kept.is_recording(), "end_on_exit=False leaves the span open"
    kept.end()

    @tracer.start_as_current_span("decorated")
    def work(depth: int) -> str:
        current = otel_trace.get_current_span()
        if depth:
            work(depth - 1)
        return current.get_span_context().span_id

    # A new span per call, nested when the calls are.
    assert work(1) != work(0)
    crosstrace.force_flush()
    spans = {s.name: s for s, _ in traced.spans() if s.name != "decorated"}
    decorated = [s for s, _ in traced.spans() if s.name == "decorated"]
    assert spans["inner"].parent_span_id == spans["outer"].span_id
    assert spans["fails"].status.code == 2  # error
    assert "KeyError" in spans["fails"].status.message
    assert [e.name for e in spans["fails"].events] == ["exception"]
    assert "kept open" in spans
    assert len(decorated) == 3
    parents = {d.parent_span_id for d in decorated}
    assert any(d.span_id in parents for d in decorated), "the inner call nests in the outer"


def test_a_span_used_as_a_context_manager_records_what_escapes(traced: Collector) -> None:
    """``with tracer.start_span(...)`` records an escaping Exception (its event, the error
    status "Type: message") and ends the span, as opentelemetry-sdk's spans do, unless
    start_span was told not to; a BaseException such as SystemExit is not recorded."""
    tracer = otel_trace.get_tracer("ctx")
    with pytest.raises(ValueError), tracer.start_span("boom"):
        raise ValueError("boom")
    with pytest.raises(ValueError):
        with tracer.start_span("silent", record_exception=False, set_status_on_exception=False):
            raise ValueError("silent")
    with pytest.raises(ValueError), tracer.start_span("status-only", record_exception=False):
        raise ValueError("status only")
    with pytest.raises(SystemExit), tracer.start_span("exit"):
        raise SystemExit(0)
    crosstrace.force_flush()
    spans = traced.by_name()
    boom = spans["boom"]
    assert (boom.status.code, boom.status.message) == (2, "ValueError: boom")
    assert [e.name for e in boom.events] == ["exception"]
    assert spans["silent"].status.code == 0 and not spans["silent"].events
    assert spans["status-only"].status.code == 2 and not spans["status-only"].events
    assert spans["exit"].status.code == 0 and not spans["exit"].events


def test_start_as_current_span_takes_every_argument_of_the_api(traced: Collector) -> None:
    """Beside the common call (the current context, now, no links): an explicit context, links,
    a start time, a kind, and the exception flags, each as the API defines them."""
    tracer = otel_trace.get_tracer("args", "1.0")
    remote = SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736,
        0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    under_remote = otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(remote))
    with tracer.start_as_current_span(
        "explicit",
        context=under_remote,
        kind=otel_trace.SpanKind.SERVER,
        links=[Link(remote, {"why": "batch"})],
        start_time=1_700_000_000_000_000_000,
    ) as explicit:
        assert otel_trace.get_current_span() is explicit
    with pytest.raises(ValueError):
        with tracer.start_as_current_span("quiet", record_exception=False):
            with tracer.start_as_current_span("no-status", set_status_on_exception=False):
                raise ValueError("kept out")
    with pytest.raises(SystemExit), tracer.start_as_current_span("exit"):
        raise SystemExit(3)
    with pytest.raises(TypeError):
        with tracer.start_as_current_span(7):  # type: ignore[arg-type]
            pass
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    crosstrace.force_flush()
    spans = traced.by_name()
    e = spans["explicit"]
    assert e.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert e.parent_span_id.hex() == "00f067aa0ba902b7"
    assert e.kind == 2  # SPAN_KIND_SERVER
    assert e.start_time_unix_nano == 1_700_000_000_000_000_000
    assert [link.span_id.hex() for link in e.links] == ["00f067aa0ba902b7"]
    assert spans["no-status"].parent_span_id == spans["quiet"].span_id
    assert spans["no-status"].status.code == 0 and len(spans["no-status"].events) == 1
    assert spans["quiet"].status.code == 2 and not spans["quiet"].events
    assert spans["quiet"].status.message == "ValueError: kept out"
    assert spans["exit"].status.code == 0, "SystemExit is not an Exception"
    assert sorted(scopes(traced)[("args", "1.0", "")]) == ["exit", "explicit", "no-status", "quiet"]


def test_start_as_current_span_decorates_coroutines_and_reads_flags_as_python_does(
    traced: Collector,
) -> None:
    """As the API's decorator: a coroutine function stays one, and its span covers the awaited
    body. Flags are read by truth, as in Python. A span ends even when its exception cannot be
    shown (its ``__str__`` raises)."""
    import asyncio
    import inspect

    tracer = otel_trace.get_tracer("async")

    @tracer.start_as_current_span("awaited")
    async def work() -> str:
        await asyncio.sleep(0.01)
        return otel_trace.get_current_span().name  # type: ignore[attr-defined,no-any-return]

    assert inspect.iscoroutinefunction(work)
    assert asyncio.run(work()) == "awaited"
    with tracer.start_as_current_span("open", end_on_exit=0) as still_open:  # type: ignore[arg-type]
        pass
    assert still_open.is_recording()
    still_open.end()

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("cannot show")

    with pytest.raises(RuntimeError, match="cannot show"):
        with tracer.start_as_current_span("unprintable") as unprintable:
            raise Unprintable
    assert not unprintable.is_recording(), "ended all the same"
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    crosstrace.force_flush()
    awaited = traced.by_name()["awaited"]
    assert awaited.end_time_unix_nano - awaited.start_time_unix_nano >= 10_000_000


def test_links_given_at_start_and_later_are_exported(traced: Collector) -> None:
    tracer = otel_trace.get_tracer("links")
    with tracer.start_as_current_span("producer") as producer:
        produced = producer.get_span_context()
    remote = SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736,
        0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "v1")]),
    )
    consumer = tracer.start_span(
        "consumer",
        links=[Link(produced, {"messaging.batch": True}), Link(remote)],
    )
    consumer.add_link(remote, {"added": "later"})
    consumer.end()
    crosstrace.force_flush()
    links = traced.by_name()["consumer"].links
    assert [(link.trace_id.hex(), link.span_id.hex()) for link in links] == [
        (format(produced.trace_id, "032x"), format(produced.span_id, "016x")),
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
    ]
    assert [attrs(link) for link in links] == [{"messaging.batch": True}, {}, {"added": "later"}]
    assert links[1].trace_state == "vendor=v1"


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "CROSSTRACE_")) and k != "ENVIRONMENT"
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "OTEL_AUTO_INSTRUMENT": "false", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_otel_python_tracer_provider_crosstrace_loads_crosstraces_provider(
    collector: Collector,
) -> None:
    """OTEL_PYTHON_TRACER_PROVIDER=crosstrace: the API's get_tracer_provider() loads crosstrace's
    provider by its entry point (it raised StopIteration), set up from the environment."""
    code = (
        "from opentelemetry import trace\n"
        "provider = trace.get_tracer_provider()\n"
        "print(type(provider).__module__, type(provider).__qualname__)\n"
        "with trace.get_tracer('from.the.api', '2.0').start_as_current_span('api-span'):\n"
        "    pass\n"
        "import crosstrace\n"
        "crosstrace.force_flush()\n"
    )
    r = _run(
        code,
        OTEL_PYTHON_TRACER_PROVIDER="crosstrace",
        OTEL_BACKEND="otlp",
        OTEL_EXPORTER_ENDPOINT=collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_SERVICE_NAME="entry-point",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["crosstrace.otel", "TracerProvider"]
    assert scopes(collector)[("from.the.api", "2.0", "")] == ["api-span"]
    assert resource_of(collector, "api-span")["service.name"] == "entry-point"


def test_another_sdk_holding_the_api_is_reported_once() -> None:
    """The official SDK installed first keeps the API (a process sets its provider once):
    crosstrace says so in health's warnings and on stderr, once."""
    code = (
        "import json\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "import crosstrace\n"
        "from crosstrace import otel\n"
        "crosstrace.setup_tracing()\n"
        "otel.install_global()  # again: still one warning\n"
        "print(json.dumps(crosstrace.get_tracing_health()['warnings']))\n"
    )
    r = _run(code, OTEL_BACKEND="none")
    assert r.returncode == 0, r.stderr
    import json

    warnings = json.loads(r.stdout)
    assert len(warnings) == 1, warnings
    assert "opentelemetry.sdk.trace.TracerProvider" in warnings[0]
    assert r.stderr.count("opentelemetry.sdk.trace.TracerProvider") == 1, r.stderr
    # Without another SDK: no warning.
    r = _run(
        "import crosstrace\ncrosstrace.setup_tracing()\n"
        "print(crosstrace.get_tracing_health()['warnings'])\n",
        OTEL_BACKEND="none",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_the_resource_names_python_the_process_and_the_host(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in list(os.environ):
        if var.startswith(("OTEL_", "CROSSTRACE_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("OTEL_BACKEND", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=pos-7,team=retail%20data")
    monkeypatch.setenv("OTEL_AUTO_INSTRUMENT", "false")
    crosstrace.setup_tracing()
    crosstrace.start_span("described").end()
    crosstrace.force_flush()
    r = resource_of(collector, "described")
    assert r["telemetry.sdk.language"] == "python"
    assert r["telemetry.sdk.name"] == "crosstrace"
    assert r["telemetry.sdk.version"] == crosstrace.__version__
    assert uuid.UUID(r["service.instance.id"]).version == 4
    assert r["host.name"] == socket.gethostname()
    assert (r["k8s.pod.name"], r["team"]) == ("pos-7", "retail data")


def test_a_forked_child_is_another_service_instance(traced: Collector) -> None:
    with crosstrace.create_span("in-parent"):
        pass
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            with crosstrace.create_span("in-forked-child"):
                pass
            crosstrace.force_flush(10)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    crosstrace.force_flush()
    deadline = time.time() + 10
    while time.time() < deadline and len(traced.by_name()) < 2:
        time.sleep(0.05)
    parent = resource_of(traced, "in-parent")["service.instance.id"]
    child = resource_of(traced, "in-forked-child")["service.instance.id"]
    assert parent != child
    assert uuid.UUID(child).version == 4


def test_values_the_api_does_not_take_are_left_out_with_a_warning_never_raised(
    traced: Collector,
) -> None:
    """As the SDK: an attribute whose value (or key) is of another type is left out with a
    warning, never raised into the program; lists and tuples of one type are arrays."""
    tracer = otel_trace.get_tracer("attrs")
    with tracer.start_as_current_span("bad-at-start", attributes={"b": b"raw", "ok": 1}) as s:
        s.set_attribute("d", object())
        s.set_attributes({3: "int key", "n": None, "mixed": [1, "a"], "tags": ["a", "b"]})  # type: ignore[dict-item]
        s.set_attribute("ints", (1, 2, 3))
        s.add_event("e", {"b": b"x", "kept": True})

    # A lone surrogate (a file name os.fsdecode could not decode) is kept, replaced.
    odd = os.fsdecode(b"report-\xff.csv")
    with tracer.start_as_current_span("surrogate", attributes={"file": odd}) as s2:
        s2.set_attribute("files", [odd])

    @crosstrace.trace_function(name="decorated")
    def job() -> str:
        crosstrace.set_span_attribute("rows", bytearray(b"1"))
        return "done"

    assert job() == "done"
    with crosstrace.create_span("block", {"f": {1: 2}}):
        pass
    crosstrace.force_flush()
    spans = traced.by_name()
    got = attrs(spans["bad-at-start"])
    assert set(got) == {"ok", "tags", "ints"}
    assert [v.string_value for v in got["tags"].values] == ["a", "b"]
    assert [v.int_value for v in got["ints"].values] == [1, 2, 3]
    assert set(attrs(spans["bad-at-start"].events[0])) == {"kept"}
    assert "rows" not in attrs(spans["decorated"])
    kept = attrs(spans["surrogate"])["file"]
    assert kept.startswith("report-") and kept.endswith(".csv") and "\ufffd" in kept, kept
    assert "f" not in attrs(spans["block"])
    warnings = crosstrace.get_tracing_health()["warnings"]
    for what in ("bytes", "object", "bytearray", "dict", "a sequence mixing int and str"):
        assert any(f"its value was {what}," in w for w in warnings), (what, warnings)
    assert any("its key was of type int" in w for w in warnings), warnings


def test_start_as_current_span_under_an_extracted_context_carries_its_correlation_inside(
    traced: Collector,
) -> None:
    """The API's manual propagation (`context=propagate.extract(headers)`): what runs inside
    the block (children, outgoing headers) keeps the correlation the caller sent, as
    `create_span(parent=...)` does."""
    from opentelemetry import propagate

    incoming = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "x-correlation-id": "order-42",
    }
    tracer = otel_trace.get_tracer("consumer")
    with tracer.start_as_current_span("process", context=propagate.extract(incoming)):
        assert crosstrace.get_correlation_id() == "order-42"
        outgoing: dict[str, str] = {}
        propagate.inject(outgoing)
        crosstrace.start_span("child").end()
    # Outside the block the correlation is gone again.
    assert crosstrace.get_correlation_id() is None
    crosstrace.force_flush()
    spans = traced.by_name()
    assert outgoing["x-correlation-id"] == "order-42"
    assert outgoing["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert attrs(spans["child"])["correlation.id"] == "order-42"
    assert spans["child"].parent_span_id == spans["process"].span_id
