"""`make bench` for Python: per-span cost of crosstrace beside the official opentelemetry-sdk in
one run (same interpreter): span with 3 attributes through batch export, nested spans, a
decorated function, sampled out, and end to end with OTLP/HTTP export to a local endpoint.
Wall and process CPU (the export threads count) per span: each library runs in a fresh
interpreter per turn, the two in turns (TURNS of each), each turn the best of ROUNDS; the best
turn counts. (This VM's speed drifts by tens of percent between seconds: turns side by side
compare the two under the same conditions.)"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
from typing import Any

N = 20_000
ROUNDS = 3
TURNS = 3
ATTRS = {"order.id": 12345, "store": "berlin-01", "express": True}


def sink() -> str:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1/traces"


def measure(run: Any, flush: Any, spans: int = N) -> tuple[float, float]:
    best = (float("inf"), float("inf"))
    for _ in range(ROUNDS):
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        flush()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        cost = (w / spans * 1e6, c / spans * 1e6)
        if cost[1] < best[1]:
            best = cost
    return best


def run_crosstrace(scenario: str, endpoint: str) -> tuple[float, float]:
    import crosstrace as ct

    backend = "otlp" if scenario == "otlp" else "none"
    ct.setup_tracing(
        ct.TracingConfig(
            backend=backend,
            endpoint=endpoint if backend == "otlp" else None,
            otlp_protocol="http/protobuf" if backend == "otlp" else None,
            sampling_rate=0.0 if scenario == "sampled_out" else 1.0,
            max_queue_size=65536,
            auto_instrument=False,
        )
    )

    @ct.trace_function(name="decorated")
    def work() -> None:
        pass

    def run() -> None:
        if scenario in ("span", "sampled_out", "otlp"):
            for _ in range(N):
                ct.start_span("checkout", ATTRS).end()
        elif scenario == "current":
            for _ in range(N):
                with ct.create_span("checkout", ATTRS):
                    pass
        elif scenario == "nested":
            for _ in range(N // 2):
                with ct.create_span("parent"):
                    ct.start_span("child", ATTRS).end()
        elif scenario == "decorated":
            for _ in range(N):
                work()

    return measure(run, lambda: ct.force_flush(60))


def run_sdk(scenario: str, endpoint: str) -> tuple[float, float]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    if scenario == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter: Any = OTLPSpanExporter(endpoint=endpoint)
    else:
        exporter = Discard()
    sampler = ParentBased(ALWAYS_OFF) if scenario == "sampled_out" else None
    provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65536))
    tracer = provider.get_tracer("bench")

    @tracer.start_as_current_span("decorated")
    def work() -> None:
        pass

    def run() -> None:
        if scenario in ("span", "sampled_out", "otlp"):
            for _ in range(N):
                tracer.start_span("checkout", attributes=ATTRS).end()
        elif scenario == "current":
            for _ in range(N):
                with tracer.start_as_current_span("checkout", attributes=ATTRS):
                    pass
        elif scenario == "nested":
            for _ in range(N // 2):
                with tracer.start_as_current_span("parent"):
                    tracer.start_span("child", attributes=ATTRS).end()
        elif scenario == "decorated":
            for _ in range(N):
                work()

    return measure(run, lambda: provider.force_flush(60_000))


SCENARIOS = {
    "span": "start_span + 3 attributes + end, batch export",
    "current": "as current span (with-block) + 3 attributes",
    "nested": "nested parent + child (per span)",
    "decorated": "decorated function",
    "sampled_out": "sampled out",
    "otlp": "end to end, OTLP/HTTP to a local endpoint",
}


def main() -> None:
    if len(sys.argv) == 4:  # a child run: one library, one scenario, in a fresh interpreter
        lib, scenario, endpoint = sys.argv[1:]
        wall, cpu = (run_crosstrace if lib == "crosstrace" else run_sdk)(scenario, endpoint)
        print(f"{wall} {cpu}")
        return
    endpoint = sink()
    print(
        f"per span, best of {TURNS} turns x {ROUNDS} rounds x {N}, in turns;"
        " wall / CPU in µs (CPU includes export threads)"
    )
    print(f"{'scenario':<46} {'crosstrace':>16} {'opentelemetry-sdk':>18} {'sdk/ct CPU':>11}")
    for scenario, label in SCENARIOS.items():
        results = {"crosstrace": (float("inf"), float("inf")), "sdk": (float("inf"), float("inf"))}
        for _ in range(TURNS):
            for lib in ("crosstrace", "sdk"):
                out = subprocess.run(
                    [sys.executable, __file__, lib, scenario, endpoint],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.split()
                got = (float(out[0]), float(out[1]))
                if got[1] < results[lib][1]:
                    results[lib] = got
        ct, sdk = results["crosstrace"], results["sdk"]
        print(
            f"{label:<46} {ct[0]:7.2f} / {ct[1]:6.2f} {sdk[0]:8.2f} / {sdk[1]:7.2f}"
            f" {sdk[1] / ct[1]:9.1f}x"
        )
    print("goal: at least 10x cheaper per span and 20x end to end with export")


if __name__ == "__main__":
    main()
