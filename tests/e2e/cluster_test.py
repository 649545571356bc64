"""The retail pipeline through the collector tier (scripts/cluster.sh): OTLP into two ingest
collectors, Kafka partitioned by trace id, two tail-sampling collectors in one consumer group,
Jaeger behind them. Head sampling is off (rate 1.0); the tail policy keeps every trace with an
error, every trace slower than TAIL_SLOW_MS, and TAIL_KEEP_PERCENT of the rest.

1. 1,000 orders across the four runtimes, some failing in the C component (unknown currency) or
   in the ETL job (negative price), some slow (held for manual review): every error trace and
   every slow trace is in Jaeger, complete; every stored order trace is complete (no partial
   trace); the kept share of the rest is within binomial bounds.
2. The same with sampler-1 killed (SIGKILL) a third of the way in and restarted 3 s later: what
   is lost is counted and is what the design says — the traces sampler-1 held undecided when it
   died (on its partitions, first span within the decision wait before the kill): every one
   surely held is lost, nothing else is lost, and the tier recovers.

Run by scripts/cluster.sh test (which builds the parts, starts PostgreSQL and a fresh tier).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "examples" / "retail-pipeline" / "pipeline.py"
QUERY = os.environ["CLUSTER_QUERY"]
SLOW_MS = int(os.environ.get("TAIL_SLOW_MS", "1000"))
KEEP = float(os.environ.get("TAIL_KEEP_PERCENT", "10")) / 100
DECISION_WAIT_S = float(os.environ.get("TAIL_DECISION_WAIT", "10s").rstrip("s"))
ORDERS = int(os.environ.get("CLUSTER_ORDERS", "1000"))
KILL_ORDERS = int(os.environ.get("CLUSTER_KILL_ORDERS", "600"))

SERVICES = {"storefront", "ingestion-api", "retail-etl", "price-normalise", "inventory-service"}
# The spans every order's trace has, child → parent (service:operation).
INGEST_CHAIN = [
    ("storefront:POST /orders", "storefront:checkout"),
    ("ingestion-api:POST /orders", "storefront:POST /orders"),
    ("ingestion-api:bronze_ingestion", "ingestion-api:POST /orders"),
    ("retail-etl:process_order", "ingestion-api:POST /orders"),
    ("retail-etl:silver_transformation", "retail-etl:process_order"),
    ("price-normalise:normalise_prices", "retail-etl:silver_transformation"),
]
# An order that passes silver goes on to the inventory service and gold; one refused there (a
# bad currency in C, a bad price in the ETL) stops: its whole trace is four services.
FULL_CHAIN = [
    *INGEST_CHAIN,
    ("retail-etl:reserve_stock", "retail-etl:process_order"),
    ("inventory-service:inventory.reserve", "inventory-service:POST /reserve"),
    ("retail-etl:gold_aggregation", "retail-etl:process_order"),
]
ERROR_FAULTS = {"currency", "price"}
failures: list[str] = []


def check(cond: bool, what: str) -> None:
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def pipeline_env(name: str, orders: int) -> tuple[dict[str, str], Path]:
    work = Path(os.environ["PIPELINE_WORKDIR"]) / name
    summary = work / "summary.json"
    env = {
        **os.environ,
        "OTEL_BACKEND": "otlp",
        "OTEL_SAMPLING_RATE": "1.0",  # head sampling off: the tier decides
        "PIPELINE_ENDPOINTS": os.environ["CLUSTER_ENDPOINTS"],
        "PIPELINE_FOLLOW": "1",
        "PIPELINE_FAULTS": "1",
        "PIPELINE_REVIEW_SECONDS": str(SLOW_MS / 1000 + 0.5),
        "DATABASE_URL": os.environ["CROSSTRACE_PG_URL"],
        "PIPELINE_WORKDIR": str(work),
        "PIPELINE_ORDERS": str(orders),
        "PIPELINE_SUMMARY": str(summary),
    }
    return env, summary


def start_pipeline(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PIPELINE)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], name: str, summary: Path, started: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=900)
    if proc.returncode != 0:
        print(out, err, file=sys.stderr)
        raise SystemExit(f"pipeline run {name} failed ({proc.returncode})")
    s = dict(json.loads(summary.read_text()))
    print(f"pipeline run {name}: {len(s['orders'])} orders in {time.time() - started:.1f} s")
    return s


def server_spans(metrics: str, name: str) -> int:
    """The `traces_total` of the server spans called `name`, over every status."""
    total = 0
    for line in metrics.splitlines():
        if (
            line.startswith("traces_total{")
            and f'span_name="{name}"' in line
            and 'span_kind="server"' in line
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def fetch(trace_id: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{QUERY}/api/traces/{trace_id}", timeout=10) as r:
            data = json.load(r)["data"]
            return dict(data[0]) if data else None
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def settle(orders: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every order's trace in Jaeger once the tier is done: the decision wait has passed for
    the last trace and two rounds of reads in a row find the same spans."""
    time.sleep(DECISION_WAIT_S + 3)
    last: tuple[int, int] = (-1, -1)
    deadline = time.time() + 120
    while True:
        found = {o["trace_id"]: t for o in orders if (t := fetch(o["trace_id"])) is not None}
        now = (len(found), sum(len(t["spans"]) for t in found.values()))
        if now == last or time.time() > deadline:
            return found
        last = now
        time.sleep(2)


