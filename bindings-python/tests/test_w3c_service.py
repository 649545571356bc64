"""The W3C Trace Context conformance service (bindings-python/conformance/w3c_service.py),
driven as the W3C suite drives it — a POST carrying the header lines under test and a list of
callbacks, each of which the service must call with the context propagated — through all three
entry points: crosstrace.extract on the raw ASGI lines, the FastAPI middleware, and the
official OpenTelemetry instrumentations on crosstrace. The cases are this project's own (the
suite itself is not part of the repository); tests/vectors cover the header rules one by one."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SERVICE = Path(__file__).parents[1] / "conformance" / "w3c_service.py"
TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
LONG_KEY = "t" * 241 + "@" + "v" * 14  # valid; OpenTelemetry's TraceState refuses it


class Callbacks:
    """A loopback server that records the header lines of every callback, by path."""

    def __init__(self) -> None:
        self.seen: dict[str, list[list[tuple[str, str]]]] = {}
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("content-length") or 0))
                seen.setdefault(self.path, []).append(list(self.headers.items()))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def callbacks() -> Iterator[Callbacks]:
    c = Callbacks()
    yield c
    c.server.shutdown()


@pytest.fixture(scope="module", params=["extract", "fastapi", "otel"])
def service(request: pytest.FixtureRequest) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVICE), "--entry", request.param, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def drive(
    service: str, callbacks: Callbacks, lines: list[tuple[str, str]], n: int = 2
) -> list[list[tuple[str, str]]]:
    """POSTs `lines` (repeated names sent as repeated lines) with `n` callbacks; returns each
    callback's header lines."""
    scope = f"/{time.monotonic_ns()}"
    actions = [{"url": f"{callbacks.url}{scope}.{i}", "arguments": []} for i in range(n)]
    body = json.dumps(actions).encode()
    conn = http.client.HTTPConnection(service, timeout=10)
    conn.putrequest("POST", "/test")
    for k, v in lines:
        conn.putheader(k, v)
    conn.putheader("content-type", "application/json")
    conn.putheader("content-length", str(len(body)))
    conn.endheaders(body)
    assert conn.getresponse().status == 200
    conn.close()
    return [callbacks.seen[f"{scope}.{i}"][0] for i in range(n)]


def one(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name]


def parents(got: list[list[tuple[str, str]]]) -> list[tuple[str, str, str]]:
    out = []
    for headers in got:
        [tp] = one(headers, "traceparent")
        m = TP.match(tp)
        assert m, tp
        out.append((m[1], m[2], m[3]))
    assert len({p for _, p, _ in out}) == len(out), "a new parent id per callback"
    return out


def test_repeated_tracestate_lines_and_the_random_flag_pass_on(
    service: str, callbacks: Callbacks
) -> None:
    got = drive(
        service,
        callbacks,
        [
            ("traceparent", f"00-{TRACE}-{PARENT}-03"),
            ("tracestate", "rojo=00f067aa0ba902b7"),
            ("TraceState", f"foo@@bar=1,{LONG_KEY}=2"),
        ],
    )
    for trace, parent, flags in parents(got):
        assert (trace, flags) == (TRACE, "03")
        assert parent != PARENT
    for headers in got:
        assert one(headers, "tracestate") == [f"rojo=00f067aa0ba902b7,foo@@bar=1,{LONG_KEY}=2"]


def test_two_traceparent_lines_start_a_new_trace(service: str, callbacks: Callbacks) -> None:
    got = drive(
        service,
        callbacks,
        [
            ("traceparent", f"00-{TRACE}-{PARENT}-01"),
            ("traceparent", f"00-{TRACE[:-1]}d-{PARENT}-01"),
            ("tracestate", "foo=1"),
        ],
    )
    for trace, _, flags in parents(got):
        assert trace not in (TRACE, TRACE[:-1] + "d")
        assert flags == "03", "a trace id made here is random"
    assert all(not one(h, "tracestate") for h in got)


def test_an_invalid_member_drops_the_tracestate_not_the_parent(
    service: str, callbacks: Callbacks
) -> None:
    got = drive(
        service,
        callbacks,
        [("traceparent", f"00-{TRACE}-{PARENT}-00"), ("tracestate", "foo=,bar=3")],
    )
    for trace, _, flags in parents(got):
        assert (trace, flags) == (TRACE, "00")
    assert all(not one(h, "tracestate") for h in got)


def test_no_headers_give_a_new_random_sampled_trace(service: str, callbacks: Callbacks) -> None:
    got = drive(service, callbacks, [], n=3)
    traces = {t for t, _, f in parents(got) if f == "03"}
    assert len(traces) == 1, "one new trace, random and sampled, for every callback"
