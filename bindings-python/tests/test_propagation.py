"""The shared propagation vectors through every header carrier a Python user has: a list of
pairs, raw ASGI ``scope["headers"]``, ``email.message.Message`` and ``http.client.HTTPMessage``,
httpx's ``Headers``, a requests response's headers, the OpenTelemetry propagator with its getter,
and the FastAPI middleware (an ASGI request). Each gives the same context: a header received on
several lines keeps all of them, in any shape that can hold them."""

from __future__ import annotations

import asyncio
import email.message
import http.client
import json
import pathlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

import crosstrace
from crosstrace._api import _CX_KEY
from crosstrace.fastapi_integration import TracingMiddleware
from crosstrace.propagator import CrosstracePropagator

VECTORS = pathlib.Path(__file__).parents[2] / "tests" / "vectors"
CASES = json.loads((VECTORS / "propagation_extract.json").read_text())["cases"]


def lines(case: dict[str, Any]) -> list[tuple[str, str]]:
    h = case["headers"]
    return list(h.items()) if isinstance(h, dict) else [(k, v) for k, v in h]


def latin1(pairs: list[tuple[str, str]]) -> bool:
    try:
        for k, v in pairs:
            (k + v).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def message(cls: type[email.message.Message]) -> Callable[[list[tuple[str, str]]], Any]:
    def make(pairs: list[tuple[str, str]]) -> Any:
        m = cls()
        for k, v in pairs:
            m[k] = v  # appends: repeated lines are kept
        return m

    return make


def requests_headers(pairs: list[tuple[str, str]]) -> Any:
    joined: dict[str, list[str]] = {}
    for k, v in pairs:
        joined.setdefault(k.lower(), []).append(v)
    return requests.structures.CaseInsensitiveDict({k: ", ".join(v) for k, v in joined.items()})


def via_extract(make: Callable[[list[tuple[str, str]]], Any]) -> Callable[..., Any]:
    return lambda pairs: json.loads(crosstrace.extract(make(pairs)).to_json())


def via_otel_getter(pairs: list[tuple[str, str]]) -> Any:
    # The default getter over {name: [values]}, as OpenTelemetry carriers hold repeated lines.
    carrier: dict[str, list[str]] = {}
    for k, v in pairs:
        carrier.setdefault(k, []).append(v)
    ctx = CrosstracePropagator().extract(carrier)
    got = json.loads(otel_context.get_value(_CX_KEY, ctx).to_json())
    if got["span"] is not None:
        # The OpenTelemetry span context the instrumentations see: the same flags.
        sc = otel_trace.get_current_span(ctx).get_span_context()
        assert format(int(sc.trace_flags), "02x") == got["span"]["flags"]
    return got


CARRIERS: dict[str, Callable[..., Any]] = {
    "pairs": via_extract(lambda p: p),
    "raw ASGI lines (bytes)": via_extract(
        lambda p: [(k.encode("latin-1"), v.encode("latin-1")) for k, v in p]
    ),
    "email.message.Message": via_extract(message(email.message.Message)),
    "http.client.HTTPMessage": via_extract(message(http.client.HTTPMessage)),
    "httpx.Headers": via_extract(httpx.Headers),
    # requests' CaseInsensitiveDict holds one value per name: urllib3 joins repeated lines
    # with ", " (one list, the same result).
    "requests' headers": via_extract(requests_headers),
    "OpenTelemetry getter": via_otel_getter,
}


