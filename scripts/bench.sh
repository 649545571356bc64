#!/usr/bin/env bash
# Benchmarks, side by side with the official SDK (and fastrace) in one run, printed as ratios.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
step "core: span cost beside opentelemetry_sdk and fastrace"
cargo bench -p crosstrace --bench spans
