"""Real PostgreSQL (SQLAlchemy over psycopg, and psycopg directly) and Redis servers, started by
scripts/python.sh (scripts/services.sh): their instrumentations produce into crosstrace, nested
in the ETL step that used them."""

from __future__ import annotations

import os

import psycopg
import redis
import sqlalchemy

import crosstrace
from conftest import Collector, attrs


def env(name: str) -> str:
    value = os.environ.get(name)
    assert value, f"{name} is not set: run the tests through `make test` (scripts/python.sh)"
    return value


def test_postgres_and_redis_spans_nest_in_the_etl_step(traced: Collector) -> None:
    pg_url = env("CROSSTRACE_PG_URL")
    redis_port = int(env("CROSSTRACE_REDIS_PORT"))
    status = crosstrace.get_instrumentation_status()
    for lib in ("sqlalchemy", "psycopg", "redis"):
        assert lib in status["instrumented_libraries"], status

    @crosstrace.trace_etl_operation("silver_load", stage="silver")
    def load() -> int:
        engine = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("drop table if exists silver_orders"))
            conn.execute(sqlalchemy.text("create table silver_orders (id int, cents int)"))
            conn.execute(sqlalchemy.text("insert into silver_orders values (1, 120), (2, 99)"))
            total = conn.execute(sqlalchemy.text("select sum(cents) from silver_orders")).scalar()
        with psycopg.connect(pg_url) as direct:
            direct.execute("select count(*) from silver_orders").fetchone()
        cache = redis.Redis(host="127.0.0.1", port=redis_port)
        cache.set("revenue", int(total or 0))
        assert int(cache.get("revenue") or 0) == 219
        crosstrace.set_etl_records(input=2, output=2)
        return int(total or 0)

    with crosstrace.correlation_context(job_id="nightly-7") as job:
        assert load() == 219
    crosstrace.force_flush()
    spans = [s for s, _ in traced.spans()]
    etl = next(s for s in spans if s.name == "silver_load")
    below = [s for s in spans if s.trace_id == etl.trace_id and s is not etl]
    systems = [attrs(s).get("db.system") or attrs(s).get("db.system.name") for s in below]
    assert systems.count("postgresql") >= 5, [(s.name, attrs(s)) for s in below]
    assert systems.count("redis") == 2
    for s in below:
        assert attrs(s)["correlation.id"] == job.correlation_id
        assert attrs(s)["correlation.job_id"] == "nightly-7"
    statements = " ".join(str(attrs(s).get("db.statement", "")) for s in below)
    assert "insert into silver_orders" in statements
    assert "select count(*) from silver_orders" in statements