def check(name: str, case: dict[str, Any], got: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    want = case["expect"]
    label = f"{case['name']} via {name}"
    if want["span"] is None:
        assert got["span"] is None, label
    else:
        assert got["span"] is not None, label
        for k, v in want["span"].items():
            if k not in skip:
                assert got["span"][k] == v, (label, k, got["span"][k])
    if "baggage" in want:
        assert got["baggage"] == want["baggage"], label
    if "baggage_count" in want:
        assert len(got["baggage"]) == want["baggage_count"], label
    if "correlation" in want:
        assert got["correlation"] == want["correlation"], label


@pytest.mark.parametrize("carrier", list(CARRIERS))
def test_every_carrier_extracts_the_vectors(carrier: str) -> None:
    for case in CASES:
        pairs = lines(case)
        if carrier != "pairs" and not latin1(pairs):
            continue  # HTTP header bytes are latin-1
        crosstrace.setup_tracing(
            crosstrace.TracingConfig(backend="none", propagators=case["propagators"])
        )
        check(carrier, case, CARRIERS[carrier](pairs))


def test_the_middleware_extracts_the_vectors_from_the_raw_asgi_lines() -> None:
    """Through an ASGI request: the request's server span is the extracted parent's child, so
    it carries the parent's trace id, flags, tracestate, debug state and baggage."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["cx"] = json.loads(crosstrace.current_context().to_json())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def request(pairs: list[tuple[str, str]]) -> dict[str, Any]:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/orders",
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs],
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            pass

        await TracingMiddleware(app)(scope, receive, send)
        return seen["cx"]

    for case in CASES:
        pairs = lines(case)
        if not latin1(pairs):
            continue
        crosstrace.setup_tracing(
            crosstrace.TracingConfig(backend="none", propagators=case["propagators"])
        )
        got = asyncio.run(request(pairs))
        want = case["expect"]
        if want["span"] is None:
            continue  # a new trace: nothing of the request's to compare
        # The server span is a child: its own span id, and not remote.
        check("the middleware", case, got, skip=("span_id", "remote"))


def test_a_lone_surrogate_in_a_header_never_raises() -> None:
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    cx = crosstrace.extract({"traceparent": tp, "baggage": "k=\udc80", "x\udc80": "1"})
    assert cx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert crosstrace.extract([("traceparent", "00-\udc80")]).trace_id is None
    assert crosstrace.extract([("only one",), 7, None]).trace_id is None
    ctx = CrosstracePropagator().extract({"traceparent": [tp], "tracestate": ["a=\udc80"]})
    assert otel_trace.get_current_span(ctx).get_span_context().trace_id == int(tp[3:35], 16)


def test_a_continued_span_takes_only_the_headers_correlation() -> None:
    """tests/vectors/extracted_correlation.json: under extracted headers, the headers'
    correlation or none, never the one open around the call; through crosstrace's API and
    through the OpenTelemetry API's propagator."""
    from opentelemetry import propagate

    v = json.loads((VECTORS / "extracted_correlation.json").read_text())
    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    tracer = otel_trace.get_tracer("continued")
    with crosstrace.correlation_context(v["current_correlation_id"]):
        for case in v["cases"]:
            headers = case["headers"]
            if headers is None:
                spans = [crosstrace.start_span("continued"), tracer.start_span("continued")]
            else:
                spans = [
                    crosstrace.start_span("continued", parent=crosstrace.extract(headers)),
                    tracer.start_span("continued", context=propagate.extract(headers)),
                ]
            for via, span in zip(("crosstrace", "opentelemetry"), spans, strict=True):
                label = f"{case['name']} (through {via})"
                want_trace = case["expect_trace_id"]
                if want_trace is None:
                    assert span.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736", label
                else:
                    assert span.trace_id == want_trace, label
                got = crosstrace.inject({}, span).get("x-correlation-id")
                assert got == case["expect_correlation_id"], label
                span.end()


# A process whose tracer provider is the OpenTelemetry SDK's, crosstrace not set up: what the
# propagators OTEL_PROPAGATORS names inject, and what they read back.
OTHER_SDK = """
import json
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
with trace.get_tracer("sdk").start_as_current_span("call") as span:
    carrier = {}
    propagate.inject(carrier)
    ids = [format(span.get_span_context().trace_id, "032x"),
           format(span.get_span_context().span_id, "016x")]
read = {}
for name, headers in json.loads(%r).items():
    sc = trace.get_current_span(propagate.extract(headers)).get_span_context()
    read[name] = format(sc.trace_id, "032x") if sc.is_valid else None
print(json.dumps({"carrier": carrier, "ids": ids, "read": read}))
"""
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = {
    "traceparent": {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
    "b3": {"b3": f"{TRACE}-00f067aa0ba902b7-1"},
    "b3multi": {"X-B3-TraceId": TRACE, "X-B3-SpanId": "00f067aa0ba902b7", "X-B3-Sampled": "1"},
    "jaeger": {"uber-trace-id": f"{TRACE}:00f067aa0ba902b7:0:1", "uberctx-k": "a%20b"},
}


def registered_entry_points(directory: pathlib.Path) -> None:
    """A crosstrace distribution in ``directory`` holding the entry points pyproject.toml
    declares: first on the path, it is the one the OpenTelemetry API finds (an installed copy
    holds the ones of its build)."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text())
    info = directory / "crosstrace-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crosstrace\nVersion: 0.1.0\n")
    groups = project["project"]["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items())
            for group, eps in groups.items()
        )
    )


@pytest.mark.parametrize(
    ("propagators", "written", "read"),
    [
        ("b3", ["b3"], ["b3", "b3multi"]),
        ("b3multi", ["x-b3-sampled", "x-b3-spanid", "x-b3-traceid"], ["b3", "b3multi"]),
        ("jaeger", ["uber-trace-id"], ["jaeger"]),
        (
            "tracecontext,b3multi",
            ["traceparent", "x-b3-sampled", "x-b3-spanid", "x-b3-traceid"],
            ["traceparent", "b3", "b3multi"],
        ),
    ],
)
def test_each_name_otel_propagators_takes_from_crosstrace_is_that_format_only(
    tmp_path: pathlib.Path, propagators: str, written: list[str], read: list[str]
) -> None:
    """crosstrace registers b3, b3multi and jaeger with the OpenTelemetry API: each must write
    (and read) its own format, not every format crosstrace is configured with."""
    import os
    import subprocess
    import sys

    registered_entry_points(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROSSTRACE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["OTEL_PROPAGATORS"] = propagators
    code = OTHER_SDK % json.dumps(INCOMING)
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    carrier, (trace_id, span_id) = out["carrier"], out["ids"]
    assert sorted(k.lower() for k in carrier) == written
    b3 = {k.lower(): v for k, v in carrier.items()}
    if "b3" in b3:
        assert b3["b3"] == f"{trace_id}-{span_id}-1"
    if "x-b3-traceid" in b3:
        assert [b3["x-b3-traceid"], b3["x-b3-spanid"], b3["x-b3-sampled"]] == [
            trace_id,
            span_id,
            "1",
        ]
    if "uber-trace-id" in b3:
        assert b3["uber-trace-id"] == f"{trace_id}:{span_id}:0:1"
    assert {k for k, v in out["read"].items() if v == TRACE} == set(read)


def test_the_jaeger_propagator_carries_baggage_as_uberctx() -> None:
    """What it read comes out again: the trace's parent and its uberctx baggage."""
    from crosstrace.propagator import B3MultiPropagator, B3Propagator, JaegerPropagator

    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none", auto_instrument=False))
    jaeger = JaegerPropagator()
    ctx = jaeger.extract(INCOMING["jaeger"] | {"b3": f"{'1' * 32}-{'2' * 16}-1"})
    out: dict[str, str] = {}
    jaeger.inject(out, ctx)
    assert out == {"uber-trace-id": f"{TRACE}:00f067aa0ba902b7:0:1", "uberctx-k": "a%20b"}
    with crosstrace.correlation_context("order-1"), crosstrace.create_span("call") as span:
        out = {}
        jaeger.inject(out)
        multi: dict[str, str] = {}
        B3MultiPropagator().inject(multi)
    assert out == {
        "uber-trace-id": f"{span.trace_id}:{span.span_id}:0:1",
        "uberctx-correlation.id": "order%2D1",  # as the core percent-encodes it
    }
    assert sorted(multi) == ["x-b3-sampled", "x-b3-spanid", "x-b3-traceid"]
    assert B3Propagator().fields == {"b3"} and jaeger.fields == {"uber-trace-id"}
    # Nothing injected without a span.
    out = {}
    jaeger.inject(out, otel_context.Context())
    assert out == {}


def test_a_format_absent_leaves_what_another_propagator_of_a_composite_read() -> None:
    """OTEL_PROPAGATORS=jaeger,b3 with only Jaeger's headers: b3, second, finds nothing of its
    own and keeps the parent and uberctx baggage jaeger read."""
    from opentelemetry import trace as otel_trace
    from opentelemetry.propagators.composite import CompositePropagator

    from crosstrace.propagator import B3Propagator, JaegerPropagator

    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none", auto_instrument=False))
    both = CompositePropagator([JaegerPropagator(), B3Propagator()])
    ctx = both.extract(INCOMING["jaeger"])
    parent = otel_trace.get_current_span(ctx).get_span_context()
    assert f"{parent.trace_id:032x}" == TRACE
    out: dict[str, str] = {}
    JaegerPropagator().inject(out, ctx)
    assert out.get("uberctx-k") == "a%20b", out


class _NoKeysGetter:
    """A getter that answers for named headers only and lists no keys, as the Celery and pika
    instrumentations' getters do (their carriers are a task request, message properties)."""

    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return []


def test_a_getter_that_lists_no_keys_still_gives_the_callers_context() -> None:
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(backend="none", propagators=["tracecontext", "baggage", "b3"])
    )
    carrier = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "baggage": "tenant=acme",
        "x-correlation-id": "order-42",
    }
    ctx = CrosstracePropagator().extract(carrier, getter=_NoKeysGetter())  # type: ignore[arg-type]
    sc = otel_trace.get_current_span(ctx).get_span_context()
    assert format(sc.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    got = json.loads(otel_context.get_value(_CX_KEY, ctx).to_json())
    assert got["baggage"] == {"tenant": "acme"}
    assert got["correlation"]["id"] == "order-42"
    # A format named by OTEL_PROPAGATORS reads its own headers the same way.
    from crosstrace.propagator import B3Propagator

    b3 = B3Propagator().extract(
        {"b3": "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1"},
        getter=_NoKeysGetter(),  # type: ignore[arg-type]
    )
    assert otel_trace.get_current_span(b3).get_span_context().span_id == 0xB7AD6B7169203331
    # Each header is asked for once, whatever formats share it.
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(backend="none", propagators=["b3", "b3multi"])
    )
    fields = crosstrace._native.extraction_fields()
    assert len(fields) == len(set(fields)) and "b3" in fields


