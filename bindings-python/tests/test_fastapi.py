"""The FastAPI middleware on real applications (through Starlette's TestClient, or httpx's ASGI
transport where a request must be cancelled): apps the OpenTelemetry instrumentation already
instrumented, X-Correlation-ID on every response, cancelled requests, a root path, mounted
applications and WebSockets."""

from __future__ import annotations

import asyncio
from typing import Any

import fastapi
import fastapi.applications
import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.responses import JSONResponse

import crosstrace
from conftest import Collector, attrs
from crosstrace import otel
from crosstrace.fastapi_integration import setup_tracing_middleware

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SERVER = 2  # OTLP's SpanKind.SERVER


def spans(collector: Collector) -> list[Any]:
    crosstrace.force_flush()
    return [s for s, _ in collector.spans()]


def one(collector: Collector, name: str) -> Any:
    found = [s for s in spans(collector) if s.name == name]
    assert len(found) == 1, [s.name for s in spans(collector)]
    return found[0]


def add_items(app: Any) -> None:
    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id}


def test_an_app_the_opentelemetry_instrumentation_instrumented_gets_one_server_span(
    traced: Collector,
) -> None:
    """With auto-instrumentation on (the default), every FastAPI app made after setup_tracing is
    instrumented by OpenTelemetry's FastAPIInstrumentor, and undoing that built the app's
    middleware stack: Starlette then refused the middleware ("Cannot add middleware after an
    application has started"). Likewise for an app instrumented by hand."""
    auto = fastapi.FastAPI()  # what an application module imported after setup_tracing makes
    assert getattr(auto, "_is_instrumented_by_opentelemetry", False)
    by_hand = fastapi.applications.FastAPI()
    FastAPIInstrumentor.instrument_app(by_hand, tracer_provider=otel.PROVIDER)
    for label, app in (("auto", auto), ("by-hand", by_hand)):
        add_items(app)

        @app.get("/users")
        async def users() -> list[str]:
            return []

        setup_tracing_middleware(app, service_name=label)
        with TestClient(app) as client:
            assert client.get("/items/7").status_code == 200
            assert client.get("/users", headers={"traceparent": TRACEPARENT}).status_code == 200
        # Once started, the middleware cannot be added: said, naming the app.
        with pytest.raises(RuntimeError, match="FastAPI has already started"):
            setup_tracing_middleware(app)
    got = spans(traced)
    # One span per request, crosstrace's server span: nothing from the OpenTelemetry ASGI
    # middleware (its server span, or its "http send" spans) or FastAPI's own telemetry.
    assert sorted(s.name for s in got) == ["GET /items/{item_id}"] * 2 + ["GET /users"] * 2
    assert all(s.kind == SERVER for s in got)
    assert {attrs(s)["service.component"] for s in got} == {"auto", "by-hand"}
    continued = [s for s in got if s.name == "GET /users"]
    assert all(s.trace_id.hex() == TRACEPARENT[3:35] for s in continued)


def test_an_app_made_before_a_setup_that_turns_the_instrumentation_off_takes_the_middleware(
    traced: Collector,
) -> None:
    """A later setup_tracing that does not allow the FastAPI instrumentation any more turns it
    off, which builds the middleware stack of every app it had instrumented."""
    app = fastapi.FastAPI()
    add_items(app)
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            backend="otlp",
            endpoint=traced.url,
            otlp_protocol="http/protobuf",
            instrument_http=False,
        )
    )
    assert not getattr(app, "_is_instrumented_by_opentelemetry", True)
    setup_tracing_middleware(app)
    assert TestClient(app).get("/items/1").status_code == 200
    assert [s.name for s in spans(traced)] == ["GET /items/{item_id}"]


