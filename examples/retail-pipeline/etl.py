"""The ETL job: bronze → silver → gold, in its own correlation context (job_id).

Each raw order continues the trace it was ingested in (its propagation headers are stored with
it in bronze) and keeps its correlation id, adding ``job_id``. Silver prices are normalised by the
C component (libprice_normalise, built on libcrosstrace, loaded with ctypes) inside the same
trace; stock is reserved at the Rust inventory service over HTTP; gold aggregates revenue.

    PRICE_NORMALISE_LIB=... CROSSTRACE_C_LIB=... INVENTORY_URL=... python etl.py JOB_ID

With PIPELINE_FOLLOW=<file> the job keeps polling bronze for new orders, as a streaming job
does, until that file exists and nothing is left: each order is processed within moments of its
ingestion, so its trace is short.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests

import crosstrace
import store


class PriceNormaliser:
    """The C component. Its spans are libcrosstrace's (service ``price-normalise``), configured
    from the same OTEL_* environment; the caller's context reaches it as header lines."""

    def __init__(self, component: str, library: str) -> None:
        self.ct = ctypes.CDLL(library)
        self.ct.ct_config_new.restype = ctypes.c_void_p
        self.ct.ct_config_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        self.ct.ct_init.argtypes = [ctypes.c_void_p]
        self.ct.ct_config_free.argtypes = [ctypes.c_void_p]
        self.ct.ct_last_error.restype = ctypes.c_char_p
        self.ct.ct_shutdown.argtypes = [ctypes.c_uint32, ctypes.c_void_p]
        config = self.ct.ct_config_new()
        try:
            for name, value in os.environ.items():
                if name.startswith(("OTEL_", "CROSSTRACE_")) or name == "ENVIRONMENT":
                    # Names libcrosstrace does not read are refused; that is fine here.
                    self.ct.ct_config_set(config, name.encode(), value.encode())
            self.ct.ct_config_set(config, b"OTEL_SERVICE_NAME", b"price-normalise")
            if self.ct.ct_init(config) != 0:
                raise RuntimeError(f"libcrosstrace: {self.ct.ct_last_error().decode()}")
        finally:
            self.ct.ct_config_free(config)
        self.pn = ctypes.CDLL(component)
        self.pn.pn_normalise_prices.restype = ctypes.c_long
        self.pn.pn_normalise_prices.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_double),
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_long),
        ]

    def to_cents(self, prices: list[float], currency: str) -> list[int]:
        lines = [f"{k}: {v}".encode() for k, v in crosstrace.inject().items()]
        c_lines = (ctypes.c_char_p * len(lines))(*lines)
        c_prices = (ctypes.c_double * len(prices))(*prices)
        out = (ctypes.c_long * len(prices))()
        rejected = self.pn.pn_normalise_prices(
            c_lines, len(lines), currency.encode(), c_prices, len(prices), out
        )
        if rejected < 0:
            raise ValueError(f"price normalisation refused currency {currency!r}")
        return list(out)

    def shutdown(self) -> None:
        self.ct.ct_shutdown(10_000, None)


@crosstrace.trace_etl_operation("silver_transformation", stage="silver")
def silver(engine: Any, order: dict[str, Any], prices: PriceNormaliser) -> int:
    (unit_cents,) = prices.to_cents([order["price"]], order["currency"])
    if unit_cents < 0:
        crosstrace.set_etl_records(input=1, output=0, rejected=1)
        raise ValueError(f"order {order['order_id']}: bad price {order['price']}")
    cents = unit_cents * int(order["qty"])
    store.insert_silver(engine, order["order_id"], order["sku"], int(order["qty"]), cents)
    crosstrace.set_etl_records(input=1, output=1)
    return cents


def reserve(inventory_url: str, order: dict[str, Any]) -> dict[str, Any]:
    with crosstrace.create_span(
        "reserve_stock",
        {"peer.service": "inventory-service", "inventory.sku": order["sku"]},
        kind="client",
    ) as span:
        # Explicit headers, so this works without auto-instrumentation too; the instrumented
        # requests (when on) injects the same formats from its own child span.
        r = requests.post(
            f"{inventory_url}/reserve",
            json={"sku": order["sku"], "qty": int(order["qty"])},
            headers=crosstrace.inject(),
            timeout=10,
        )
        span.set_attribute("http.response.status_code", r.status_code)
        if r.status_code != 200:
            # Not reserved (409: out of stock): the order does not reach gold.
            raise RuntimeError(f"inventory refused {order['sku']} x{order['qty']}: {r.text}")
        return dict(r.json())


@crosstrace.trace_etl_operation("gold_aggregation", stage="gold")
def gold(engine: Any, order: dict[str, Any], cents: int) -> None:
    store.add_gold(engine, order["sku"], cents)
    crosstrace.set_etl_records(input=1, output=1)


def process(
    engine: Any, rows: list[Any], prices: PriceNormaliser, inventory_url: str, job_id: str
) -> int:
    """Processes bronze rows, each in the trace it was ingested in; returns how many failed."""
    failures = 0
    for row in rows:
        order = json.loads(row.payload)
        cx = crosstrace.extract(json.loads(row.headers))
        user = json.loads(cx.correlation() or "{}").get("user_id")
        with (
            crosstrace.use_context(cx),
            crosstrace.correlation_context(cx.correlation_id, user, job_id=job_id),
            crosstrace.create_span(
                "process_order", {"order.id": order["order_id"], "etl.job_id": job_id}
            ),
        ):
            try:
                cents = silver(engine, order, prices)
                reserve(inventory_url, order)
                gold(engine, order, cents)
            except Exception as e:  # one bad order does not stop the job
                failures += 1
                print(f"etl: order {order['order_id']} failed: {e}", file=sys.stderr)
    return failures


def main(job_id: str) -> int:
    crosstrace.setup_tracing()
    engine = store.engine()
    prices = PriceNormaliser(os.environ["PRICE_NORMALISE_LIB"], os.environ["CROSSTRACE_C_LIB"])
    inventory_url = os.environ["INVENTORY_URL"]
    follow = os.environ.get("PIPELINE_FOLLOW")
    if follow:
        Path(follow + ".ready").touch()  # set up: orders may come
    with crosstrace.correlation_context(operation="etl_job", job_id=job_id):
        with crosstrace.create_span("etl_job", {"etl.job_id": job_id}) as job:
            rows = store.unprocessed(engine)
            job.set_attribute("etl.records.input", len(rows))
    failures = process(engine, rows, prices, inventory_url, job_id)
    total = len(rows)
    # A failed order stays unprocessed in bronze (for a later job); a following job tries it once.
    seen = {row.order_id for row in rows}
    while follow:
        done = Path(follow).exists()  # read before polling: nothing arrives after it is written
        rows = [row for row in store.unprocessed(engine) if row.order_id not in seen]
        seen.update(row.order_id for row in rows)
        failures += process(engine, rows, prices, inventory_url, job_id)
        total += len(rows)
        if done and not rows:
            break
        if not rows:
            time.sleep(0.1)
    prices.shutdown()
    crosstrace.shutdown_tracing()
    print(f"etl: job {job_id} processed {total} orders, {failures} failed")
    # 3, not 1: an uncaught exception exits with 1, and must not pass for failed orders.
    return 3 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "job-adhoc"))
