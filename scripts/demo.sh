#!/usr/bin/env bash
# The README's first command: the retail pipeline — storefront (WebAssembly) → ingestion API
# (Python) → ETL job (Python) with the price normaliser (C) and the inventory service (Rust) — on
# the console backend with SQLite: no server to install. It ends with one order's trace, joined
# across the four runtimes. Set OTEL_BACKEND=jaeger (with `make jaeger`) to see it in Jaeger.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
export OTEL_BACKEND="${OTEL_BACKEND:-console}"
bash scripts/pipeline.sh demo