def test_every_response_carries_one_correlation_id_the_one_its_span_records(
    traced: Collector,
) -> None:
    """An unhandled exception's 500 (sent by Starlette's error middleware) carries it too; a
    handler that set its own keeps it, and the span records that one; a handler's value that
    is no valid correlation id is replaced by the request's."""
    app = fastapi.FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    @app.get("/own")
    async def own() -> JSONResponse:
        return JSONResponse({}, headers={"X-Correlation-ID": "handler-7"})

    @app.get("/invalid")
    async def invalid() -> JSONResponse:
        return JSONResponse({}, headers={"X-Correlation-ID": "not a valid id!"})

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    setup_tracing_middleware(app)
    client = TestClient(app, raise_server_exceptions=False)
    sent = {"X-Correlation-ID": "req-1"}
    r = client.get("/boom", headers=sent)
    assert r.status_code == 500
    assert r.headers.get_list("x-correlation-id") == ["req-1"]
    assert client.get("/own", headers=sent).headers.get_list("x-correlation-id") == ["handler-7"]
    r = client.get("/invalid", headers=sent)
    assert r.headers.get_list("x-correlation-id") == ["req-1"]
    generated = client.get("/plain").headers.get_list("x-correlation-id")
    assert len(generated) == 1 and len(generated[0]) == 36
    failed = one(traced, "GET /boom")
    a = attrs(failed)
    assert a["correlation.id"] == "req-1"
    assert a["http.response.status_code"] == 500
    assert a["error.type"] == "RuntimeError"
    assert failed.status.code == 2
    assert [e.name for e in failed.events] == ["exception"]
    assert attrs(one(traced, "GET /own"))["correlation.id"] == "handler-7"
    assert attrs(one(traced, "GET /invalid"))["correlation.id"] == "req-1"
    assert attrs(one(traced, "GET /plain"))["correlation.id"] == generated[0]


def test_a_cancelled_request_records_no_status_code_and_no_error(traced: Collector) -> None:
    """A request cancelled before any response (a client gone, a timeout around the app): no
    status code was sent, and a cancellation is no failure, as for crosstrace's own spans."""
    app = fastapi.FastAPI()
    entered = asyncio.Event()

    @app.get("/slow")
    async def slow() -> None:
        entered.set()
        await asyncio.sleep(60)

    setup_tracing_middleware(app)

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            request = asyncio.ensure_future(client.get("/slow"))
            await asyncio.wait_for(entered.wait(), 10)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request

    asyncio.run(run())
    span = one(traced, "GET /slow")
    a = attrs(span)
    assert "http.response.status_code" not in a
    assert "error.type" not in a
    assert span.status.code == 0  # unset
    assert list(span.events) == []


