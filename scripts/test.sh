#!/usr/bin/env bash
# Everything CI runs: lints, unit and vector tests, the C library's tests, the wasm32 build, and
# the integration tests against a real Jaeger that this script builds and starts on 127.0.0.1.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

bash scripts/lint.sh

step "core: unit, vector and pipeline tests"
cargo test -p crosstrace

bash scripts/c.sh test

step "core: builds for wasm32-unknown-unknown"
cargo build -p crosstrace --target wasm32-unknown-unknown --no-default-features

step "demo runs"
bash scripts/demo.sh >/dev/null

step "Jaeger: install and start"
bash scripts/jaeger.sh install
bash scripts/jaeger.sh start
trap 'bash scripts/jaeger.sh stop || true' EXIT

step "core: integration tests against the real Jaeger"
CROSSTRACE_JAEGER_QUERY="http://127.0.0.1:${JAEGER_QUERY_PORT:-16686}" \
  cargo test -p crosstrace --features integration --test jaeger -- --test-threads=1

bash scripts/c.sh jaeger-test