def problems(trace: dict[str, Any], order: dict[str, Any]) -> list[str]:
    """What makes a stored trace partial (empty when it is complete)."""
    spans = trace["spans"]
    service = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    by_id = {s["spanID"]: s for s in spans}

    def parent(s: dict[str, Any]) -> dict[str, Any] | None:
        refs = [r for r in s.get("references", []) if r["refType"] == "CHILD_OF"]
        return by_id.get(refs[0]["spanID"]) if refs else None

    def who(s: dict[str, Any] | None) -> str:
        return f"{service[s['processID']]}:{s['operationName']}" if s else "(none)"

    found: list[str] = []
    failed = order["fault"] in ERROR_FAULTS
    want = SERVICES - {"inventory-service"} if failed else SERVICES
    services = {service[s["processID"]] for s in spans}
    if services != want:
        found.append(f"services {sorted(services)}")
    roots = [who(s) for s in spans if not s.get("references")]
    if roots != ["storefront:checkout"]:
        found.append(f"roots {roots}")
    orphans = [who(s) for s in spans if s.get("references") and parent(s) is None]
    if orphans:
        found.append(f"orphans {orphans}")
    for child, up in INGEST_CHAIN if failed else FULL_CHAIN:
        c = next((s for s in spans if who(s) == child), None)
        if c is None or who(parent(c)) != up:
            found.append(f"{child} not under {up}")
    ids = {t["value"] for s in spans for t in s.get("tags", []) if t["key"] == "correlation.id"}
    if ids != {order["correlation_id"]}:
        found.append(f"correlation ids {ids}")
    if failed and not any(
        t["key"] == "otel.status_code" and t["value"] == "ERROR"
        for s in spans
        for t in s.get("tags", [])
    ):
        found.append("no span with an error status")
    return found


def duration_ms(trace: dict[str, Any]) -> float:
    spans = trace["spans"]
    start = min(s["startTime"] for s in spans)
    end = max(s["startTime"] + s["duration"] for s in spans)
    return (end - start) / 1000


def binomial_bounds(n: int, p: float, tail: float) -> tuple[int, int]:
    """The smallest and largest k whose tails are each at least `tail` (log space: n ~ 1,000)."""

    def pmf(k: int) -> float:
        log = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        return math.exp(log + k * math.log(p) + (n - k) * math.log1p(-p))

    lo, acc = 0, 0.0
    while acc + pmf(lo) < tail:
        acc += pmf(lo)
        lo += 1
    hi, acc = n, 0.0
    while acc + pmf(hi) < tail:
        acc += pmf(hi)
        hi -= 1
    return lo, hi


