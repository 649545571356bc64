"""crosstrace's service for the W3C Trace Context test suite (github.com/w3c/trace-context,
folder test/; not part of this repository).

The suite POSTs a JSON list of {"url": ..., "arguments": [...]} to the service, with the
traceparent / tracestate lines under test; the service must POST `arguments` (as JSON) to every
`url`, in a new child span each, carrying the propagated headers. The suite then reads the
callbacks' headers.

One service, three entry points (--entry):
  extract   a bare ASGI app: crosstrace.extract(scope["headers"]) (the raw ASGI header list,
            repeated lines kept), a server span under it, a client span + crosstrace.inject()
            per callback (urllib, not instrumented)
  fastapi   a FastAPI app with crosstrace's setup_tracing_middleware; a client span +
            crosstrace.inject() per callback
  otel      a FastAPI app traced only by the official OpenTelemetry instrumentations with
            crosstrace as tracer provider and propagator (FastAPI's ASGI middleware extracts
            through CrosstracePropagator with its ASGI getter; `requests`, instrumented, injects
            one client span per callback)

Run:   python bindings-python/conformance/w3c_service.py --entry extract --port 5000
Suite: cd trace-context/test && pip install aiohttp &&
       SPEC_LEVEL=2 STRICT_LEVEL=2 python test.py http://127.0.0.1:5000/test
(test.py defaults SPEC_LEVEL to 1, which skips the level-2 random-flag test: set it.)
bindings-python/tests/test_w3c_service.py drives all three entry points in `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.request
from typing import Any

from fastapi import FastAPI, Request

import crosstrace

TIMEOUT = 2.0  # the suite waits 3 s for the whole request


def post(url: str, arguments: Any, headers: dict[str, str]) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(arguments).encode(),
        headers={**headers, "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        response.read()


async def call_back(actions: list[dict[str, Any]]) -> None:
    """One client span per callback, its headers injected (a new parent-id each time)."""
    for action in actions:
        with crosstrace.create_span("callback", kind="client") as span:
            headers = crosstrace.inject({}, span)
            await asyncio.to_thread(post, action["url"], action.get("arguments") or [], headers)


def setup(instrument_http: bool) -> None:
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            service_name="w3c-trace-context",
            backend="none",
            sampling_rate=1.0,
            instrument_http=instrument_http,
            instrument_db=False,
            instrument_logging=False,
            metrics_enabled=False,
        )
    )


# entry: extract
async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    parent = crosstrace.extract(scope["headers"])  # as received: bytes pairs, repeats kept
    with crosstrace.create_span("POST /test", kind="server", parent=parent):
        await call_back(json.loads(body or b"[]") or [])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


# entries: fastapi, otel
def fastapi_app(entry: str) -> Any:
    if entry == "otel":
        # The instrumentations patch FastAPI and requests when tracing is set up: create the app
        # afterwards.
        setup(instrument_http=True)
    app = FastAPI()

    if entry == "otel":
        import requests

        @app.post("/test")
        def test_otel(actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
            for action in actions or []:
                # The requests instrumentation starts the client span and injects through the
                # global propagator (CrosstracePropagator).
                requests.post(action["url"], json=action.get("arguments") or [], timeout=TIMEOUT)
            return {}
    else:
        from crosstrace.fastapi_integration import setup_tracing_middleware

        @app.post("/test")
        async def test_middleware(request: Request) -> dict[str, Any]:
            await call_back(await request.json() or [])
            return {}

        setup_tracing_middleware(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entry", choices=["extract", "fastapi", "otel"], default="extract")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    import uvicorn

    if args.entry == "otel":
        app = fastapi_app("otel")
    else:
        setup(instrument_http=False)
        app = bare_app if args.entry == "extract" else fastapi_app("fastapi")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
