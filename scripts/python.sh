#!/usr/bin/env bash
# The Python package `crosstrace`: `pip install ./bindings-python` into a cached virtualenv,
# ruff, and the pytest suite (with real PostgreSQL and Redis).   scripts/python.sh test
source "$(dirname "$0")/common.sh"
cd "$ROOT"

VENV="$CROSSTRACE_CACHE/venv"
PY="$VENV/bin/python"

ensure_venv() {
  [ -x "$PY" ] || python3 -m venv "$VENV"
  if ! "$PY" -m pip freeze 2>/dev/null | grep -q '^pytest=='; then
    "$PY" -m pip install -q --upgrade pip
  fi
  "$PY" -m pip install -q -r bindings-python/requirements-test.txt
}

# The virtualenv with the package (built from this checkout) installed.
install_package() {
  ensure_rust
  ensure_venv
  # Not quiet: maturin compiles the Rust core for minutes on a cold machine, and says so.
  "$PY" -m pip install ./bindings-python
}

case "${1:-}" in
  test)
    step "python: pip install ./bindings-python (maturin builds the Rust core)"
    install_package
    step "python: ruff"
    "$VENV/bin/ruff" check bindings-python examples tests scripts
    "$VENV/bin/ruff" format --check bindings-python examples tests scripts
    step "python: typed: mypy on the package, stubtest of the native module's .pyi"
    (cd "$CROSSTRACE_CACHE" && "$PY" -m mypy -p crosstrace --python-version 3.10 &&
      "$PY" -m mypy.stubtest crosstrace._native)
    step "python: the README's Python quick start runs"
    awk '/^```python$/{on=1;next} /^```$/{on=0} on' README.md >"$CROSSTRACE_CACHE/readme_quickstart.py"
    OTEL_BACKEND=none "$PY" "$CROSSTRACE_CACHE/readme_quickstart.py" >/dev/null
    step "python: PostgreSQL and Redis for the database tests"
    bash scripts/services.sh start
    export CROSSTRACE_PG_URL="postgresql://postgres@127.0.0.1:${CROSSTRACE_PG_PORT:-55432}/retail"
    export CROSSTRACE_REDIS_PORT="${CROSSTRACE_REDIS_PORT:-56379}"
    step "python: pytest"
    (cd bindings-python/tests && "$PY" -m pytest -q -p no:cacheprovider)
    ;;
  venv)
    # The virtualenv with the package installed; prints its python.
    install_package >&2
    echo "$PY"
    ;;
  jaeger-test)
    step "python: spans found in the real Jaeger"
    "$PY" bindings-python/tests/jaeger_check.py \
      "http://127.0.0.1:${JAEGER_OTLP_HTTP_PORT:-4318}/v1/traces" \
      "http://127.0.0.1:${JAEGER_QUERY_PORT:-16686}"
    ;;
  bench)
    # pip's progress to stderr: stdout is the bench's report (docs/benchmarks.md quotes it).
    install_package >&2
    "$PY" bindings-python/bench/bench.py
    # Instructions per span under callgrind: a C helper issues its client requests (zero the
    # counters before a scenario's spans, dump them after its flush).
    ensure_apt valgrind
    helper="$CROSSTRACE_CACHE/bench/ctgrind.so"
    mkdir -p "$(dirname "$helper")"
    printf '%s\n' '#include <valgrind/callgrind.h>' \
      'void ct_zero(void) { CALLGRIND_ZERO_STATS; }' \
      'void ct_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }' |
      gcc -O2 -shared -fPIC -x c -o "$helper" -
    "$PY" bindings-python/bench/bench.py instructions "$helper"
    ;;
  *) echo "usage: $0 test|jaeger-test|bench" >&2; exit 2 ;;
esac
