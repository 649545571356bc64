#!/usr/bin/env bash
# Benchmarks, side by side with the official SDK (and fastrace) in one run, printed as ratios;
# then docs/benchmarks.md is rewritten from this run (scripts/bench_report.py).
source "$(dirname "$0")/common.sh"
cd "$ROOT"
out="$CROSSTRACE_CACHE/bench"
mkdir -p "$out"
rm -f "$out"/*.txt
step "core: span cost beside opentelemetry_sdk and fastrace"
cargo bench -p crosstrace --bench spans | tee "$out/rust.txt"
step "core: instructions per span under callgrind (examples/span_probe), beside opentelemetry_sdk"
ensure_apt valgrind
cargo build -q --profile bench -p crosstrace --example span_probe
# Each scenario twice, 2,000 and 12,000 iterations: the difference is what the spans cost, every
# thread included (callgrind counts the export threads too), start-up and the final flush's
# fixed part cancelled.
python3 - "$CARGO_TARGET_DIR/release/examples/span_probe" <<'PY' | tee "$out/rust_ir.txt"
import re, subprocess, sys, tempfile
probe = sys.argv[1]
def ir(who, what, n):
    with tempfile.NamedTemporaryFile() as f:
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={f.name}",
                        probe, who, what, str(n)], check=True, capture_output=True)
        return int(re.search(rb"^(?:summary|totals): (\d+)", f.read(), re.M)[1])
print("instructions per span (callgrind, all threads; the difference of 2,000- and 12,000-span runs)")
print(f"{'scenario':<46} {'crosstrace':>12} {'opentelemetry_sdk':>18} {'sdk/ct':>8}")
for what, spans, label in (("attrs_short", 1, "span + 3 attributes (s, i, b)"),
                           ("attrs", 1, "span + 3 attributes (longer keys)"),
                           ("attrs20", 1, "span + 20 attributes"),
                           ("nested", 2, "nested parent + child (per span)"),
                           ("off", 1, "sampled out (span metrics on)"),
                           ("otlp", 1, "span + 3 attributes, OTLP/HTTP export")):
    ct, sdk = ((ir(who, what, 12_000) - ir(who, what, 2_000)) / (10_000 * spans)
               for who in ("ct", "sdk"))
    print(f"IR {label:<43} {ct:12,.0f} {sdk:18,.0f} {sdk / ct:7.2f}x")
PY
step "core: a tracing span through crosstrace's layer, beside tracing-opentelemetry (on crosstrace and on opentelemetry_sdk)"
cargo bench -p crosstrace --bench tracing_layer | tee "$out/tracing_layer.txt"
step "C: span start+end with 3 attributes through libcrosstrace"
bash scripts/c.sh bench | tee "$out/c.txt"
python3 - "$out/c.txt" <<'PY'
import re, sys
# Ratios of neighbouring rounds in one process (see bindings-c/bench/src/main.rs).
for name, label in (("c_span_3_attributes", "a call per attribute"),
                    ("c_span_3_attributes_at_start", "attributes at start"),
                    ("c_span_3_attributes_interned", "interned keys, a call per attribute"),
                    ("c_span_3_attributes_interned_at_start", "interned keys, attributes at start")):
    for line in open(sys.argv[1]):
        m = re.match(rf"RESULT {name} wall_ns=(\d+) cpu_ns=(\d+) wall_ratio=([\d.]+) cpu_ratio=([\d.]+)", line)
        if m:
            print(f"C ({label}) vs Rust core, span + 3 attributes: wall {float(m[3]):.2f}x, "
                  f"CPU {float(m[4]):.2f}x (goal 1.2x)")
            break
    else:
        sys.exit(f"no RESULT {name} in {sys.argv[1]}")
PY
step "C: instructions per span under callgrind, beside the Rust core"
# The same loops one side at a time (`crosstrace-c-bench probe SIDE N`), 2,000 and 12,000 spans.
python3 - "$CARGO_TARGET_DIR/release/crosstrace-c-bench" <<'PY' | tee "$out/c_ir.txt"
import re, subprocess, sys, tempfile
bench = sys.argv[1]
def ir(side, n):
    with tempfile.NamedTemporaryFile() as f:
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={f.name}",
                        bench, "probe", side, str(n)], check=True, capture_output=True)
        return int(re.search(rb"^(?:summary|totals): (\d+)", f.read(), re.M)[1])
def per_span(side):
    return (ir(side, 12_000) - ir(side, 2_000)) / 10_000
print("instructions per span (callgrind, all threads; the difference of 2,000- and 12,000-span runs)")
print(f"{'span + 3 attributes':<46} {'C':>12} {'Rust core':>12} {'C/Rust':>8}")
rust = {"rust": per_span("rust"), "rust_short": per_span("rust_short")}
for side, base, label in (("c0", "rust", "a call per attribute"),
                          ("c1", "rust", "attributes at start"),
                          ("c2", "rust", "interned keys, a call per attribute"),
                          ("c3", "rust", "interned keys, attributes at start"),
                          ("c4", "rust_short", "one-letter keys, a call per attribute")):
    c = per_span(side)
    print(f"IRC {label:<42} {c:12,.0f} {rust[base]:12,.0f} {c / rust[base]:7.2f}x")
print("(goal: C within 1.2x of Rust)")
PY

step "python: per-span cost beside opentelemetry-sdk"
bash scripts/python.sh bench | tee "$out/python.txt"

step "wasm: per-span cost in Node beside @opentelemetry/sdk-trace-base, and package size"
bash scripts/wasm.sh bench | tee "$out/wasm.txt"

step "soak: 1,000,000 spans through OTLP/HTTP to the real Jaeger, then with the backend down"
bash scripts/jaeger.sh install
bash scripts/jaeger.sh start
{
  cargo run -q --profile bench -p crosstrace --example soak -- up \
    "http://127.0.0.1:${JAEGER_OTLP_HTTP_PORT:-4318}/v1/traces"
  cargo run -q --profile bench -p crosstrace --example soak -- down
} | tee "$out/soak.txt"

step "docs/benchmarks.md: this run's date, machine, commit, summary table and outputs"
python3 scripts/bench_report.py "$out" docs/benchmarks.md
