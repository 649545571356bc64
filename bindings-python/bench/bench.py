"""`make bench` for Python: per-span cost of crosstrace beside the official opentelemetry-sdk in
one run (same interpreter), on what applications do: a fresh attribute dict per span (3
attributes with one-letter keys, 3 with longer keys, 20), a with-block span, the OpenTelemetry
API's tracer, nested spans, a decorated function, sampled out (span metrics on, the default) and
end to end with OTLP/HTTP export to a local endpoint.

Time: wall and process CPU (the export threads count) per span; each library runs in a fresh
interpreter per turn, the two in turns (TURNS of each), each turn the best of ROUNDS; the best
turn counts. (This VM's speed drifts by tens of percent between seconds: turns side by side
compare the two under the same conditions.)

Instructions (`bench.py instructions HELPER`, which scripts/python.sh runs): each library's
interpreter under callgrind, one scenario after another; per scenario a warm-up, then
callgrind's counters are zeroed, N_IR spans are made and flushed, and the counters dumped
(HELPER is a small C library issuing callgrind's client requests). All threads count. Printed
per span."""

from __future__ import annotations

import glob
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

N = 20_000
N_IR = 4_000
ROUNDS = 3
TURNS = 3


def attrs_short(i: int) -> dict[str, Any]:
    """3 attributes, one-letter keys: a string, an integer, a boolean."""
    return {"s": "berlin-01", "i": i, "b": True}


def attrs3(i: int) -> dict[str, Any]:
    """3 attributes with the keys applications use."""
    return {"order.id": i, "store": "berlin-01", "express": True}


def attrs20(i: int) -> dict[str, Any]:
    """20 attributes as a request handler writes them (a dict display; the Rust bench's 20):
    strings, integers, a float and a boolean, short and long keys."""
    return {
        "http.request.method": "POST",
        "url.path": "/api/orders",
        "url.scheme": "https",
        "server.address": "orders.internal",
        "server.port": 8443,
        "http.response.status_code": 201,
        "http.route": "/api/orders",
        "user_agent.original": "retail-storefront/2.4",
        "client.address": "10.1.2.3",
        "network.protocol.version": "1.1",
        "order.id": i,
        "order.total": 129.95,
        "order.items": 4,
        "store": "berlin-01",
        "express": True,
        "customer.tier": "gold",
        "payment.method": "card",
        "db.system.name": "postgresql",
        "db.collection.name": "orders",
        "etl.stage": "silver",
    }


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


# A scenario: (run(n) making n spans, flush(), close()) for one library.
Runner = tuple[Callable[[int], None], Callable[[], None], Callable[[], None]]


