#!/usr/bin/env bash
# The retail pipeline across WebAssembly, Python, C and Rust (examples/retail-pipeline/).
#   pipeline.sh demo        build the four parts, run the pipeline (console backend by default:
#                           no server), print one order's trace joined across the runtimes
#   pipeline.sh jaeger-test against the running Jaeger (scripts/jaeger.sh start): the trace in
#                           Jaeger's API for every propagation format, the sampling test; then
#                           into Zipkin (started here) and a screenshot of the trace in Zipkin's
#                           UI (headless Chromium)
#   source pipeline.sh build-parts   build the parts and set their paths (INVENTORY_BIN, ..., PY)
source "$(dirname "$0")/common.sh"
cd "$ROOT"

WORK="$CROSSTRACE_CACHE/pipeline"
mkdir -p "$WORK"

build_parts() {
  ensure_rust
  step "pipeline: the Rust inventory service"
  cargo build -p crosstrace --example inventory_service
  export INVENTORY_BIN="$CARGO_TARGET_DIR/debug/examples/inventory_service"
  step "pipeline: the C price-normalisation component"
  local libs
  libs="$(bash scripts/c.sh component)"
  export PRICE_NORMALISE_LIB="${libs%% *}" CROSSTRACE_C_LIB="${libs##* }"
  step "pipeline: the storefront's WebAssembly package"
  bash scripts/wasm.sh build
  export WASM_PKG="$ROOT/bindings-wasm/pkg"
  step "pipeline: the Python package"
  PY="$(bash scripts/python.sh venv)"
}

case "${1:-}" in
  build-parts) build_parts ;;
  demo)
    build_parts
    step "pipeline: storefront → ingestion API → ETL (C, Rust) on the ${OTEL_BACKEND:-console} backend"
    PIPELINE_WORKDIR="$WORK/demo" "$PY" examples/retail-pipeline/pipeline.py
    ;;
  jaeger-test)
    build_parts
    bash scripts/services.sh start
    export CROSSTRACE_PG_URL="postgresql://postgres@127.0.0.1:${CROSSTRACE_PG_PORT:-55432}/retail"
    ensure_apt chromium
    bash scripts/jaeger.sh start
    bash scripts/zipkin.sh start
    step "pipeline: one trace across four runtimes in the real Jaeger (and Zipkin)"
    PIPELINE_WORKDIR="$WORK/e2e" \
      JAEGER_QUERY="http://127.0.0.1:${JAEGER_QUERY_PORT:-16686}" \
      JAEGER_THRIFT="http://127.0.0.1:${JAEGER_THRIFT_HTTP_PORT:-14268}/api/traces" \
      JAEGER_OTLP="http://127.0.0.1:${JAEGER_OTLP_HTTP_PORT:-4318}/v1/traces" \
      ZIPKIN="http://127.0.0.1:${ZIPKIN_PORT:-9411}" \
      SCREENSHOT="$WORK/zipkin-trace.png" \
      "$PY" tests/e2e/pipeline_jaeger.py
    ;;
  *) echo "usage: $0 demo|jaeger-test|build-parts" >&2; exit 2 ;;
esac
