"""No secret leaves the process: a request carrying secrets in its headers, query string and
body (JSON, form, multipart), an instrumented HTTP call to a URL with credentials, and an
exporter endpoint with userinfo. Every secret contains ``S3CR3T``; none may appear in an
exported span, a log line on stderr, or the health report."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import FastAPI, Request
from test_integrations import free_port

import crosstrace
from conftest import Collector, attrs
from crosstrace.fastapi_integration import setup_tracing_middleware

QUERY = (
    "password=S3CR3T-q1&token=S3CR3T-q2&access_token=S3CR3T-q3&refresh_token=S3CR3T-q4"
    "&sig=S3CR3T-q5&Signature=S3CR3T-q6&X-Goog-Signature=S3CR3T-q7&AWSAccessKeyId=S3CR3T-q8"
    "&api_key=S3CR3T-q9&apikey=S3CR3T-q10&session=S3CR3T-q11&auth=S3CR3T-q12&page=2"
)
HEADERS = {
    "Authorization": "Bearer S3CR3T-h1",
    "Cookie": "sid=S3CR3T-h2",
    "X-Api-Key": "S3CR3T-h3",
    "Proxy-Authorization": "Basic S3CR3T-h4",
}


@pytest.fixture
def api(collector: Collector) -> Iterator[str]:
    host, rest = collector.url.removeprefix("http://").split("/", 1)
    # The exporter's endpoint carries credentials and a secret query parameter of its own.
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            service_name="redaction",
            backend="otlp",
            endpoint=f"http://exporter:S3CR3T-e1@{host}/{rest}?api_key=S3CR3T-e2",
            otlp_protocol="http/protobuf",
            schedule_delay_millis=60_000,
        )
    )
    app = FastAPI()

    @app.post("/login")
    async def login(request: Request) -> dict[str, Any]:
        await request.body()
        # An instrumented call to a URL with credentials and a token.
        requests.get(f"http://svc:S3CR3T-c1@{host}/x?token=S3CR3T-c2", timeout=5)
        return {}

    setup_tracing_middleware(app, include_request_body=True)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_no_secret_reaches_a_span_a_log_line_or_health(
    api: str, collector: Collector, capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"{api}/login?{QUERY}"
    bodies: list[dict[str, Any]] = [
        {"json": {"user": "ann", "password": "S3CR3T-j1", "nested": {"token": "S3CR3T-j2"}}},
        {"data": {"user": "ann", "password": "S3CR3T-f1", "api_key": "S3CR3T-f2"}},
        {
            "data": {"user": "ann", "passwd": "S3CR3T-m1"},
            "files": {"upload": ("id.txt", b"S3CR3T-m2", "text/plain")},
        },
    ]
    for body in bodies:
        assert requests.post(url, headers=HEADERS, timeout=10, **body).status_code == 200
    # The middleware ends a request's span after the response has gone out: the client can
    # read the last response before its span has ended (seen once, under load).
    deadline = time.time() + 10
    while True:
        crosstrace.force_flush()
        spans = [s for s, _ in collector.spans()]
        servers = [s for s in spans if s.kind == 2]  # SPAN_KIND_SERVER: the middleware's
        if len(servers) >= 3 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(servers) == 3
    for s in spans:
        for k, v in attrs(s).items():
            assert "S3CR3T" not in str(v), (s.name, k, v)
        for e in s.events:
            assert "S3CR3T" not in str(e), s.name
        assert "S3CR3T" not in s.status.message
    # Recorded, with the secrets' values replaced (the reader sees what was sent).
    recorded = [attrs(s).get("http.request.body", "") for s in servers]
    assert any('"password":"REDACTED"' in b.replace(" ", "") for b in recorded), recorded
    assert any("password=REDACTED" in b for b in recorded), recorded
    assert all("page=2" in attrs(s)["url.query"] for s in servers)
    # The exporter's credentials authenticated the export and are in no log line or report.
    auth = [v for h in collector.headers for k, v in h.items() if k.lower() == "authorization"]
    assert auth and all(v.startswith("Basic ") for v in auth), auth
    health = json.dumps(crosstrace.get_tracing_health())
    assert "S3CR3T" not in health
    assert "REDACTED" in health


def test_export_errors_name_the_endpoint_without_its_secrets(
    capfd: pytest.CaptureFixture[str],
) -> None:
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            backend="otlp",
            endpoint=f"http://u:S3CR3T-x1@127.0.0.1:{free_port()}/v1/traces?token=S3CR3T-x2",
            otlp_protocol="http/protobuf",
            export_timeout_seconds=1.0,
        )
    )
    with crosstrace.create_span("lost"):
        pass
    crosstrace.force_flush()
    health = crosstrace.get_tracing_health()
    assert health["last_export_error"] is not None
    assert "S3CR3T" not in json.dumps(health)
    err = capfd.readouterr().err
    assert "export error" in err
    assert "S3CR3T" not in err
    with pytest.raises(crosstrace.ConfigError) as e:
        crosstrace.TracingConfig(endpoint="http://u:S3CR3T@collector:99999")
    assert "S3CR3T" not in str(e.value)


def test_redact_functions_apply_the_configured_policy() -> None:
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(backend="none", redact_keys=["default", "ssn"])
    )
    assert crosstrace._native.redact_query("ssn=1&q=2") == "ssn=REDACTED&q=2"
    assert crosstrace._native.redact_url("http://u:p@h/?token=t") == (
        "http://REDACTED:REDACTED@h/?token=REDACTED"
    )
    assert crosstrace._native.redact_body("image/png", b"\x89PNG") is None
    assert (
        crosstrace._native.redact_body("application/json", b'{"ssn":"1"}') == '{"ssn":"REDACTED"}'
    )


def test_vectors_redaction() -> None:
    """The shared redaction vectors through the native functions (the built-in policy)."""
    import pathlib

    crosstrace.setup_tracing(crosstrace.TracingConfig(backend="none"))
    vectors = pathlib.Path(__file__).parents[2] / "tests" / "vectors" / "redaction.json"
    n = crosstrace._native
    for case in json.loads(vectors.read_text())["cases"]:
        kind, given, want = case["kind"], case["input"], case["expect"]
        if kind == "url":
            assert n.redact_url(given) == want, case["name"]
        elif kind == "query":
            assert n.redact_query(given) == want, case["name"]
        elif kind == "text":
            assert n.redact_text(given) == want, case["name"]
        elif kind == "body":
            max_bytes = case.get("max_bytes", 1 << 16)
            got = n.redact_body(case["content_type"], given.encode(), max_bytes)
            assert got == want, case["name"]


def test_a_config_shown_hides_its_credentials() -> None:
    config = crosstrace.TracingConfig(
        backend="otlp",
        endpoint="https://user:S3CR3T-u@collector.example:4318/v1/traces?token=S3CR3T-t&tenant=a",
        headers={"x-api-key": "S3CR3T-k", "authorization": "Bearer S3CR3T-b"},
    )
    for shown in (repr(config), str(config), f"{config}"):
        assert "S3CR3T" not in shown, shown
        assert "collector.example:4318" in shown and "tenant=a" in shown, shown
        assert "'x-api-key': 'REDACTED'" in shown, shown
    # The config itself keeps them: export authenticates with them.
    assert config.headers["x-api-key"] == "S3CR3T-k"
    assert "S3CR3T-u" in (config.endpoint or "")