def crosstrace_scenario(scenario: str, endpoint: str) -> Runner:
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

    tracer: Any = None
    if scenario == "otel_api":
        from crosstrace.otel import TracerProvider

        tracer = TracerProvider().get_tracer("bench")

    def run(n: int) -> None:
        if scenario in ("span", "sampled_out", "otlp"):
            for i in range(n):
                ct.start_span("checkout", attrs3(i)).end()
        elif scenario == "span_short":
            for i in range(n):
                ct.start_span("checkout", attrs_short(i)).end()
        elif scenario == "span20":
            for i in range(n):
                ct.start_span("checkout", attrs20(i)).end()
        elif scenario == "current":
            for i in range(n):
                with ct.create_span("checkout", attrs3(i)):
                    pass
        elif scenario == "otel_api":
            for i in range(n):
                with tracer.start_as_current_span("checkout", attributes=attrs3(i)):
                    pass
        elif scenario == "nested":
            for i in range(n // 2):
                with ct.create_span("parent"):
                    ct.start_span("child", attrs3(i)).end()
        elif scenario == "decorated":
            for _ in range(n):
                work()

    return run, lambda: ct.force_flush(60), lambda: ct.shutdown_tracing(60)


def sdk_scenario(scenario: str, endpoint: str) -> Runner:
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

    def run(n: int) -> None:
        if scenario in ("span", "sampled_out", "otlp"):
            for i in range(n):
                tracer.start_span("checkout", attributes=attrs3(i)).end()
        elif scenario == "span_short":
            for i in range(n):
                tracer.start_span("checkout", attributes=attrs_short(i)).end()
        elif scenario == "span20":
            for i in range(n):
                tracer.start_span("checkout", attributes=attrs20(i)).end()
        elif scenario in ("current", "otel_api"):
            for i in range(n):
                with tracer.start_as_current_span("checkout", attributes=attrs3(i)):
                    pass
        elif scenario == "nested":
            for i in range(n // 2):
                with tracer.start_as_current_span("parent"):
                    tracer.start_span("child", attributes=attrs3(i)).end()
        elif scenario == "decorated":
            for _ in range(n):
                work()

    return run, lambda: provider.force_flush(60_000), provider.shutdown


def harness_scenario(scenario: str, endpoint: str) -> Runner:
    """Each scenario's loop with no tracing: the attribute dicts built, the function called,
    nothing else. What both libraries' counts include; the floor under any library's."""

    def work() -> None:
        pass

    def run(n: int) -> None:
        if scenario in ("span", "sampled_out", "otlp", "current", "otel_api"):
            for i in range(n):
                attrs3(i)
        elif scenario == "span_short":
            for i in range(n):
                attrs_short(i)
        elif scenario == "span20":
            for i in range(n):
                attrs20(i)
        elif scenario == "nested":
            for i in range(n // 2):
                attrs3(i)
        elif scenario == "decorated":
            for _ in range(n):
                work()

    return run, lambda: None, lambda: None


def scenario_of(lib: str) -> Callable[[str, str], Runner]:
    return {
        "crosstrace": crosstrace_scenario,
        "sdk": sdk_scenario,
        "harness": harness_scenario,
    }[lib]


def run_time(lib: str, scenario: str, endpoint: str) -> tuple[float, float]:
    run, flush, _ = scenario_of(lib)(scenario, endpoint)
    return measure(lambda: run(N), flush)


def run_ir(lib: str, helper: str) -> None:
    """In an interpreter under callgrind: each scenario's instructions, dumped per scenario."""
    import ctypes

    grind = ctypes.CDLL(helper)
    grind.ct_dump.argtypes = [ctypes.c_char_p]
    for scenario in IR_SCENARIOS:
        run, flush, close = scenario_of(lib)(scenario, "")
        run(N_IR // 4)  # warm-up: caches, interned keys, the export thread started
        flush()
        grind.ct_zero()
        run(N_IR)
        flush()
        grind.ct_dump(scenario.encode())
        close()  # no export thread of an earlier scenario runs into the next one's count


SCENARIOS = {
    "span_short": "span + 3 attributes (s, i, b), fresh dict",
    "span": "span + 3 attributes (longer keys), fresh dict",
    "span20": "span + 20 attributes, fresh dict",
    "current": "with-block span + 3 attributes",
    "otel_api": "with-block through the OpenTelemetry API",
    "nested": "nested parent + child (per span)",
    "decorated": "decorated function",
    "sampled_out": "sampled out (span metrics on)",
    "otlp": "end to end, OTLP/HTTP to a local endpoint",
}
# Instruction counts: every scenario but the export to a local endpoint (whose server, in the same
# process, would be counted too).
IR_SCENARIOS = [s for s in SCENARIOS if s != "otlp"]


def callgrind_totals(prefix: str) -> dict[str, int]:
    """Each dump's label and total instructions, from the files callgrind wrote at `prefix`."""
    out = {}
    for path in glob.glob(prefix + ".*"):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        label = re.search(r"^desc: Trigger: Client Request: (\S+)", text, re.M)
        total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if label and total:
            out[label[1]] = int(total[1])
    return out


def instructions(helper: str) -> None:
    """Runs each library's interpreter under callgrind and prints instructions per span."""
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lib in ("crosstrace", "sdk", "harness"):
            prefix = os.path.join(tmp, lib)
            subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--collect-atstart=yes",
                    f"--callgrind-out-file={prefix}.%p",
                    sys.executable,
                    __file__,
                    "ir",
                    lib,
                    helper,
                ],
                check=True,
                capture_output=True,
            )
            counts[lib] = callgrind_totals(prefix)
    print(
        f"instructions per span (callgrind, all threads; {N_IR} spans after a warm-up,"
        " flush included)"
    )
    print(
        f"{'scenario':<49} {'crosstrace':>12} {'opentelemetry-sdk':>18} {'sdk/ct':>8}"
        f" {'loop alone':>11} {'without it':>11}"
    )
    for scenario in IR_SCENARIOS:
        ct, sdk, loop = (counts[lib][scenario] / N_IR for lib in ("crosstrace", "sdk", "harness"))
        print(
            f"IR {SCENARIOS[scenario]:<46} {ct:12,.0f} {sdk:18,.0f} {sdk / ct:7.1f}x"
            f" {loop:11,.0f} {(sdk - loop) / max(ct - loop, 1):10.1f}x"
        )
    print(
        "(loop alone: the scenario's loop building its attribute dicts, no tracing; both"
        " libraries' counts include it. without it: the ratio of what each library adds.)"
    )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "ir":  # under callgrind: one library's counts
        run_ir(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "instructions":
        instructions(sys.argv[2])
        return
    if len(sys.argv) == 4:  # a child run: one library, one scenario, in a fresh interpreter
        lib, scenario, endpoint = sys.argv[1:]
        wall, cpu = run_time(lib, scenario, endpoint)
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
    print("goal: at least 20x cheaper per span (issue 24's rows), 20x end to end with export")


if __name__ == "__main__":
    main()
