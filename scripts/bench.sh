#!/usr/bin/env bash
# Benchmarks, side by side with the official SDK (and fastrace) in one run, printed as ratios.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
out="$CROSSTRACE_CACHE/bench"
mkdir -p "$out"
step "core: span cost beside opentelemetry_sdk and fastrace"
cargo bench -p crosstrace --bench spans | tee "$out/rust.txt"
step "C: span start+end with 3 attributes through libcrosstrace"
bash scripts/c.sh bench | tee "$out/c.txt"
python3 - "$out/rust.txt" "$out/c.txt" <<'PY'
import re, sys
def result(path, name):
    for line in open(path):
        m = re.match(rf"RESULT {name} wall_ns=(\d+) cpu_ns=(\d+)", line)
        if m:
            return int(m[1]), int(m[2])
    sys.exit(f"no RESULT {name} in {path}")
rw, rc = result(sys.argv[1], "rust_span_3_attributes")
for name, label in (("c_span_3_attributes", "a call per attribute"),
                    ("c_span_3_attributes_at_start", "attributes at start")):
    cw, cc = result(sys.argv[2], name)
    print(f"C ({label}) vs Rust core, span + 3 attributes: wall {cw}/{rw} ns = {cw/rw:.2f}x, "
          f"CPU {cc}/{rc} ns = {cc/rc:.2f}x (goal 1.2x)")
PY

step "python: per-span cost beside opentelemetry-sdk"
bash scripts/python.sh bench

step "wasm: per-span cost in Node beside @opentelemetry/sdk-trace-base, and package size"
bash scripts/wasm.sh bench

step "soak: 1,000,000 spans through OTLP/HTTP to the real Jaeger, then with the backend down"
bash scripts/jaeger.sh install
bash scripts/jaeger.sh start
cargo run -q --release -p crosstrace --example soak -- up \
  "http://127.0.0.1:${JAEGER_OTLP_HTTP_PORT:-4318}/v1/traces"
cargo run -q --release -p crosstrace --example soak -- down
