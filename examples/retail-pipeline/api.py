"""The ingestion API: FastAPI with crosstrace's middleware. POST /orders writes the raw order
into the bronze layer together with the propagation headers of its trace, so the ETL job can
continue that trace later. SQLite by default, PostgreSQL when DATABASE_URL is set
(``postgresql+psycopg://...``). GET /metrics serves the span metrics.

    API_PORT=8000 python api.py
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException

import crosstrace
import store
from crosstrace.fastapi_integration import setup_tracing_middleware

crosstrace.setup_tracing()
engine = store.engine()
app = FastAPI(title="retail ingestion API")


@crosstrace.trace_etl_operation("bronze_ingestion", stage="bronze")
def bronze(order: dict[str, Any], headers: dict[str, str]) -> None:
    store.insert_bronze(engine, order["order_id"], json.dumps(order), json.dumps(headers))
    crosstrace.set_etl_records(input=1, output=1)


@app.post("/orders")
def ingest(order: dict[str, Any]) -> dict[str, Any]:
    for field in ("order_id", "sku", "qty", "price", "currency"):
        if field not in order:
            raise HTTPException(422, f"order without {field!r}")
    if order.get("review"):
        # Flagged for manual review: a slow order (the collector tier keeps every slow trace).
        with crosstrace.create_span("manual_review", {"order.id": order["order_id"]}):
            time.sleep(float(os.environ.get("PIPELINE_REVIEW_SECONDS", "1.2")))
    # The current context is this request's server span: the ETL job continues from it.
    headers = crosstrace.inject()
    bronze(order, headers)
    span = crosstrace.get_current_span()
    return {"accepted": order["order_id"], "trace_id": span.trace_id if span else None}


setup_tracing_middleware(app, service_name="ingestion-api", metrics_route="/metrics")

if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ.get("API_PORT", "8000")), log_level="warning"
    )
