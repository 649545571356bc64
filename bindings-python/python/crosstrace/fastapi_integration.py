"""The specification's FastAPI integration: ``setup_tracing_middleware``.

An ASGI middleware that gives each request (and each WebSocket connection) a server span named by
its route template, mount prefixes included, with the HTTP semantic-convention attributes;
continues the caller's trace (traceparent / b3 / jaeger / baggage) and correlation
(X-Correlation-ID, generated when absent and returned on the response, exactly once); skips
``exclude_paths``; optionally records a bounded, textual request body. Header values such as
Authorization, Cookie and Set-Cookie are never recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context

from . import _api, _native

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_CORRELATION_HEADER = b"x-correlation-id"
# The messages that start a response, and so carry its headers: an HTTP response, a WebSocket
# handshake's acceptance, and a WebSocket handshake's denial response (the ASGI extension).
_RESPONSE_STARTS = ("http.response.start", "websocket.accept", "websocket.http.response.start")


# The request methods of the HTTP semantic conventions (RFC 9110's and PATCH, QUERY); any other
# is recorded as `_OTHER` (the method as sent in `http.request.method_original`) and named
# `HTTP`, so that a scanner's invented methods become neither span names nor metric series.
# The scope key an outer TracingMiddleware sets: an inner one (the same app wrapped twice, or a
# mounted app with its own middleware) adds no second server span.
_TRACED = "crosstrace.server_span"
_KNOWN_METHODS = frozenset(
    ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY")
)


def _path_in_app(scope: Scope, root: str) -> str:
    """The request's path within the application: without the ``root_path`` it is served under
    (``FastAPI(root_path="/api")`` or a proxy's prefix), as Starlette's routing matches it. A
    path that does not start with the root path (the proxy already removed it) is that path."""
    path: str = scope.get("path", "/")
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    if not rest:
        return "/"
    return rest if rest.startswith("/") else path


def _candidates(routes: Iterable[Any]) -> Iterable[tuple[Any, Any]]:
    """Each route as (what matches, the route itself). FastAPI >= 0.137 keeps an included
    router's routes in the router, their paths without its prefix: its ``iter_route_contexts``
    gives each with its whole path (what the OpenTelemetry FastAPI instrumentation reads)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return ((route, route) for route in routes)
    return ((ctx, ctx.original_route) for ctx in iter_route_contexts(list(routes)))


def _match_template(routes: Iterable[Any], scope: Scope) -> str | None:
    """The template of the route ``scope`` matches among ``routes``, as Starlette's router
    chooses it (the first full match, else the first partial one: a 405), through mounts:
    each mount's template, then the template matched inside it. None when nothing matches (a
    mounted router that matches nothing is a 404 too)."""
    try:
        from starlette.routing import Host, Match, Mount
    except ImportError:
        return None
    chosen: tuple[Any, Any, Any] | None = None
    for candidate, route in _candidates(routes):
        try:
            match, child = candidate.matches(scope)
        except Exception:  # noqa: BLE001 (a route that cannot match is not ours to fix)
            continue
        if match == Match.FULL:
            chosen = (candidate, route, child)
            break
        if match == Match.PARTIAL and chosen is None:
            chosen = (candidate, route, child)
    if chosen is None:
        return None
    candidate, route, child = chosen
    prefix = str(getattr(candidate, "path", "") or "")
    if isinstance(route, (Mount, Host)):
        inner = route.routes
        if not inner:
            # A mounted ASGI app without routes (StaticFiles, say): the mount is the route.
            return prefix or None
        rest = _match_template(inner, {**scope, **child})
        return prefix + rest if rest else None
    return prefix or None


def _route_template(app: Any, scope: Scope, root_path: str) -> str | None:
    """The template of the route that handled the request, within the application. The one
    the router recorded (``scope["route"]``) when it is one of the application's own routes.
    Otherwise its path may lack a prefix: a mount's routes record their own templates (the
    mount's child scope moves ``root_path`` on), and so do an included router's on FastAPI >=
    0.137. Then the request is matched again from the application's routes, prefixes kept:
    ``/v1/users/{id}`` and ``/v2/users/{id}`` stay two routes."""
    route = scope.get("route")
    routes = getattr(app, "routes", None) or ()
    if route is not None and scope.get("root_path", "") == root_path:
        path = getattr(route, "path", None)
        if path and (app is None or any(r is route for r in routes)):
            return str(path)
    if app is None:
        return None
    return _match_template(routes, {**scope, "root_path": root_path})


def _exception_type(e: BaseException) -> str:
    """``error.type``: the exception's type, module-qualified outside builtins."""
    cls = type(e)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _normal_close(e: BaseException) -> bool:
    """A WebSocket the client closed normally (1000, 1001): the connection's end, no failure."""
    return type(e).__name__ == "WebSocketDisconnect" and getattr(e, "code", None) in (1000, 1001)


def _valid_correlation_id(value: str) -> bool:
    try:
        _native.validate_correlation_id(value)
    except Exception:  # noqa: BLE001 (InvalidArgumentError or a TypeError: not an id)
        return False
    return True


def _with_correlation_header(
    headers: Iterable[tuple[bytes, bytes]] | None, request_id: str
) -> tuple[list[tuple[bytes, bytes]], str]:
    """The response's headers with exactly one X-Correlation-ID, and its value. The handler's
    own (the first, if it set several) wins when it is a valid correlation id: the application
    chose it. Otherwise the request's (received or generated), which one that crosstrace refuses
    (see ``validate_correlation_id``) replaces, since a caller could never continue it."""
    out: list[tuple[bytes, bytes]] = []
    own: bytes | None = None
    for name, value in headers or ():
        if name.lower() == _CORRELATION_HEADER:
            if own is None:
                own = value
            continue
        out.append((name, value))
    chosen = request_id
    if own is not None:
        text = own.decode("latin-1").strip()
        if _valid_correlation_id(text):
            chosen = text
    out.append((_CORRELATION_HEADER, chosen.encode("latin-1")))
    return out, chosen


class TracingMiddleware:
    """The ASGI middleware ``setup_tracing_middleware`` installs. It may also wrap any ASGI
    application directly: ``TracingMiddleware(app, ...)`` (a FastAPI or Starlette app wrapped so
    is quietened as ``setup_tracing_middleware`` does it, and its routes name the spans; only
    ``setup_tracing_middleware`` also sees the 500 of an exception no handler took)."""

    def __init__(
        self,
        app: ASGIApp,
        service_name: str | None = None,
        include_request_body: bool = False,
        exclude_paths: Iterable[str] = (),
        max_body_bytes: int | None = None,
        metrics_route: str | None = None,
    ) -> None:
        self.app = app
        # A Starlette or FastAPI application wrapped directly: its routes give the templates
        # (the scope names it only inside it), and its own server spans are turned off.
        self._routed = app if hasattr(app, "routes") else None
        self._quietened = False
        if self._routed is not None and callable(getattr(app, "build_middleware_stack", None)):
            _quieten(app)
        self.metrics_route = metrics_route
        self.service_name = service_name
        self.include_request_body = include_request_body
        self.exclude_paths = frozenset(exclude_paths)
        self.max_body_bytes = max_body_bytes

    def _root_path(self, scope: Scope) -> str:
        """The root path the request is served under: the scope's, else (an app wrapped
        directly, which sets its own in the scope only once called) the wrapped app's."""
        return scope.get("root_path") or str(getattr(self._routed, "root_path", "") or "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if (kind != "http" and kind != "websocket") or scope.get(_TRACED):
            await self.app(scope, receive, send)
            return
        if self._routed is not None and not self._quietened:
            # Apps mounted since the wrap are quietened too, before the first request.
            self._quietened = True
            _quieten(self._routed, itself=False)
        # Paths as the application's routes see them: without the root path.
        path = _path_in_app(scope, self._root_path(scope))
        if (
            self.metrics_route is not None
            and kind == "http"
            and path == self.metrics_route
            and scope.get("method", "GET") in ("GET", "HEAD")
        ):
            await _serve_metrics(scope, send)
            return
        if path in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        await self._traced(scope, receive, send)

    async def _traced(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = scope["type"] == "websocket"
        # What the routers will change in the scope (a mount's root_path, the app a mounted
        # application sets), as it was on the way in: the route template is found from them.
        app = self._routed or scope.get("app")
        root_path = self._root_path(scope)
        scope = {**scope, _TRACED: True}
        raw_headers = scope.get("headers") or []
        # The raw lines: a header received on several lines keeps all of them (tracestate and
        # baggage lines are one list; two traceparent lines are invalid).
        incoming = _api.extract(raw_headers)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        method = scope.get("method", "GET")
        known = method in _KNOWN_METHODS
        named = method if known else "HTTP"
        path = scope.get("path", "/")
        # extract() took X-Correlation-ID (or correlation.id from baggage) when valid; a request
        # without one gets a new id.
        cx = incoming if incoming.correlation_id else incoming.with_correlation()
        attributes: dict[str, Any] = {
            "url.path": path,
            "url.scheme": scope.get("scheme", "ws" if websocket else "http"),
        }
        if websocket:
            attributes["network.protocol.name"] = "websocket"
        elif known:
            attributes["http.request.method"] = method
        else:
            attributes["http.request.method"] = "_OTHER"
            attributes["http.request.method_original"] = method
        if scope.get("query_string"):
            # Recorded through the core's redaction policy (secret parameters' values, as every
            # `url.query` attribute is).
            attributes["url.query"] = scope["query_string"].decode("latin-1")
        server = scope.get("server")
        if server:
            attributes["server.address"] = server[0]
            if server[1] is not None:
                attributes["server.port"] = server[1]
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        if "user-agent" in headers:
            attributes["user_agent.original"] = headers["user-agent"]
        if self.service_name:
            attributes["service.component"] = self.service_name
        start_name = path if websocket else f"{named} {path}"
        span = _api.start_span(start_name, attributes, kind="server", parent=cx)
        request_id = cx.correlation_id or ""
        correlation_id = request_id
        content_type = headers.get("content-type", "")
        # The body's cap: the middleware's own, else the configuration's (max_body_bytes),
        # within the configuration's bound.
        config = _api.get_config()
        cap = self.max_body_bytes
        if cap is None:
            cap = config.max_body_bytes if config is not None else 0
        cap = max(0, min(cap, 65_536))
        record_body = self.include_request_body and cap > 0 and not websocket
        body = bytearray()
        # None until a response starts: a request that ends without one (cancelled, or failed
        # before anything was sent) has no status code to record.
        status_code: int | None = None

        async def receive_wrapper() -> Message:
            message = await receive()
            if record_body and message.get("type") == "http.request":
                room = cap - len(body)
                if room > 0:
                    body.extend(message.get("body", b"")[:room])
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code, correlation_id
            kind = message["type"]
            if kind in _RESPONSE_STARTS:
                # 101: what accepting a WebSocket handshake answers.
                status_code = 101 if kind == "websocket.accept" else message["status"]
                response_headers, correlation_id = _with_correlation_header(
                    message.get("headers"), request_id
                )
                message = {**message, "headers": response_headers}
            await send(message)

        failure: BaseException | None = None
        baggage_token = token = None
        try:
            # The baggage received, also where the OpenTelemetry API reads it in the handlers
            # (`opentelemetry.baggage`), as an extraction through the API's propagator leaves it.
            baggage_token = _mirror_baggage(cx)
            token = _api._attach_span(span, own_context=True)  # (its parent: the headers)
            await self.app(scope, receive_wrapper if record_body else receive, send_wrapper)
        except Exception as e:
            # An Exception, as crosstrace's own spans record them: not asyncio's CancelledError
            # (a cancelled request is no failure), KeyboardInterrupt or SystemExit; nor a
            # WebSocket its client closed normally.
            if not (websocket and _normal_close(e)):
                failure = e
                span.record_exception(e)
            raise
        finally:
            if token is not None:
                _api._detach(token)
            if baggage_token is not None:
                otel_context.detach(baggage_token)
            route = _route_template(app, scope, root_path)
            if route:
                span.update_name(route if websocket else f"{named} {route}")
                span.set_attribute("http.route", route)
            else:
                # No route matched (404s, scanners): the method alone, as the semantic
                # conventions say, so raw paths never become span names or metric series.
                span.update_name("websocket" if websocket else named)
            if status_code is not None:
                span.set_attribute("http.response.status_code", status_code)
            if correlation_id != request_id:
                # The handler's own X-Correlation-ID, which the response carries.
                span.set_attribute("correlation.id", correlation_id)
            if failure is not None:
                span.set_attribute("error.type", _exception_type(failure))
            elif status_code is not None and status_code >= 500:
                span.set_attribute("error.type", str(status_code))
                span.set_status("error", f"HTTP {status_code}")
            if body:
                # Redacted by the core's policy (JSON, form and multipart fields; a binary body
                # is not recorded), then cut to the cap.
                text = _native.redact_body(content_type, bytes(body), cap)
                if text is not None:
                    span.set_attribute("http.request.body", text)
            span.end()


async def _serve_metrics(scope: Scope, send: Send) -> None:
    """The span metrics in the Prometheus text format (not traced: scrapes would drown the
    service's own traffic). Rendered on a worker thread: with ``metrics_dir`` it writes this
    process's file and reads every other one (tens of ms at thousands of series), which must not
    stall the event loop's other requests (the render lets go of the GIL)."""
    try:
        import anyio.to_thread
    except ImportError:  # an ASGI app without Starlette's dependencies: asyncio's executor
        import asyncio

        text = await asyncio.get_running_loop().run_in_executor(None, _api.metrics_text)
    else:
        text = await anyio.to_thread.run_sync(_api.metrics_text)
    body = text.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", _api.PROMETHEUS_CONTENT_TYPE.encode("latin-1")),
                (b"content-length", str(len(body)).encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _mirror_baggage(cx: Any) -> Token[otel_context.Context] | None:
    """Makes the baggage of ``cx`` (extracted from a request) the OpenTelemetry API's current
    baggage too; the token to detach, or None when there is none."""
    received = cx.baggage()
    if not received:
        return None
    from .propagator import _with_mirrored_baggage

    return otel_context.attach(_with_mirrored_baggage(otel_context.get_current(), received))


def _mounted_apps(app: Any) -> Iterable[Any]:
    """The applications mounted in ``app`` (``app.mount``, ``Mount``, ``Host``), at any depth."""
    try:
        from starlette.routing import Host, Mount
    except ImportError:
        return
    pending = list(getattr(app, "routes", None) or ())
    seen: set[int] = set()
    while pending:
        route = pending.pop()
        if not isinstance(route, (Mount, Host)) or id(route) in seen:
            continue
        seen.add(id(route))
        # A mount's own middleware wraps its app; the application is the one it was given.
        yield getattr(route, "_base_app", route.app)
        pending.extend(route.routes)


def _leave_server_spans_to_crosstrace(app: Any) -> None:
    """Turns off what else would give ``app``'s requests a server span: the OpenTelemetry
    FastAPI instrumentation (auto-instrumentation applies it to every app made after
    ``setup_tracing``; or ``FastAPIInstrumentor.instrument_app`` by hand) and FastAPI's own
    telemetry (FastAPI >= 0.16x traces requests through the global tracer provider, which is
    crosstrace's once tracing is set up). Its metrics and logs, if configured, stay on."""
    if getattr(app, "_is_instrumented_by_opentelemetry", False):
        # uninstrument_app builds the middleware stack, after which Starlette refuses
        # add_middleware ("Cannot add middleware after an application has started"): an app
        # that had not started is left as it was, open to middleware.
        built = getattr(app, "middleware_stack", None)
        with contextlib.suppress(Exception):
            from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

            FastAPIInstrumentor.uninstrument_app(app)
        if built is None and hasattr(app, "middleware_stack"):
            app.middleware_stack = None
    for config in (
        getattr(app, "_telemetry", None),
        getattr(getattr(app, "_native_telemetry", None), "config", None),
    ):
        if isinstance(config, dict) and "tracing" in config:
            config["tracing"] = False


def _quieten(app: Any, itself: bool = True) -> None:
    """``_leave_server_spans_to_crosstrace`` for ``app`` (unless not ``itself``) and every app
    mounted in it."""
    if itself:
        _leave_server_spans_to_crosstrace(app)
    for mounted in _mounted_apps(app):
        _leave_server_spans_to_crosstrace(mounted)


def setup_tracing_middleware(
    app: Any,
    service_name: str | None = None,
    include_request_body: bool = False,
    exclude_paths: Iterable[str] = (),
    max_body_bytes: int | None = None,
    metrics_route: str | None = None,
) -> Any:
    """Adds crosstrace's tracing middleware to a FastAPI (or any Starlette) app, before it
    starts. It goes around the whole middleware stack, Starlette's error handling included (as
    the OpenTelemetry FastAPI instrumentation's does), so an unhandled exception's 500 is
    recorded and carries X-Correlation-ID like any response. If the OpenTelemetry FastAPI
    instrumentation instrumented the app (or an app mounted in it), or FastAPI's own telemetry
    would trace it, those are turned off for it: one server span per request.

    ``exclude_paths`` and ``metrics_route`` are paths within the app (without its root path).
    With ``metrics_route`` (e.g. ``"/metrics"``) the middleware also serves the span metrics
    there in the Prometheus text format. Called again, the new options replace the old."""
    if not callable(getattr(app, "build_middleware_stack", None)):
        raise TypeError(
            f"setup_tracing_middleware(app): expected a FastAPI or Starlette application, got "
            f"{type(app).__qualname__} (wrap another ASGI application in TracingMiddleware)"
        )
    if getattr(app, "middleware_stack", None) is not None:
        raise RuntimeError(
            f"setup_tracing_middleware(app): {type(app).__qualname__} has already started (its "
            "middleware stack is built); set up the middleware before the application serves"
        )
    _quieten(app)
    # The stack as the app builds it (uninstrumented), without this middleware: a second call
    # replaces the first.
    original = (
        getattr(app, "_crosstrace_build_middleware_stack", None) or app.build_middleware_stack
    )
    excluded = list(exclude_paths)

    def build_middleware_stack() -> ASGIApp:
        # Built as the app starts: apps mounted since setup are quietened too.
        _quieten(app, itself=False)
        return TracingMiddleware(
            original(),
            service_name=service_name,
            include_request_body=include_request_body,
            exclude_paths=excluded,
            max_body_bytes=max_body_bytes,
            metrics_route=metrics_route,
        )

    app._crosstrace_build_middleware_stack = original
    app.build_middleware_stack = build_middleware_stack
    return app


__all__ = ["TracingMiddleware", "setup_tracing_middleware"]
