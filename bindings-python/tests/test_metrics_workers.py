"""Span metrics of a multi-process server: a real FastAPI app under ``uvicorn --workers 4``
(four processes), 10,000 requests, then ``/metrics`` scraped several times. With
``CROSSTRACE_METRICS_DIR`` every scrape, whichever worker answers it, counts all 10,000;
without it a scrape counts only the spans of the worker that answered."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

WORKERS = 4
REQUESTS = 10_000
# Client threads, each on keep-alive connections it replaces every RECONNECT requests, so that
# the workers (which share the listening socket) each get some of them.
THREADS = 16
RECONNECT = 25
ROUTE = "/items/{item_id}"
SYNC_MS = 200

APP = textwrap.dedent(
    """
    import os

    from fastapi import FastAPI

    import crosstrace
    from crosstrace.fastapi_integration import setup_tracing_middleware

    crosstrace.setup_tracing()  # from the environment: CROSSTRACE_METRICS_DIR, ...
    app = FastAPI()

    @app.get("/ready")
    async def ready() -> dict[str, int]:
        return {"pid": os.getpid()}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id, "pid": os.getpid()}

    setup_tracing_middleware(app, service_name="workers-api", metrics_route="/metrics")
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, tmp: Path, metrics_dir: Path | None) -> None:
        (tmp / "workers_app.py").write_text(APP)
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROSSTRACE_"))}
        env.update(
            OTEL_BACKEND="none",
            OTEL_SERVICE_NAME="workers-api",
            OTEL_AUTO_INSTRUMENT="false",
            CROSSTRACE_METRICS_SYNC_INTERVAL=str(SYNC_MS),
        )
        if metrics_dir is not None:
            env["CROSSTRACE_METRICS_DIR"] = str(metrics_dir)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "workers_app:app",
                "--workers",
                str(WORKERS),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=tmp,
            env=env,
        )
        # Requests to the route each worker (by pid) served.
        self.served: Counter[int] = Counter()

    def get(self, path: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            if conn is None:
                c.close()

    def wait_ready(self) -> None:
        """Until the workers answer (several of them: new connections go to any)."""
        deadline = time.time() + 60
        seen: set[int] = set()
        while time.time() < deadline and len(seen) < WORKERS:
            assert self.proc.poll() is None, "uvicorn exited"
            try:
                status, body = self.get("/ready")
                if status == 200:
                    seen.add(json.loads(body)["pid"])
            except OSError:
                time.sleep(0.1)
        assert len(seen) >= 2, f"only {len(seen)} worker(s) answered"

    def load(self, n: int) -> Counter[int]:
        """`n` requests to the route; how many each worker (by pid) served."""
        per_thread = [n // THREADS + (1 if i < n % THREADS else 0) for i in range(THREADS)]

        def run(count: int) -> Counter[int]:
            served: Counter[int] = Counter()
            conn = None
            for i in range(count):
                if i % RECONNECT == 0:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                status, body = self.get(f"/items/{i}", conn)
                assert status == 200
                served[json.loads(body)["pid"]] += 1
            if conn is not None:
                conn.close()
            return served

        total: Counter[int] = Counter()
        with ThreadPoolExecutor(THREADS) as pool:
            for served in pool.map(run, per_thread):
                total.update(served)
        self.served.update(total)
        return total

    def route_total(self) -> float:
        """The server spans of the route counted by the `/metrics` of whichever worker answers
        (a new connection each time), summed over the route's series (every status)."""
        status, body = self.get("/metrics")
        assert status == 200
        return sum(
            s.value
            for f in text_string_to_metric_families(body.decode())
            for s in f.samples
            if s.name == "traces_total"
            and s.labels.get("http_route") == ROUTE
            and s.labels.get("span_kind") == "server"
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


Serve = Callable[[Path | None], Server]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    servers: list[Server] = []

    def start(metrics_dir: Path | None) -> Server:
        s = Server(tmp_path, metrics_dir)
        servers.append(s)
        s.wait_ready()
        return s

    yield start
    for s in servers:
        s.stop()


def test_every_scrape_counts_every_workers_spans_with_a_metrics_dir(
    serve: Serve, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    server = serve(metrics_dir)
    started = time.perf_counter()
    served = server.load(REQUESTS)
    elapsed = time.perf_counter() - started
    print(f"{REQUESTS} requests in {elapsed:.1f} s; served by pid: {dict(served)}")
    assert sum(served.values()) == REQUESTS
    assert len(served) >= 2, f"one worker served everything: {served}"
    # Each worker writes its file every SYNC_MS (and the answering one before it renders).
    time.sleep(3 * SYNC_MS / 1000)
    scrapes = [server.route_total() for _ in range(12)]
    print(f"scrapes: {scrapes}")
    assert scrapes == [REQUESTS] * len(scrapes)
    files = sorted(p.name for p in metrics_dir.iterdir() if p.suffix == ".ctm")
    assert len(files) == WORKERS, files

    # A worker that exits keeps counting: its file stays (prometheus_client's multiprocess rule).
    server.stop()
    dead = serve(metrics_dir)
    time.sleep(3 * SYNC_MS / 1000)
    assert dead.route_total() == REQUESTS


def test_without_a_metrics_dir_a_scrape_sees_one_workers_spans(serve: Serve) -> None:
    server = serve(None)
    served = server.load(REQUESTS)
    print(f"served by pid: {dict(server.served)}")
    assert len(served) >= 2, f"one worker served everything: {served}"
    time.sleep(0.5)  # (a span ends just after its response is sent)
    # Each scrape counts exactly the spans of the worker that answered it, never all of them.
    for _ in range(4):
        total = server.route_total()
        print(f"a scrape counted {total:.0f} of {sum(server.served.values())}")
        assert total < REQUESTS
        assert total in server.served.values(), (total, server.served)