def test_the_apis_baggage_goes_out_and_comes_in() -> None:
    """Baggage set through `opentelemetry.baggage` is injected, and baggage received is where
    `opentelemetry.baggage` reads it, as with the API's own baggage propagator."""
    from opentelemetry import baggage

    crosstrace.setup_tracing(
        crosstrace.TracingConfig(backend="none", propagators=["tracecontext", "baggage"])
    )
    propagator = CrosstracePropagator()
    received = propagator.extract({"baggage": "tenant=acme,region=eu"})
    assert baggage.get_all(received) == {"tenant": "acme", "region": "eu"}
    # Set later through the API: replaces the same key, adds a new one.
    ctx = baggage.set_baggage("tenant", "globex", received)
    ctx = baggage.set_baggage("plan", "gold", ctx)
    headers: dict[str, str] = {}
    propagator.inject(headers, ctx)
    entries = dict(e.split("=", 1) for e in headers["baggage"].split(","))
    assert entries == {"tenant": "globex", "region": "eu", "plan": "gold"}
    # The current context's baggage, when none is given.
    token = otel_context.attach(baggage.set_baggage("only", "current"))
    try:
        current: dict[str, str] = {}
        propagator.inject(current)
    finally:
        otel_context.detach(token)
    assert current["baggage"] == "only=current"
    # Removed through the API: left out, as the API's own propagator leaves it (code that
    # strips an entry before calling out must not send it anyway); crosstrace's own baggage
    # that the API never held stays.
    stripped: dict[str, str] = {}
    propagator.inject(stripped, baggage.remove_baggage("region", received))
    assert stripped["baggage"] == "tenant=acme"
    cleared: dict[str, str] = {}
    propagator.inject(cleared, baggage.clear(received))
    assert "baggage" not in cleared
    own: dict[str, str] = {}
    with crosstrace.use_context(crosstrace.extract({"baggage": "kept=1"})):
        propagator.inject(own)
    assert own["baggage"] == "kept=1"
    # Set again through crosstrace after the API removed or kept it: crosstrace's value goes.
    for api_side in (baggage.remove_baggage("tenant", received), received):
        token = otel_context.attach(api_side)
        try:
            later = crosstrace.current_context().with_baggage([("tenant", "beta")])
            again: dict[str, str] = {}
            with crosstrace.use_context(later):
                propagator.inject(again)
        finally:
            otel_context.detach(token)
        assert "tenant=beta" in again["baggage"].split(","), again


def test_inject_writes_into_mutable_mappings_and_lists_of_pairs() -> None:
    """`inject` into what servers hand around: Starlette's `MutableHeaders` (a request's
    `headers.mutablecopy()`), a list of pairs (raw ASGI headers, as `bytes`), replacing an
    earlier line of the same header."""
    from starlette.datastructures import MutableHeaders

    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    span = crosstrace.start_span("out")
    try:
        want = crosstrace.inject(context=span)["traceparent"]
        mutable = crosstrace.inject(MutableHeaders({"x": "1"}), span)
        assert mutable["traceparent"] == want and mutable["x"] == "1"
        raw = crosstrace.inject([(b"x", b"1"), (b"Traceparent", b"stale")], span)
        assert (b"traceparent", want.encode()) in raw and (b"x", b"1") in raw
        assert not any(name.lower() == b"traceparent" and v == b"stale" for name, v in raw)
        pairs = crosstrace.inject([], span)
        assert ("traceparent", want) in pairs
    finally:
        span.end()