@pytest.mark.filterwarnings("ignore:The `root_path` parameter is deprecated")
@pytest.mark.parametrize("root_path_of", ["app", "server"])
def test_exclude_paths_and_the_metrics_route_are_paths_within_the_app(
    traced: Collector, root_path_of: str
) -> None:
    """Under a root path (FastAPI(root_path="/api"), or the server's, as uvicorn --root-path
    sets it) the request's path includes the root path; the options name the app's own paths,
    as its routes do."""
    app = fastapi.FastAPI(root_path="/api") if root_path_of == "app" else fastapi.FastAPI()
    add_items(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    setup_tracing_middleware(app, exclude_paths=["/health"], metrics_route="/metrics")
    client = TestClient(app, root_path="/api" if root_path_of == "server" else "")
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/items/1").status_code == 200
    # A proxy that removed the prefix already: the same paths.
    assert client.get("/health").status_code == 200
    metrics = client.get("/api/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'span_name="GET /items/{item_id}"' in metrics.text
    assert client.get("/metrics").status_code == 200
    names = [s.name for s in spans(traced)]
    assert names == ["GET /items/{item_id}"], names


def test_mounted_apps_and_included_routers_keep_their_prefixes_and_give_no_second_span(
    traced: Collector,
) -> None:
    """Two FastAPI apps mounted under /v1 and /v2 (each with its own telemetry, and
    instrumented by OpenTelemetry as apps made after setup_tracing are), one of them mounted
    after the middleware was set up: one server span per request, named with the mount's
    prefix, so the two versions of a route stay two routes (and two metric series). An
    included router's prefix is kept too (FastAPI >= 0.137 keeps its routes in the router)."""
    app = fastapi.FastAPI()
    v1, v2 = fastapi.FastAPI(), fastapi.FastAPI()
    for version in (v1, v2):

        @version.get("/users/{user_id}")
        async def user(user_id: int) -> dict[str, int]:
            return {"id": user_id}

    orders = fastapi.APIRouter()

    @orders.get("/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    app.include_router(orders, prefix="/orders")
    v2.include_router(orders, prefix="/orders")
    app.mount("/v1", v1)
    setup_tracing_middleware(app)
    app.mount("/v2", v2)
    client = TestClient(app)
    for method, path, status in (
        ("GET", "/v1/users/1", 200),
        ("GET", "/v1/users/2", 200),
        ("GET", "/v2/users/3", 200),
        ("GET", "/v1/nothing-here", 404),
        ("DELETE", "/v2/users/4", 405),
        ("GET", "/orders/5", 200),
        ("GET", "/v2/orders/6", 200),
    ):
        r = client.request(method, path, headers={"traceparent": TRACEPARENT})
        assert r.status_code == status, path
    got = spans(traced)
    assert sorted(s.name for s in got) == [
        "DELETE /v2/users/{user_id}",
        "GET",
        "GET /orders/{order_id}",
        "GET /v1/users/{user_id}",
        "GET /v1/users/{user_id}",
        "GET /v2/orders/{order_id}",
        "GET /v2/users/{user_id}",
    ]
    assert all(s.kind == SERVER and s.trace_id.hex() == TRACEPARENT[3:35] for s in got)
    for s in got:
        assert attrs(s).get("http.route") == (s.name.split(" ", 1)[1:] or [None])[0]


def test_a_websocket_connection_is_a_server_span(traced: Collector) -> None:
    """As the OpenTelemetry ASGI middleware traces them: a server span named by the route,
    under the caller's trace and correlation, which the handshake's answer returns."""
    app = fastapi.FastAPI()

    @app.websocket("/ws/{room}")
    async def chat(websocket: fastapi.WebSocket, room: str) -> None:
        await websocket.accept()
        with crosstrace.create_span("message"):
            await websocket.send_text(f"{room}: {await websocket.receive_text()}")
        await websocket.close()

    setup_tracing_middleware(app)
    headers = {"traceparent": TRACEPARENT, "X-Correlation-ID": "chat-1"}
    with TestClient(app).websocket_connect("/ws/lobby", headers=headers) as ws:
        assert (b"x-correlation-id", b"chat-1") in ws.extra_headers
        ws.send_text("hi")
        assert ws.receive_text() == "lobby: hi"
    server = one(traced, "/ws/{room}")
    a = attrs(server)
    assert server.kind == SERVER
    assert server.trace_id.hex() == TRACEPARENT[3:35]
    assert server.parent_span_id.hex() == TRACEPARENT[36:52]
    assert a["http.route"] == "/ws/{room}"
    assert a["url.scheme"] == "ws"
    assert a["network.protocol.name"] == "websocket"
    assert a["http.response.status_code"] == 101
    assert a["correlation.id"] == "chat-1"
    assert one(traced, "message").parent_span_id == server.span_id


def test_a_scrape_does_not_stall_the_event_loop(
    traced: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendering the metrics (with ``metrics_dir``: files written and read) runs off the event
    loop: a request that arrives during a slow scrape is answered before the scrape ends."""
    import time

    from crosstrace import _api

    def slow_metrics_text() -> str:
        time.sleep(0.5)
        return "# a slow render\n"

    monkeypatch.setattr(_api, "metrics_text", slow_metrics_text)
    app = fastapi.FastAPI()
    add_items(app)
    setup_tracing_middleware(app, metrics_route="/metrics")
    finished: list[str] = []

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def get(path: str) -> None:
                r = await client.get(path)
                assert r.status_code == 200
                finished.append(path)

            scrape = asyncio.ensure_future(get("/metrics"))
            await asyncio.sleep(0.05)
            await get("/items/1")
            await scrape

    asyncio.run(run())
    assert finished == ["/items/1", "/metrics"]
    # The request was traced; the scrape was not.
    assert [s.name for s in spans(traced)] == ["GET /items/{item_id}"]


def test_unknown_methods_are_other_and_name_no_span_or_series(traced: Collector) -> None:
    """A method outside the semantic conventions' list (a scanner's) is `_OTHER`, its span is
    named `HTTP` (with the route, when one matched), and it adds no metric series of its own."""
    app = fastapi.FastAPI()
    add_items(app)
    setup_tracing_middleware(app)
    client = TestClient(app)
    for method in ("SPDPYFRC", "QWERTY"):
        client.request(method, "/items/1")
        client.request(method, "/nothing")
    got = spans(traced)
    assert sorted({s.name for s in got}) == ["HTTP", "HTTP /items/{item_id}"]
    for s in got:
        a = attrs(s)
        assert a["http.request.method"] == "_OTHER"
        assert a["http.request.method_original"] in ("SPDPYFRC", "QWERTY")
    text = crosstrace.metrics_text()
    assert "SPDPYFRC" not in text and "QWERTY" not in text


def test_the_requests_baggage_is_the_apis_in_handlers(traced: Collector) -> None:
    """Baggage a request carries is where `opentelemetry.baggage` reads it in the handler (as
    an extraction through the API's propagator leaves it), and only for that request."""
    from opentelemetry import baggage

    app = fastapi.FastAPI()

    @app.get("/tenant")
    async def tenant() -> dict[str, Any]:
        return dict(baggage.get_all())

    setup_tracing_middleware(app)
    client = TestClient(app)
    r = client.get("/tenant", headers={"baggage": "tenant=acme"})
    assert r.json() == {"tenant": "acme"}
    assert client.get("/tenant").json() == {}


def test_wrapping_an_app_directly_gives_one_named_server_span(traced: Collector) -> None:
    """`TracingMiddleware(app)` around a FastAPI app: one server span per request (FastAPI's own
    telemetry turned off, as setup_tracing_middleware does), named by the route template, a
    mount's prefix included."""
    from crosstrace.fastapi_integration import TracingMiddleware

    app = fastapi.FastAPI()
    sub = fastapi.FastAPI()

    @sub.get("/things/{tid}")
    async def thing(tid: int) -> dict[str, int]:
        return {"id": tid}

    app.mount("/sub", sub)
    add_items(app)
    client = TestClient(TracingMiddleware(app))
    assert client.get("/sub/things/1").status_code == 200
    assert client.get("/items/2").status_code == 200
    got = spans(traced)
    assert sorted(s.name for s in got) == ["GET /items/{item_id}", "GET /sub/things/{tid}"]
    assert all(s.kind == SERVER for s in got)


def test_a_wrapped_app_with_a_root_path_or_mounted_elsewhere_names_its_spans(
    traced: Collector,
) -> None:
    """`TracingMiddleware(app)` names spans by the wrapped app's routes: under the app's own
    `root_path`, and when the wrapped app is mounted in another."""
    from crosstrace.fastapi_integration import TracingMiddleware

    api = fastapi.FastAPI(root_path="/api")

    @api.get("/x/{y}")
    async def x(y: int) -> dict[str, int]:
        return {"y": y}

    assert TestClient(TracingMiddleware(api)).get("/api/x/1").status_code == 200
    from starlette.applications import Starlette
    from starlette.routing import Mount

    sub = fastapi.FastAPI()
    add_items(sub)
    # (A plain Starlette app outside: no server span of its own.)
    outer = Starlette(routes=[Mount("/sub", app=TracingMiddleware(sub))])
    assert TestClient(outer).get("/sub/items/3").status_code == 200
    assert sorted(s.name for s in spans(traced)) == ["GET /items/{item_id}", "GET /x/{y}"]


def test_an_app_traced_twice_gives_one_server_span(traced: Collector) -> None:
    """The same app under setup_tracing_middleware and wrapped again (or wrapped twice): the
    outer middleware's span only, not two sibling server spans."""
    from crosstrace.fastapi_integration import TracingMiddleware

    app = fastapi.FastAPI()
    add_items(app)
    setup_tracing_middleware(app)
    client = TestClient(TracingMiddleware(TracingMiddleware(app)))
    assert client.get("/items/3", headers={"traceparent": TRACEPARENT}).status_code == 200
    got = spans(traced)
    assert [s.name for s in got] == ["GET /items/{item_id}"]
