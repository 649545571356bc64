"""The pipeline's tables (bronze → silver → gold) on SQLAlchemy: SQLite by default, PostgreSQL
when DATABASE_URL is set. Plain SQL that both accept; the auto-instrumented driver traces every
statement."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, text

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS bronze_orders (
        order_id TEXT PRIMARY KEY, payload TEXT NOT NULL, headers TEXT NOT NULL,
        processed INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS silver_orders (
        order_id TEXT PRIMARY KEY, sku TEXT NOT NULL, qty INTEGER NOT NULL,
        price_cents INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS gold_revenue_by_sku (
        sku TEXT PRIMARY KEY, orders INTEGER NOT NULL, revenue_cents INTEGER NOT NULL)""",
]


def engine() -> Engine:
    url = os.environ.get("DATABASE_URL") or "sqlite:///" + os.environ.get(
        "PIPELINE_SQLITE", "retail-pipeline.db"
    )
    e = create_engine(url)
    with e.begin() as conn:
        if os.environ.get("PIPELINE_RESET") == "1":
            for table in ("bronze_orders", "silver_orders", "gold_revenue_by_sku"):
                conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        for statement in SCHEMA:
            conn.execute(text(statement))
    return e


def insert_bronze(e: Engine, order_id: str, payload: str, headers: str) -> None:
    with e.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO bronze_orders (order_id, payload, headers) "
                "VALUES (:id, :payload, :headers)"
            ),
            {"id": order_id, "payload": payload, "headers": headers},
        )


def unprocessed(e: Engine) -> list[Any]:
    with e.begin() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT order_id, payload, headers FROM bronze_orders "
                    "WHERE processed = 0 ORDER BY order_id"
                )
            )
        )


def insert_silver(e: Engine, order_id: str, sku: str, qty: int, price_cents: int) -> None:
    with e.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO silver_orders (order_id, sku, qty, price_cents) "
                "VALUES (:id, :sku, :qty, :cents)"
            ),
            {"id": order_id, "sku": sku, "qty": qty, "cents": price_cents},
        )
        conn.execute(
            text("UPDATE bronze_orders SET processed = 1 WHERE order_id = :id"), {"id": order_id}
        )


def add_gold(e: Engine, sku: str, revenue_cents: int) -> None:
    with e.begin() as conn:
        updated = conn.execute(
            text(
                "UPDATE gold_revenue_by_sku SET orders = orders + 1, "
                "revenue_cents = revenue_cents + :cents WHERE sku = :sku"
            ),
            {"sku": sku, "cents": revenue_cents},
        ).rowcount
        if updated == 0:
            conn.execute(
                text(
                    "INSERT INTO gold_revenue_by_sku (sku, orders, revenue_cents) "
                    "VALUES (:sku, 1, :cents)"
                ),
                {"sku": sku, "cents": revenue_cents},
            )
