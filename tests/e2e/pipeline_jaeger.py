"""The retail pipeline against the real Jaeger: one trace per order across WebAssembly, Python,
C and Rust, with the exact parent chain, one correlation id on every span and no orphans — with
all propagators, with only b3 (on PostgreSQL), with only jaeger, and over OTLP; then sampling
at 0.25 keeps whole traces or none, at a share within binomial bounds. Then the same pipeline
into the real Zipkin, and a screenshot of the trace in Zipkin's UI by headless Chromium: the
Jaeger binary built from Jaeger's Go module serves only a placeholder page (its UI assets are
built from the jaeger-ui repository, which no registry reachable here serves), so its UI cannot
show a trace.

Run by scripts/pipeline.sh jaeger-test (which builds the parts and sets the paths).
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "retail-pipeline" / "pipeline.py"
QUERY = os.environ["JAEGER_QUERY"]
SERVICES = {"storefront", "ingestion-api", "retail-etl", "price-normalise", "inventory-service"}
failures: list[str] = []


def check(cond: bool, what: str) -> None:
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run_pipeline(name: str, orders: int, **env: str) -> dict[str, Any]:
    work = Path(os.environ["PIPELINE_WORKDIR"]) / name
    summary = work / "summary.json"
    full = {
        **os.environ,
        "OTEL_BACKEND": "jaeger",
        "OTEL_EXPORTER_ENDPOINT": os.environ["JAEGER_THRIFT"],
        "PIPELINE_WORKDIR": str(work),
        "PIPELINE_ORDERS": str(orders),
        "PIPELINE_SUMMARY": str(summary),
        **env,
    }
    started = time.time()
    r = subprocess.run(
        [sys.executable, str(PIPELINE)], env=full, capture_output=True, text=True, timeout=600
    )
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        for log in sorted(work.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)
        raise SystemExit(f"pipeline run {name} failed")
    print(f"pipeline run {name}: {orders} orders in {time.time() - started:.1f} s")
    return dict(json.loads(summary.read_text()))


def fetch(trace_id: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{QUERY}/api/traces/{trace_id}", timeout=10) as r:
            data = json.load(r)["data"]
            return dict(data[0]) if data else None
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def settled(trace_id: str) -> dict[str, Any] | None:
    """The trace once every service's spans arrived and the count stayed the same for 2 s
    (Jaeger ingests each process's batches on its own schedule)."""
    deadline = time.time() + 45
    last, stable = -1, 0
    while time.time() < deadline:
        t = fetch(trace_id)
        n = len(t["spans"]) if t else 0
        services = {p["serviceName"] for p in t["processes"].values()} if t else set()
        stable = stable + 1 if n == last and services >= SERVICES else 0
        if stable >= 4:
            return t
        last = n
        time.sleep(0.5)
    return fetch(trace_id)


def tags(span: dict[str, Any]) -> dict[str, Any]:
    return {t["key"]: t["value"] for t in span.get("tags", [])}


def verify(trace: dict[str, Any], order: dict[str, Any], job_id: str | None, label: str) -> None:
    spans = trace["spans"]
    service = {sid: p["serviceName"] for sid, p in trace["processes"].items()}
    by_id = {s["spanID"]: s for s in spans}

    def parent(s: dict[str, Any]) -> dict[str, Any] | None:
        refs = [r for r in s.get("references", []) if r["refType"] == "CHILD_OF"]
        return by_id.get(refs[0]["spanID"]) if refs else None

    def who(s: dict[str, Any] | None) -> str:
        return f"{service[s['processID']]}:{s['operationName']}" if s else "(none)"

    def find(svc: str, op: str) -> dict[str, Any] | None:
        return next((s for s in spans if who(s) == f"{svc}:{op}"), None)

    services = {service[s["processID"]] for s in spans}
    check(services == SERVICES, f"{label}: spans from all five services ({sorted(services)})")
    roots = [s for s in spans if not s.get("references")]
    check(
        len(roots) == 1 and who(roots[0]) == "storefront:checkout",
        f"{label}: one root, the storefront's checkout",
    )
    orphans = [who(s) for s in spans if s.get("references") and parent(s) is None]
    check(not orphans, f"{label}: no orphans {orphans}")
    chain = [
        ("storefront:POST /orders", "storefront:checkout"),
        ("ingestion-api:POST /orders", "storefront:POST /orders"),
        ("ingestion-api:bronze_ingestion", "ingestion-api:POST /orders"),
        ("retail-etl:process_order", "ingestion-api:POST /orders"),
        ("retail-etl:silver_transformation", "retail-etl:process_order"),
        ("price-normalise:normalise_prices", "retail-etl:silver_transformation"),
        ("retail-etl:reserve_stock", "retail-etl:process_order"),
        ("inventory-service:inventory.reserve", "inventory-service:POST /reserve"),
        ("retail-etl:gold_aggregation", "retail-etl:process_order"),
    ]
    for child, want in chain:
        c = find(*child.split(":", 1))
        check(
            c is not None and who(parent(c)) == want,
            f"{label}: {child} under {want} (got {who(parent(c)) if c else 'no span'})",
        )
    # The inventory call: the Rust server span's parent is the instrumented requests span (or
    # reserve_stock itself), which descends from reserve_stock.
    inv = find("inventory-service", "POST /reserve")
    up = parent(inv) if inv else None
    while up is not None and who(up) != "retail-etl:reserve_stock":
        up = parent(up)
    check(
        up is not None,
        f"{label}: inventory-service:POST /reserve descends from retail-etl:reserve_stock",
    )
    ids = {tags(s).get("correlation.id") for s in spans}
    check(ids == {order["correlation_id"]}, f"{label}: one correlation id on every span ({ids})")
    if job_id:
        downstream = [
            s
            for s in spans
            if service[s["processID"]] in ("retail-etl", "price-normalise", "inventory-service")
            and who(s) != "retail-etl:etl_job"
        ]
        jobs = {tags(s).get("correlation.job_id") for s in downstream}
        check(
            jobs == {job_id},
            f"{label}: the ETL job's job_id on every ETL, C and Rust span ({jobs})",
        )


def binomial_bounds(n: int, p: float, tail: float) -> tuple[int, int]:
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    lo, acc = 0, 0.0
    while acc + pmf[lo] < tail:
        acc += pmf[lo]
        lo += 1
    hi, acc = n, 0.0
    while acc + pmf[hi] < tail:
        acc += pmf[hi]
        hi -= 1
    return lo, hi


def zipkin_trace(trace_id: str) -> list[dict[str, Any]]:
    zipkin = os.environ["ZIPKIN"]
    deadline, spans = time.time() + 30, []
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{zipkin}/api/v2/trace/{trace_id}", timeout=10) as r:
                spans = json.load(r)
        except urllib.error.HTTPError:
            spans = []
        services = {s.get("localEndpoint", {}).get("serviceName") for s in spans}
        if services >= SERVICES:
            break
        time.sleep(0.5)
    return list(spans)


def screenshot(url: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    with tempfile.TemporaryDirectory(prefix="crosstrace-chromium-") as profile:
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--window-size=1600,1000",
                "--virtual-time-budget=20000",
                f"--screenshot={path}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    data = path.read_bytes()
    width, height = struct.unpack(">II", data[16:24]) if len(data) >= 24 else (0, 0)
    check(
        data[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1600, 1000),
        f"screenshot {path} is a 1600x1000 PNG",
    )
    # A rendered trace view is far richer than a blank or loading page.
    check(len(data) > 40_000, f"screenshot shows a rendered page ({len(data)} bytes)")


def main() -> int:
    # 1. All propagators (the default), SQLite.
    s = run_pipeline("all-propagators", 2)
    for o in s["orders"]:
        t = settled(o["trace_id"])
        check(t is not None, f"default: trace {o['trace_id']} in Jaeger")
        if t:
            verify(t, o, s["job_id"], f"default {o['order_id']}")
    # 2. Only b3, on PostgreSQL.
    pg = os.environ.get("CROSSTRACE_PG_URL", "").replace("postgresql://", "postgresql+psycopg://")
    s = run_pipeline("b3-postgres", 1, OTEL_PROPAGATORS="b3", DATABASE_URL=pg)
    o = s["orders"][0]
    t = settled(o["trace_id"])
    check(t is not None, "b3: trace in Jaeger")
    if t:
        verify(t, o, None, "b3 + PostgreSQL")
        systems = {tags(sp).get("db.system") for sp in t["spans"]} - {None}
        check(systems == {"postgresql"}, f"b3: database spans are PostgreSQL's ({systems})")
    # 3. Only jaeger propagation.
    s = run_pipeline("jaeger-propagation", 1, OTEL_PROPAGATORS="jaeger")
    o = s["orders"][0]
    t = settled(o["trace_id"])
    check(t is not None, "jaeger propagation: trace in Jaeger")
    if t:
        verify(t, o, s["job_id"], "jaeger propagation")
    # 3b. OTLP (HTTP, protobuf) instead of Jaeger's Thrift, into the same Jaeger.
    s = run_pipeline(
        "otlp",
        1,
        OTEL_BACKEND="otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_ENDPOINT=os.environ["JAEGER_OTLP"],
    )
    o = s["orders"][0]
    t = settled(o["trace_id"])
    check(t is not None, "otlp: trace in Jaeger")
    if t:
        verify(t, o, s["job_id"], "otlp")
    # 4. Sampling at 0.25: every trace complete or absent; the kept share within bounds.
    n, rate = 60, 0.25
    s = run_pipeline("sampled", n, OTEL_SAMPLING_RATE=str(rate))
    kept = [o for o in s["orders"] if o["sampled"]]
    for o in kept:
        t = settled(o["trace_id"])
        check(t is not None, f"sampled {o['order_id']}: kept trace in Jaeger")
        if t:
            verify(t, o, s["job_id"], f"sampled {o['order_id']}")
    # The kept traces have all arrived: the dropped ones had as long and must be absent.
    time.sleep(1)
    present = [o["order_id"] for o in s["orders"] if not o["sampled"] and fetch(o["trace_id"])]
    check(not present, f"sampling: no span of a dropped trace reached Jaeger ({present})")
    kept = len(kept)
    lo, hi = binomial_bounds(n, rate, 1e-4)
    check(
        lo <= kept <= hi,
        f"sampling: kept {kept} of {n} traces, within [{lo}, {hi}] (p = {rate}, two-sided 2e-4)",
    )
    # 5. Into Zipkin, and the screenshot for the README from Zipkin's UI.
    s = run_pipeline(
        "zipkin",
        1,
        OTEL_BACKEND="zipkin",
        OTEL_EXPORTER_ENDPOINT=f"{os.environ['ZIPKIN']}/api/v2/spans",
    )
    o = s["orders"][0]
    spans = zipkin_trace(o["trace_id"])
    services = {sp.get("localEndpoint", {}).get("serviceName") for sp in spans}
    check(services == SERVICES, f"zipkin: spans from all five services ({sorted(services)})")
    ids = {sp["id"] for sp in spans}
    orphans = [sp["name"] for sp in spans if sp.get("parentId") and sp["parentId"] not in ids]
    check(
        not orphans and sum(1 for sp in spans if not sp.get("parentId")) == 1,
        "zipkin: one root, no orphans",
    )
    cids = {sp.get("tags", {}).get("correlation.id") for sp in spans}
    check(cids == {o["correlation_id"]}, f"zipkin: one correlation id on every span ({cids})")
    screenshot(
        f"{os.environ['ZIPKIN']}/zipkin/traces/{o['trace_id']}", Path(os.environ["SCREENSHOT"])
    )
    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
