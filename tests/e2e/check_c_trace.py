"""Checks, through Jaeger's query API, that the C traced_job's spans are children of the
traceparent it was given and carry its correlation id.

usage: check_c_trace.py QUERY_URL PARENT_TRACE PARENT_SPAN CORRELATION_ID TRACE_ID SPAN_ID
"""

import json
import sys
import time
import urllib.request


def main() -> int:
    query, parent_trace, parent_span, corr, trace_id, span_id = sys.argv[1:7]
    assert trace_id == parent_trace, f"the job started its own trace {trace_id}"
    deadline = time.time() + 30
    spans = []
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{query}/api/traces/{trace_id}") as r:
                data = json.load(r)["data"]
            spans = data[0]["spans"] if data else []
        except OSError:
            spans = []
        if len(spans) >= 3:
            break
        time.sleep(0.3)
    by_name = {s["operationName"]: s for s in spans}
    assert set(by_name) >= {"c_price_job", "price_refresh", "UPDATE silver_prices"}, by_name.keys()
    job = by_name["c_price_job"]
    assert job["spanID"] == span_id
    refs = job["references"]
    assert refs and refs[0]["spanID"] == parent_span and refs[0]["refType"] == "CHILD_OF", refs
    assert by_name["price_refresh"]["references"][0]["spanID"] == span_id
    for s in spans:
        tags = {t["key"]: t["value"] for t in s["tags"]}
        assert tags.get("correlation.id") == corr, (s["operationName"], tags)
    process = data[0]["processes"][job["processID"]]
    service = process["serviceName"]
    assert service == "c-price-job", service
    # The resource names the C runtime (the semantic conventions' closest value: cpp).
    process_tags = {t["key"]: t["value"] for t in process.get("tags", [])}
    assert process_tags.get("telemetry.sdk.language") == "cpp", process_tags
    print(f"C spans found in Jaeger: {sorted(by_name)} under parent {parent_span}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
