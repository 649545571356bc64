#!/usr/bin/env bash
# The README's first command: first the Rust core's own ETL example (one run, a step that fails
# once and is retried, its trace printed as a tree), then the retail pipeline — storefront (WebAssembly) → ingestion API
# (Python) → ETL job (Python) with the price normaliser (C) and the inventory service (Rust) — on
# the console backend with SQLite: no server to install. It ends with one order's trace, joined
# across the four runtimes. Set OTEL_BACKEND=jaeger (with `make jaeger`) to see it in Jaeger.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
export OTEL_BACKEND="${OTEL_BACKEND:-console}"
step "the Rust core alone: one ETL run (extract → bronze → silver → gold, silver fails once and is retried)"
ensure_rust
cargo run -p crosstrace --example retail_etl
step "the retail pipeline across four runtimes"
bash scripts/pipeline.sh demo
