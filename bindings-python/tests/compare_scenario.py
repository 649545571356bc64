"""One run of the comparison scenario (FastAPI + SQLAlchemy + requests, instrumented by the
official packages) with either the official opentelemetry-sdk or crosstrace as the tracer
provider. Prints the spans, normalised, as JSON: test_comparison.py runs it both ways."""

from __future__ import annotations

import http.client
import http.server
import json
import re
import sys
import threading
import time
from typing import Any

import requests
import sqlalchemy
import uvicorn
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor


def echo_server() -> str:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/price"


def normalise(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Names, kinds, status, parent names and attributes, without what differs between any two
    runs (ids, times, ports)."""
    by_id = {s["span_id"]: s for s in spans}
    out = []
    for s in spans:
        parent = by_id.get(s["parent_id"])
        attrs = {
            k: re.sub(r":\d+", ":PORT", str(v))
            for k, v in s["attributes"].items()
            if "port" not in k and k not in ("user_agent.original", "http.user_agent")
        }
        out.append(
            {
                "name": s["name"],
                "kind": s["kind"],
                "status": s["status"],
                "parent": parent["name"] if parent else None,
                "remote_parent": s["parent_id"] == "00f067aa0ba902b7",
                "attributes": attrs,
            }
        )
    return sorted(out, key=lambda s: (s["name"], json.dumps(s["attributes"], sort_keys=True)))


def main() -> None:
    mode = sys.argv[1]
    if mode == "sdk":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider: Any = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        import crosstrace
        from crosstrace.otel import PROVIDER

        received: list[bytes] = []

        class Collector(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                received.append(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
        threading.Thread(target=collector.serve_forever, daemon=True).start()
        crosstrace.setup_tracing(
            crosstrace.TracingConfig(
                backend="otlp",
                endpoint=f"http://127.0.0.1:{collector.server_address[1]}/v1/traces",
                otlp_protocol="http/protobuf",
                auto_instrument=False,
            )
        )
        provider = PROVIDER

    price_url = echo_server()
    engine = sqlalchemy.create_engine("sqlite://")
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
    RequestsInstrumentor().instrument(tracer_provider=provider)
    app = FastAPI(telemetry={"tracing": False})

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, Any]:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        requests.get(price_url, timeout=5)
        return {"id": order_id}

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        "GET",
        "/orders/7",
        headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )
    assert conn.getresponse().status == 200
    server.should_exit = True
    thread.join(10)

    spans: list[dict[str, Any]] = []
    if mode == "sdk":
        for s in exporter.get_finished_spans():
            spans.append(
                {
                    "name": s.name,
                    "kind": s.kind.name.lower(),
                    "status": s.status.status_code.name.lower(),
                    "span_id": format(s.context.span_id, "016x"),
                    "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
                    "attributes": dict(s.attributes or {}),
                }
            )
    else:
        crosstrace.force_flush(10)
        kinds = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
        statuses = {0: "unset", 1: "ok", 2: "error"}
        for body in received:
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        attrs = {}
                        for kv in s.attributes:
                            which = kv.value.WhichOneof("value")
                            attrs[kv.key] = getattr(kv.value, which)
                        # crosstrace adds the correlation id it generated; not in the SDK run.
                        attrs.pop("correlation.id", None)
                        spans.append(
                            {
                                "name": s.name,
                                "kind": kinds[s.kind],
                                "status": statuses[s.status.code],
                                "span_id": s.span_id.hex(),
                                "parent_id": s.parent_span_id.hex() or None,
                                "attributes": attrs,
                            }
                        )
    print(json.dumps(normalise(spans), sort_keys=True))


if __name__ == "__main__":
    main()
