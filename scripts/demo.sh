#!/usr/bin/env bash
# The README's first command: the retail ETL run on the console backend.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
export OTEL_BACKEND="${OTEL_BACKEND:-console}"
cargo run --quiet -p crosstrace --example retail_etl
