"""The ecosystem: official OpenTelemetry instrumentations producing into crosstrace, and the
FastAPI middleware on a real app under uvicorn, called over HTTP."""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import socket
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import uvicorn
from fastapi import FastAPI, Request
from prometheus_client.parser import text_string_to_metric_families

import crosstrace
from conftest import Collector, attrs
from crosstrace.fastapi_integration import setup_tracing_middleware


class Echo:
    """A local HTTP server that records the headers it is sent."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        echo = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                echo.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stock"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_instrumentations_produce_into_crosstrace_and_nest(traced: Collector) -> None:
    status = crosstrace.get_instrumentation_status()
    for lib in ["requests", "httpx", "urllib", "sqlite3", "logging", "sqlalchemy", "fastapi"]:
        assert lib in status["instrumented_libraries"], status
    echo = Echo()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("etl")
    log.addHandler(Keep())
    log.setLevel(logging.INFO)
    with crosstrace.correlation_context(correlation_id="etl-run-1"):
        with crosstrace.create_span("extract") as extract:
            requests.get(echo.url, timeout=5)
            httpx.get(echo.url, timeout=5)
            urllib.request.urlopen(echo.url, timeout=5).read()
            cursor = sqlite3.connect(":memory:").cursor()
            cursor.execute("create table orders (id integer)")
            cursor.execute("insert into orders values (1)")
            log.info("extracted")
    crosstrace.force_flush()
    spans = traced.spans()
    children = [s for s, _ in spans if s.parent_span_id == bytes.fromhex(extract.span_id)]
    kinds = {s.kind for s in children}
    assert len(children) >= 5, [s.name for s, _ in spans]
    assert sum(1 for s in children if attrs(s).get("db.system") == "sqlite") >= 2
    assert 3 in kinds  # CLIENT: the HTTP calls and the database
    # Every instrumentation span carries the correlation id.
    for s in children:
        assert attrs(s)["correlation.id"] == "etl-run-1", s.name
    # The HTTP instrumentations propagated the trace with crosstrace's span ids.
    assert len(echo.headers) == 3
    for h in echo.headers:
        assert h["traceparent"].split("-")[1] == extract.trace_id
    # Log records carry the trace and correlation ids.
    assert records[0].otelTraceID == extract.trace_id  # type: ignore[attr-defined]
    assert records[0].correlation_id == "etl-run-1"  # type: ignore[attr-defined]
    echo.server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api(traced: Collector) -> Iterator[tuple[str, Collector]]:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, Any]:
        with crosstrace.create_span("load_order") as span:
            span.set_attribute("order.id", order_id)
        return {"id": order_id, "correlation": crosstrace.get_correlation_id()}

    @app.post("/orders")
    async def create_order(request: Request) -> dict[str, Any]:
        return {"size": len(await request.body())}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    setup_tracing_middleware(
        app,
        service_name="orders-api",
        include_request_body=True,
        exclude_paths=["/health"],
        metrics_route="/metrics",
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", traced
    server.should_exit = True
    thread.join(10)


def test_fastapi_middleware_over_real_http(api: tuple[str, Collector]) -> None:
    base, collector = api
    # A caller with a trace and a correlation id (http.client: not instrumented, so these exact
    # headers arrive).
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    conn.request(
        "GET",
        "/orders/42",
        headers={
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "X-Correlation-ID": "req-77",
            "Authorization": "Bearer secret-token",
            "Cookie": "session=secret-cookie",
        },
    )
    r = conn.getresponse()
    assert r.status == 200
    assert r.getheader("x-correlation-id") == "req-77"
    assert json.loads(r.read())["correlation"] == "req-77"
    # No correlation id: one is generated and returned.
    r2 = requests.post(
        f"{base}/orders",
        data=b'{"sku": "A1"}',
        timeout=10,
        headers={"content-type": "application/json"},
    )
    assert len(r2.headers["x-correlation-id"]) == 36
    requests.post(
        f"{base}/orders",
        data=b"\x00\x01binary",
        timeout=10,
        headers={"content-type": "application/octet-stream"},
    )
    assert requests.get(f"{base}/boom", timeout=10).status_code == 500
    requests.get(f"{base}/health", timeout=10)
    crosstrace.force_flush()
    spans = [s for s, _ in collector.spans()]
    names = [s.name for s in spans]
    assert "GET /health" not in names, "excluded path"
    server = next(s for s in spans if s.name == "GET /orders/{order_id}")
    a = attrs(server)
    assert server.kind == 2  # SERVER
    assert server.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert server.parent_span_id.hex() == "00f067aa0ba902b7"
    assert a["http.route"] == "/orders/{order_id}"
    assert a["http.request.method"] == "GET"
    assert a["http.response.status_code"] == 200
    assert a["correlation.id"] == "req-77"
    assert not any("secret" in str(v) for s in spans for v in attrs(s).values())
    child = next(s for s in spans if s.name == "load_order")
    assert child.parent_span_id == server.span_id
    posts = [s for s in spans if s.name == "POST /orders"]
    bodies = [attrs(s).get("http.request.body") for s in posts]
    assert '{"sku": "A1"}' in bodies
    assert None in bodies, "binary bodies are never recorded"
    failed = next(s for s in spans if s.name == "GET /boom")
    assert failed.status.code == 2
    assert attrs(failed)["http.response.status_code"] == 500
    assert [s.name for s in spans].count("GET /orders/{order_id}") == 1, "one server span"


def test_metrics_route_serves_the_span_metrics(api: tuple[str, Collector]) -> None:
    base, _ = api
    for order_id in range(1, 6):
        assert requests.get(f"{base}/orders/{order_id}", timeout=10).status_code == 200
    assert requests.get(f"{base}/boom", timeout=10).status_code == 500
    r = requests.get(f"{base}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    got = {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
    }

    def total(span_name: str, status: str, route: str) -> float:
        labels = {
            ("service_name", crosstrace.get_tracing_health()["service_name"]),
            ("span_name", span_name),
            ("span_kind", "server"),
            ("status", status),
            ("http_route", route),
        }
        return got.get(("traces_total", frozenset(labels)), 0.0)

    # Five requests with five ids: one series, by route template.
    assert total("GET /orders/{order_id}", "unset", "/orders/{order_id}") == 5
    assert total("GET /boom", "error", "/boom") == 1
    # Scrapes are not traced.
    assert not any(dict(labels).get("span_name") == "GET /metrics" for _, labels in got)


def queries(collector: Collector, parent: str) -> list[str]:
    """Which instrumentation (the last part of its scope's name) made each span of an SQLite
    query under the span ``parent`` (hex id)."""
    crosstrace.force_flush()
    with collector.lock:
        return [
            ss.scope.name.rsplit(".", 1)[-1]
            for r in collector.requests
            for rs in r.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
            if s.parent_span_id == bytes.fromhex(parent)
            and attrs(s).get("db.system") == "sqlite"
            and ("db.statement" in attrs(s) or "db.query.text" in attrs(s))
        ]


def test_a_query_through_sqlalchemy_is_one_client_span(traced: Collector) -> None:
    """sqlite3's instrumentation wraps the connections SQLAlchemy opens: each query was traced
    twice, by SQLAlchemy's instrumentation and by the driver's. SQLAlchemy's is kept (it knows
    more); the driver's stays for queries made on the driver directly, and for engines made
    before instrumenting (which SQLAlchemy's instrumentation does not see)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine("sqlite://")  # (after setup_tracing, as an app's would be)
    with crosstrace.create_span("through-sqlalchemy") as through:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("create table orders (id integer)"))
            conn.execute(sqlalchemy.text("insert into orders values (:id)"), [{"id": 1}, {"id": 2}])
            assert conn.execute(sqlalchemy.text("select count(*) from orders")).scalar() == 2
    assert queries(traced, through.span_id) == ["sqlalchemy"] * 3
    with crosstrace.create_span("directly") as directly:
        sqlite3.connect(":memory:").cursor().execute("select 1")
        untraced_engine = sqlalchemy.create_engine.__wrapped__("sqlite://")
        with untraced_engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 2"))
    assert queries(traced, directly.span_id) == ["sqlite3", "sqlite3"]


