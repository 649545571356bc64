"""Shared fixtures: a local OTLP/HTTP collector that decodes what crosstrace sends."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

import crosstrace


class Collector:
    """Records decoded OTLP spans, keyed by name."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        # The HTTP status every request gets (a test sets 400 to be refused).
        self.status = 200
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                req = ExportTraceServiceRequest()
                req.ParseFromString(body)
                with collector.lock:
                    collector.requests.append(req)
                    collector.headers.append(dict(self.headers))
                self.send_response(collector.status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[Any]:
        with self.lock:
            return [
                (s, rs.resource)
                for r in self.requests
                for rs in r.resource_spans
                for ss in rs.scope_spans
                for s in ss.spans
            ]

    def by_name(self) -> dict[str, Any]:
        return {s.name: s for s, _ in self.spans()}


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()


@pytest.fixture
def traced(collector: Collector) -> Iterator[Collector]:
    """Tracing exporting to the collector (OTLP/HTTP protobuf)."""
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            service_name="py-tests",
            backend="otlp",
            endpoint=collector.url,
            otlp_protocol="http/protobuf",
            schedule_delay_millis=60_000,
        )
    )
    yield collector


def attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value"))
    return out
