"""The specification's FastAPI integration: ``setup_tracing_middleware``.

An ASGI middleware that gives each request a server span named by its route template, with the
HTTP semantic-convention attributes; continues the caller's trace (traceparent / b3 / jaeger /
baggage) and correlation (X-Correlation-ID, generated when absent and returned on the
response); skips ``exclude_paths``; optionally records a bounded, textual request body. Header
values such as Authorization, Cookie and Set-Cookie are never recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from . import _api, _native

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Content types whose bodies may be recorded (prefixes); anything else counts as binary.


def _route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    app = scope.get("app")
    if app is None:
        return None
    try:
        from starlette.routing import Match
    except ImportError:
        return None
    for r in getattr(app, "routes", []):
        try:
            match, _ = r.matches(scope)
        except Exception:  # noqa: BLE001 (a route that cannot match is not ours to fix)
            continue
        if match == Match.FULL:
            return str(getattr(r, "path", "")) or None
    return None


class TracingMiddleware:
    """The ASGI middleware ``setup_tracing_middleware`` installs."""

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
        self.metrics_route = metrics_route
        self.service_name = service_name
        self.include_request_body = include_request_body
        self.exclude_paths = frozenset(exclude_paths)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.metrics_route is not None
            and scope["type"] == "http"
            and scope.get("path") == self.metrics_route
            and scope.get("method", "GET") in ("GET", "HEAD")
        ):
            await _serve_metrics(scope, send)
            return
        if scope["type"] != "http" or scope.get("path") in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        raw_headers = scope.get("headers") or []
        # The raw lines: a header received on several lines keeps all of them (tracestate and
        # baggage lines are one list; two traceparent lines are invalid).
        incoming = _api.extract(raw_headers)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        method = scope.get("method", "GET")
        path = scope.get("path", "/")
        # extract() took X-Correlation-ID (or correlation.id from baggage) when valid; a request
        # without one gets a new id.
        cx = incoming if incoming.correlation_id else incoming.with_correlation()
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path,
            "url.scheme": scope.get("scheme", "http"),
        }
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
        span = _api.start_span(f"{method} {path}", attributes, kind="server", parent=cx)
        correlation_id = cx.correlation_id or ""
        content_type = headers.get("content-type", "")
        # The body's cap: the middleware's own, else the configuration's (max_body_bytes),
        # within the configuration's bound.
        config = _api.get_config()
        cap = self.max_body_bytes
        if cap is None:
            cap = config.max_body_bytes if config is not None else 0
        cap = max(0, min(cap, 65_536))
        record_body = self.include_request_body and cap > 0
        body = bytearray()
        status_code = 500

        async def receive_wrapper() -> Message:
            message = await receive()
            if record_body and message.get("type") == "http.request":
                room = cap - len(body)
                if room > 0:
                    body.extend(message.get("body", b"")[:room])
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                response_headers = list(message.get("headers", []))
                response_headers.append((b"x-correlation-id", correlation_id.encode("latin-1")))
                message = {**message, "headers": response_headers}
            await send(message)

        token = _api._attach_span(span, own_context=True)  # (its parent: the request's headers)
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except BaseException as e:
            span.record_exception(e)
            raise
        finally:
            _api._detach(token)
            route = _route_template(scope)
            if route:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            else:
                # No route matched (404s, scanners): the method alone, as the semantic
                # conventions say, so raw paths never become span names or metric series.
                span.update_name(method)
            span.set_attribute("http.response.status_code", status_code)
            if status_code >= 500:
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
    service's own traffic)."""
    body = _api.metrics_text().encode("utf-8")
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


def setup_tracing_middleware(
    app: Any,
    service_name: str | None = None,
    include_request_body: bool = False,
    exclude_paths: Iterable[str] = (),
    max_body_bytes: int | None = None,
    metrics_route: str | None = None,
) -> Any:
    """Adds crosstrace's tracing middleware to a FastAPI (or any Starlette) app. If the
    OpenTelemetry FastAPI instrumentation already instrumented the app, or FastAPI's own
    telemetry would trace it, those are turned off for this app: one server span per request.
    With ``metrics_route`` (e.g. ``"/metrics"``) the middleware also serves the span metrics
    there in the Prometheus text format."""
    if getattr(app, "_is_instrumented_by_opentelemetry", False):
        with contextlib.suppress(Exception):
            from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

            FastAPIInstrumentor.uninstrument_app(app)
    # FastAPI >= 0.16x traces requests itself through the global tracer provider (crosstrace's,
    # once tracing is set up): that would be a second server span per request.
    for config in (
        getattr(app, "_telemetry", None),
        getattr(getattr(app, "_native_telemetry", None), "config", None),
    ):
        if isinstance(config, dict) and "tracing" in config:
            config["tracing"] = False
    app.add_middleware(
        TracingMiddleware,
        service_name=service_name,
        include_request_body=include_request_body,
        exclude_paths=list(exclude_paths),
        max_body_bytes=max_body_bytes,
        metrics_route=metrics_route,
    )
    return app


__all__ = ["TracingMiddleware", "setup_tracing_middleware"]