def run_clean() -> None:
    env, summary = pipeline_env("tail", ORDERS)
    started = time.time()
    proc = start_pipeline(env)
    s = finish(proc, "tail", summary, started)
    orders = s["orders"]
    check(len(orders) == ORDERS, f"{ORDERS} orders through the tier ({len(orders)})")
    # Span metrics are computed in each process from every span, before any sampling: the
    # API counts every order although the tier keeps a fraction of the traces.
    counted = server_spans(s["api_metrics"], "POST /orders")
    check(counted == ORDERS, f"the API's span metrics count every order ({counted})")
    found = settle(orders)
    errors = [o for o in orders if o["fault"] in ERROR_FAULTS]
    slow = [o for o in orders if o["fault"] == "review"]
    rest = [o for o in orders if o["fault"] is None]
    print(f"{len(errors)} failing orders, {len(slow)} slow ones, {len(rest)} others")
    check(len(errors) >= 40 and len(slow) >= 15, "the run has failing and slow orders")

    missing = [o["order_id"] for o in errors if o["trace_id"] not in found]
    check(not missing, f"every error trace kept ({len(errors) - len(missing)}/{len(errors)})")
    missing = [o["order_id"] for o in slow if o["trace_id"] not in found]
    check(not missing, f"every slow trace kept ({len(slow) - len(missing)}/{len(slow)})")
    too_fast = [
        o["order_id"]
        for o in slow
        if o["trace_id"] in found and duration_ms(found[o["trace_id"]]) <= SLOW_MS
    ]
    check(not too_fast, f"every slow trace is slower than {SLOW_MS} ms in Jaeger {too_fast}")

    partial = {
        o["order_id"]: p
        for o in orders
        if o["trace_id"] in found and (p := problems(found[o["trace_id"]], o))
    }
    for oid, p in list(partial.items())[:5]:
        print(f"     {oid}: {p}")
    check(not partial, f"every stored trace complete: {len(found)} stored, {len(partial)} partial")

    # The rest: kept at the policy's ratio. A trace the machine made slow on its own (over the
    # threshold without a fault) was kept by the latency policy, not by the ratio: it is taken
    # out of the sample, exactly (every slow trace is kept, so every one is seen).
    naturally_slow = [
        o for o in rest if o["trace_id"] in found and duration_ms(found[o["trace_id"]]) > SLOW_MS
    ]
    n = len(rest) - len(naturally_slow)
    k = sum(1 for o in rest if o["trace_id"] in found) - len(naturally_slow)
    lo, hi = binomial_bounds(n, KEEP, 1e-6)
    check(
        lo <= k <= hi,
        f"ratio policy kept {k} of {n} others ({k / max(n, 1):.3f}; {KEEP:.2f} expected, "
        f"bounds {lo}..{hi}; {len(naturally_slow)} others slow on their own, kept as slow)",
    )


def storefront_orders(log: Path) -> int:
    try:
        return sum(1 for line in log.read_text().splitlines() if line.startswith("ORDER "))
    except FileNotFoundError:
        return 0


def partition(trace_id: str, partitions: int) -> int:
    """The partition the ingest collectors' Kafka exporter writes a trace to: the message key is
    the trace id in hex, hashed as Sarama does (FNV-1a, 32 bits, as a signed int, modulo)."""
    h = 0x811C9DC5
    for b in trace_id.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return abs(int(math.fmod(signed, partitions)))


