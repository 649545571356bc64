"""The Python package's spans in the real Jaeger (run by scripts/python.sh jaeger-test after
scripts/test.sh started Jaeger): an ETL step with a database call, exported over OTLP/HTTP, is
read back through Jaeger's query API with its parent link, service and correlation id."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import urllib.request

import crosstrace


def main() -> int:
    otlp, query = sys.argv[1], sys.argv[2]
    crosstrace.setup_tracing(
        crosstrace.TracingConfig(
            service_name="python-etl",
            backend="otlp",
            endpoint=otlp,
            otlp_protocol="http/protobuf",
        )
    )

    @crosstrace.trace_etl_operation("gold_aggregation", stage="gold")
    def aggregate() -> None:
        cursor = sqlite3.connect(":memory:").cursor()
        cursor.execute("select 1")

    with crosstrace.correlation_context(correlation_id="py-jaeger-1"):
        with crosstrace.create_span("etl_run") as run:
            aggregate()
    assert crosstrace.shutdown_tracing(10) == 0
    trace = None
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"{query}/api/traces/{run.trace_id}") as r:
                data = json.load(r)["data"]
            if data and len(data[0]["spans"]) >= 3:
                trace = data[0]
                break
        except OSError:
            pass
        time.sleep(0.3)
    assert trace, f"trace {run.trace_id} not in Jaeger"
    spans = {s["operationName"]: s for s in trace["spans"]}
    gold = spans["gold_aggregation"]
    assert gold["references"][0]["spanID"] == run.span_id
    db = next(
        s
        for s in trace["spans"]
        if s["references"] and s["references"][0]["spanID"] == gold["spanID"]
    )
    tags = {t["key"]: t["value"] for t in db["tags"]}
    assert tags["db.system"] == "sqlite" and tags["correlation.id"] == "py-jaeger-1"
    assert trace["processes"][gold["processID"]]["serviceName"] == "python-etl"
    print(f"python spans found in Jaeger: {sorted(spans)} ({os.getpid()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