def test_the_status_says_which_instrumentations_are_crosstraces_and_active(
    traced: Collector,
) -> None:
    """A later setup_tracing that does not allow an instrumentation turns off the one the
    earlier setup turned on (it replaces that setup): the status says what is. One another
    caller instrumented first is not counted as crosstrace's, nor turned off by it."""
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

    echo = Echo()
    try:
        assert "requests" in crosstrace.get_instrumentation_status()["instrumented_libraries"]
        crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none", auto_instrument=False))
        status = crosstrace.get_instrumentation_status()
        assert status["instrumented_libraries"] == []
        assert status["not_instrumented"]["requests"] == "OTEL_AUTO_INSTRUMENT=false"
        assert not RequestsInstrumentor().is_instrumented_by_opentelemetry
        requests.get(echo.url, timeout=5)
        assert "traceparent" not in echo.headers[-1], "what the status says is so"
        # Another caller instruments requests, with its own provider, before the next setup.
        RequestsInstrumentor().instrument(tracer_provider=SdkTracerProvider())
        crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
        status = crosstrace.get_instrumentation_status()
        assert "requests" not in status["instrumented_libraries"]
        assert "another caller" in status["not_instrumented"]["requests"]
        assert "httpx" in status["instrumented_libraries"]
        crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none", instrument_http=False))
        assert RequestsInstrumentor().is_instrumented_by_opentelemetry, "not crosstrace's"
    finally:
        if RequestsInstrumentor().is_instrumented_by_opentelemetry:
            RequestsInstrumentor().uninstrument()
        echo.server.shutdown()