def run_kill() -> None:
    script = os.environ["CLUSTER_SCRIPT"]
    owners = dict(
        line.split()
        for line in subprocess.run(
            ["bash", script, "owners"], check=True, capture_output=True, text=True
        ).stdout.splitlines()
    )
    mine = {int(p) for p, who in owners.items() if who == "sampler-1"}
    check(len(owners) == 4 and len(mine) == 2, f"sampler-1 reads partitions {sorted(mine)}")
    env, summary = pipeline_env("kill", KILL_ORDERS)
    log = Path(env["PIPELINE_WORKDIR"]) / "storefront.log"
    log.unlink(missing_ok=True)
    started = time.time()
    proc = start_pipeline(env)
    while storefront_orders(log) < KILL_ORDERS // 3:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    killed_ms = time.time() * 1000
    subprocess.run(["bash", script, "kill-sampler", "1"], check=True)
    time.sleep(3)
    subprocess.run(["bash", script, "start-sampler", "1"], check=True, stdout=subprocess.DEVNULL)
    restarted_ms = time.time() * 1000
    orders = finish(proc, "kill", summary, started)["orders"]
    found = settle(orders)

    def lost(o: dict[str, Any]) -> bool:
        t = found.get(o["trace_id"])
        return t is None or bool(problems(t, o))

    # What the design loses: tail_sampling holds a trace, undecided, from its first span's
    # arrival until the decision wait (plus the 1 s decision tick) has passed, and a killed
    # instance takes what it holds with it; its partitions wait for it (a static member) and
    # the spans that arrive meanwhile are read after the restart. So the traces lost are those
    # on sampler-1's partitions whose first span reached it within the decision wait before the
    # kill. "Surely" lost: first span sent at least 0.5 s after (kill - wait) and 3.5 s before the
    # kill (it has arrived, and its offset is committed: the spans read since the last commit are
    # read again after the restart); "possibly": from (kill - wait - 3 s) to 0.5 s after it.
    wait_ms = DECISION_WAIT_S * 1000
    must_keep = [o for o in orders if o["fault"] is not None]
    on_mine = [o for o in must_keep if partition(o["trace_id"], 4) in mine]

    def held(o: dict[str, Any]) -> float:
        # A slow order's first span ends only after the API held it.
        return o["started_ms"] + (SLOW_MS + 500 if o["fault"] == "review" else 0)

    surely = [o for o in on_mine if killed_ms - wait_ms + 500 <= held(o) <= killed_ms - 3500]
    possibly = [o for o in on_mine if killed_ms - wait_ms - 3000 <= held(o) <= killed_ms + 500]
    lost_keep = [o for o in must_keep if lost(o)]
    partial = [o for o in orders if o["trace_id"] in found and problems(found[o["trace_id"]], o)]
    print(
        f"kill: {len(orders)} orders; sampler-1 (partitions {sorted(mine)}) down "
        f"{(restarted_ms - killed_ms) / 1000:.1f} s; {len(must_keep)} error or slow traces, "
        f"{len(on_mine)} on sampler-1; {len(surely)} surely and {len(possibly)} possibly held "
        f"undecided at the kill"
    )
    print(f"kill: lost {len(lost_keep)} error/slow traces; {len(partial)} partial traces stored")
    ids = {o["order_id"] for o in possibly}
    outside = [o["order_id"] for o in lost_keep + partial if o["order_id"] not in ids]
    check(not outside, f"every loss was held undecided by sampler-1 (others: {outside[:5]})")
    kept = [o["order_id"] for o in surely if not lost(o)]
    check(not kept, f"every trace sampler-1 surely held is lost, as the design says {kept[:5]}")
    # About 3 traces fall in the "surely" window and about 8 in the "possibly" one: the run must
    # have some that sampler-1 may have held (an empty "surely" window, ~5% of runs, only makes
    # the check above vacuous for that run).
    check(bool(possibly), "the kill fell where sampler-1 held error or slow traces")
    after = [o for o in must_keep if o["started_ms"] > restarted_ms + 2000]
    check(
        bool(after) and not any(lost(o) for o in after),
        f"the tier recovered: all {len(after)} error/slow traces after the restart complete",
    )
    report = Path(os.environ["PIPELINE_WORKDIR"]) / "kill-report.json"
    report.write_text(
        json.dumps(
            {
                "orders": len(orders),
                "down_s": round((restarted_ms - killed_ms) / 1000, 1),
                "error_or_slow": len(must_keep),
                "on_killed_sampler": len(on_mine),
                "surely_held": len(surely),
                "possibly_held": len(possibly),
                "error_or_slow_lost": len(lost_keep),
                "partial_stored": len(partial),
            },
            indent=2,
        )
    )


def main() -> int:
    run_clean()
    run_kill()
    if failures:
        print(f"{len(failures)} checks failed", file=sys.stderr)
        return 1
    print("cluster: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
