"""Runs the retail pipeline end to end and shows one order's trace across the four runtimes:

    storefront (WebAssembly, in Node) → ingestion API (Python, FastAPI) → bronze
      → ETL job (Python) → price normalisation (C) and inventory service (Rust) → silver, gold

Every process is configured from the same OTEL_* environment (default: the console backend).
With the console backend each process prints its own span trees; this script joins them — a
tree's local root names its remote parent — and prints the order's whole trace, each span
labelled with its service. With another backend (jaeger, otlp, zipkin) the spans go there and
the script prints the trace ids to look up.

Paths come from the environment (scripts/pipeline.sh sets them): WASM_PKG, INVENTORY_BIN,
PRICE_NORMALISE_LIB, CROSSTRACE_C_LIB; PIPELINE_WORKDIR (logs, SQLite), PIPELINE_ORDERS (3),
PIPELINE_SUMMARY (a JSON file with every order's trace and correlation id).

PIPELINE_FOLLOW=1 runs the ETL job beside the storefront (it picks up each order as it arrives)
instead of after it; PIPELINE_FAULTS=1 makes some orders fail or be slow (see storefront.mjs);
PIPELINE_ENDPOINTS=a,b,... gives the services OTLP endpoints in turn (a tier of collectors).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICES = ["storefront", "ingestion-api", "retail-etl", "price-normalise", "inventory-service"]
RUNTIMES = {
    "storefront": "wasm",
    "ingestion-api": "python",
    "retail-etl": "python",
    "price-normalise": "c",
    "inventory-service": "rust",
}


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports (all held open while choosing)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"{url} did not answer within {seconds} s") from None
            time.sleep(0.1)


@dataclass
class Node:
    service: str
    text: str
    span_id: str
    parent_id: str | None
    events: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


TRACE = re.compile(r"^(?:\[(?P<svc>[^\]]+)\] )?trace (?P<trace>[0-9a-f]{32})\s*$")
SPAN = re.compile(
    r"^(?P<indent>\s+)(?P<text>.*?) span=(?P<id>[0-9a-f]{16})"
    r"(?: parent=(?P<parent>[0-9a-f]{16}))?(?P<rest>.*)$"
)


def parse_console(text: str, default_service: str) -> dict[str, list[Node]]:
    """Every span printed by the console backend, by trace id (local roots keep the id of their
    remote parent)."""
    traces: dict[str, list[Node]] = {}
    service, trace, stack = default_service, None, []
    for line in text.splitlines():
        m = TRACE.match(line)
        if m:
            service, trace, stack = m["svc"] or default_service, m["trace"], []
            continue
        if trace is None:
            continue
        m = SPAN.match(line)
        if m:
            depth = len(m["indent"]) // 2
            node = Node(service, (m["text"] + m["rest"]).strip(), m["id"], m["parent"])
            del stack[depth - 1 :]
            if stack:
                node.parent_id = stack[-1].span_id
            stack.append(node)
            traces.setdefault(trace, []).append(node)
        elif line.strip().startswith("* ") and stack:
            stack[-1].events.append(line.strip())
    return traces


def join(nodes: list[Node]) -> tuple[list[Node], list[Node]]:
    """Links spans printed by different processes; returns (roots, orphans): roots have no
    parent, orphans name a parent nobody printed."""
    by_id = {n.span_id: n for n in nodes}
    roots, orphans = [], []
    for n in nodes:
        if n.parent_id is None:
            roots.append(n)
        elif n.parent_id in by_id:
            by_id[n.parent_id].children.append(n)
        else:
            orphans.append(n)
    return roots, orphans


def render(node: Node, depth: int = 0) -> list[str]:
    lines = [f"{'  ' * depth}{node.text}  ← {node.service} ({RUNTIMES.get(node.service, '?')})"]
    lines += [f"{'  ' * (depth + 1)}{e}" for e in node.events]
    for c in node.children:
        lines += render(c, depth + 1)
    return lines


class Pipeline:
    def __init__(self) -> None:
        self.work = Path(os.environ.get("PIPELINE_WORKDIR", "/tmp/crosstrace-pipeline"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.setdefault("OTEL_BACKEND", "console")
        # Short batches: the demo's processes are short-lived.
        self.env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "200")
        self.env.setdefault("PIPELINE_SQLITE", str(self.work / "retail-pipeline.db"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.api_metrics = ""

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def service_env(self, service: str, extra: dict[str, str]) -> dict[str, str]:
        env = {**self.env, "OTEL_SERVICE_NAME": service, **extra}
        endpoints = [e for e in os.environ.get("PIPELINE_ENDPOINTS", "").split(",") if e]
        if endpoints:
            env["OTEL_EXPORTER_ENDPOINT"] = endpoints[SERVICES.index(service) % len(endpoints)]
        return env

    def start(
        self, name: str, argv: list[str], service: str, **extra: str
    ) -> subprocess.Popen[bytes]:
        env = self.service_env(service, extra)
        with open(self.log(name), "wb") as out:  # the child keeps its own descriptor
            p = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=HERE)
        self.procs.append(p)
        return p

    def run(self, name: str, argv: list[str], service: str, **extra: str) -> int:
        env = self.service_env(service, extra)
        with open(self.log(name), "wb") as out:
            return subprocess.run(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=HERE, timeout=600
            ).returncode

    def main(self) -> int:
        if Path(self.env["PIPELINE_SQLITE"]).exists():
            Path(self.env["PIPELINE_SQLITE"]).unlink()
        orders = os.environ.get("PIPELINE_ORDERS", "3")
        inv_port, api_port = free_ports(2)
        inventory = f"http://127.0.0.1:{inv_port}"
        api = f"http://127.0.0.1:{api_port}"
        try:
            inv = self.start(
                "inventory-service",
                [os.environ["INVENTORY_BIN"]],
                "inventory-service",
                INVENTORY_PORT=str(inv_port),
            )
            # The API starts first and empties the tables (a database may be shared between runs).
            api_proc = self.start(
                "ingestion-api",
                [sys.executable, "api.py"],
                "ingestion-api",
                API_PORT=str(api_port),
                PIPELINE_RESET="1",
            )
            wait_http(f"{inventory}/report", inv, self.log("inventory-service"))
            wait_http(f"{api}/metrics", api_proc, self.log("ingestion-api"))
            print(f"inventory service (Rust) on {inventory}, ingestion API (Python) on {api}")
            job_id = time.strftime("job-%Y%m%d-%H%M%S")
            follow = os.environ.get("PIPELINE_FOLLOW") == "1"
            done = self.work / "storefront.done"
            ready = self.work / "storefront.done.ready"
            done.unlink(missing_ok=True)
            ready.unlink(missing_ok=True)
            etl = None
            if follow:
                etl = self.start(
                    "retail-etl",
                    [sys.executable, "etl.py", job_id],
                    "retail-etl",
                    INVENTORY_URL=inventory,
                    PIPELINE_FOLLOW=str(done),
                )
                deadline = time.time() + 60
                while not ready.exists():
                    if etl.poll() is not None or time.time() > deadline:
                        print(self.log("retail-etl").read_text(), file=sys.stderr)
                        raise RuntimeError("the following ETL job did not start")
                    time.sleep(0.05)
            rc = self.run(
                "storefront",
                ["node", "storefront.mjs", os.environ["WASM_PKG"], api, orders],
                "storefront",
            )
            done.touch()
            if rc != 0:
                print(self.log("storefront").read_text(), file=sys.stderr)
                raise RuntimeError(f"storefront failed ({rc})")
            if etl is not None:
                rc = etl.wait(600)
            else:
                rc = self.run(
                    "retail-etl",
                    [sys.executable, "etl.py", job_id],
                    "retail-etl",
                    INVENTORY_URL=inventory,
                )
            # With faults, some orders fail by design (the job's exit status is 3).
            if rc != 0 and not (rc == 3 and os.environ.get("PIPELINE_FAULTS") == "1"):
                print(self.log("retail-etl").read_text(), file=sys.stderr)
                raise RuntimeError(f"ETL job failed ({rc})")
            # The API's span metrics: computed from every span, before any sampling.
            with urllib.request.urlopen(f"{api}/metrics", timeout=10) as r:
                self.api_metrics = r.read().decode()
        finally:
            self.stop(inventory)
        return self.report(job_id)

    def stop(self, inventory: str) -> None:
        try:
            urllib.request.urlopen(
                urllib.request.Request(f"{inventory}/shutdown", method="POST"), timeout=15
            ).read()
        except OSError:
            pass
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()

    def report(self, job_id: str) -> int:
        orders = [
            json.loads(line[len("ORDER ") :])
            for line in self.log("storefront").read_text().splitlines()
            if line.startswith("ORDER ")
        ]
        summary = {
            "job_id": job_id,
            "orders": orders,
            "backend": self.env["OTEL_BACKEND"],
            "api_metrics": self.api_metrics,
        }
        if os.environ.get("PIPELINE_SUMMARY"):
            Path(os.environ["PIPELINE_SUMMARY"]).write_text(json.dumps(summary, indent=2))
        print(self.log("retail-etl").read_text().strip().splitlines()[-1])
        if self.env["OTEL_BACKEND"] != "console":
            for o in orders:
                cid = o["correlation_id"]
                print(f"order {o['order_id']}: trace {o['trace_id']} (correlation {cid})")
            if self.env["OTEL_BACKEND"] == "jaeger":
                print(f"in the Jaeger UI: http://127.0.0.1:16686/trace/{orders[0]['trace_id']}")
            return 0
        spans: dict[str, list[Node]] = {}
        for name in ["storefront", "ingestion-api", "retail-etl", "inventory-service"]:
            for trace, nodes in parse_console(self.log(name).read_text(), name).items():
                spans.setdefault(trace, []).extend(nodes)
        first = orders[0]
        nodes = spans.get(first["trace_id"], [])
        roots, orphans = join(nodes)
        print()
        cid = first["correlation_id"]
        print(f"order {first['order_id']}: trace {first['trace_id']}, correlation {cid}")
        for r in roots:
            print("\n".join(render(r, 1)))
        services = {n.service for n in nodes}
        missing = [s for s in SERVICES if s not in services]
        print()
        runtimes = {RUNTIMES[s] for s in services if s in RUNTIMES}
        print(
            f"{len(nodes)} spans from {len(services)} services in {len(runtimes)} runtimes; "
            f"{len(roots)} root, {len(orphans)} orphans"
        )
        if missing or orphans or len(roots) != 1:
            print(
                f"incomplete trace: missing {missing}, orphans {[o.text for o in orphans]}",
                file=sys.stderr,
            )
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(Pipeline().main())
