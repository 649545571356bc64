#!/usr/bin/env bash
# Everything CI runs: lints, unit and vector tests, the C library's tests, the wasm32 build, and
# the integration tests against a real Jaeger that this script builds and starts on 127.0.0.1.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_apt openssl curl ca-certificates
bash scripts/lint.sh


step "core: unit, vector and pipeline tests (and the READMEs' Rust examples as doctests)"
RUSTDOCFLAGS="--cfg crosstrace_repo" cargo test -p crosstrace

step "core: the span metrics' per-thread rings under miri (writers, a concurrent folder; 4 seeds)"
# Several seeds: miri's weak-memory emulation picks which stale values a load may see per seed,
# and one seed alone can miss an ordering that is too weak (a Relaxed store of a ring's head).
MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-many-seeds=0..4" miri_test crosstrace metrics::local:: \
  --no-default-features --features span-metrics

bash scripts/c.sh test
bash scripts/wasm.sh test
trap 'bash scripts/services.sh stop || true' EXIT
bash scripts/python.sh test



# The release artifacts, built as `make dist` builds them and checked as their users install
# them.
bash scripts/dist.sh build
bash scripts/dist.sh check

step "core: builds for wasm32-unknown-unknown"
cargo build -p crosstrace --target wasm32-unknown-unknown --no-default-features

step "demo runs: the retail pipeline across four runtimes, joined from console output"
bash scripts/demo.sh >/dev/null
step "demo runs: the Rust-only ETL example (its trace on stderr: silver failed, then retried)"
etl_trace=$(cargo run --quiet -p crosstrace --example retail_etl 2>&1 >/dev/null)
for want in "^\[retail-etl-demo\] trace [0-9a-f]{32}$" \
  "^    silver_transformation \[internal\] [0-9.]+ ms error: warehouse connection reset span=[0-9a-f]{16} .*etl.attempt=1" \
  "^    silver_transformation \[internal\] [0-9.]+ ms unset span=[0-9a-f]{16} .*etl.attempt=2" \
  "^    gold_aggregation \[internal\] "; do
  grep -Eq "$want" <<<"$etl_trace" || { echo "retail_etl: no line matching $want in:"; echo "$etl_trace"; exit 1; }
done

step "Jaeger and Zipkin: install and start"
bash scripts/jaeger.sh install
bash scripts/zipkin.sh install
trap 'bash scripts/jaeger.sh stop || true; bash scripts/zipkin.sh stop || true; bash scripts/services.sh stop || true' EXIT
bash scripts/jaeger.sh start
bash scripts/zipkin.sh start

step "core: integration tests against the real Jaeger and Zipkin"
export CROSSTRACE_JAEGER_QUERY="http://127.0.0.1:${JAEGER_QUERY_PORT:-16686}"
export CROSSTRACE_JAEGER_SCRIPT="$ROOT/scripts/jaeger.sh"
export CROSSTRACE_ZIPKIN="http://127.0.0.1:${ZIPKIN_PORT:-9411}"
cargo test -p crosstrace-integration-tests -- --test-threads=1

bash scripts/c.sh jaeger-test
bash scripts/wasm.sh browser-test
bash scripts/python.sh jaeger-test
bash scripts/pipeline.sh jaeger-test

# The collector tier: Kafka and tail-sampling collectors in front of a Jaeger of its own; the
# offline checks of deploy/'s Compose file, Kubernetes manifests and collector configs.
trap 'bash scripts/cluster.sh stop || true; bash scripts/jaeger.sh stop || true; bash scripts/zipkin.sh stop || true; bash scripts/services.sh stop || true' EXIT
bash scripts/cluster.sh test
bash scripts/deploy_check.sh
