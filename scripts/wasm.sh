#!/usr/bin/env bash
# The npm package `crosstrace` (bindings-wasm/pkg): build, test, bench.
#   scripts/wasm.sh build | test | bench
source "$(dirname "$0")/common.sh"
cd "$ROOT"

WASM_BINDGEN_VERSION=0.2.130 # keep equal to the `=` pin in bindings-wasm/Cargo.toml
TOOLS="$CROSSTRACE_CACHE/tools"
PKG="$ROOT/bindings-wasm/pkg"
DEV="$ROOT/bindings-wasm/dev"
export PATH="$TOOLS/bin:$DEV/node_modules/.bin:$PATH"

ensure_tools() {
  ensure_rust
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    # Not --locked: the CLI's own lock file pins crates this registry may not serve.
    CARGO_TARGET_DIR="$CROSSTRACE_CACHE/tools-target" \
      cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --root "$TOOLS"
  fi
  ensure_npm_dev
}

build() {
  ensure_tools
  step "wasm: build the npm package"
  cargo build -p crosstrace-wasm --profile wasm-release --target wasm32-unknown-unknown
  rm -rf "$PKG"
  mkdir -p "$PKG/wasm"
  wasm-bindgen --target web --out-dir "$PKG/wasm" --no-typescript \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/crosstrace_wasm.wasm"
  # Debian's binaryen breaks wasm-bindgen output; the npm package's wasm-opt does not.
  # -O3, not -Oz: see the wasm-release profile in Cargo.toml.
  wasm-opt -O3 --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$PKG/wasm/crosstrace_wasm_bg.wasm" "$PKG/wasm/crosstrace_wasm_bg.wasm"
  # The entry points (index.js: browsers and bundlers; node.js: Node's ES modules; index.cjs:
  # CommonJS) over one core.js; the typings, also for `require` (index.d.cts).
  cp bindings-wasm/js/{index.js,node.js,core.js,index.cjs,index.d.ts,wasm.d.ts} \
    bindings-wasm/package.json bindings-wasm/README.md LICENSE "$PKG/"
  cp bindings-wasm/js/index.d.ts "$PKG/index.d.cts"
  echo "built $PKG ($(du -sh "$PKG/wasm/crosstrace_wasm_bg.wasm" | cut -f1) wasm)"
}

unit_tests() {
  ensure_apt chromium chromium-driver
  step "wasm: wasm-bindgen-test with the shared vectors, in Node"
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p crosstrace-wasm --target wasm32-unknown-unknown --test web
  step "wasm: wasm-bindgen-test with the shared vectors, in headless Chromium"
  (cd bindings-wasm && CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_USE_BROWSER=1 \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p crosstrace-wasm --target wasm32-unknown-unknown --test web)
  step "wasm: the npm package under node:test"
  node --test bindings-wasm/tests/package.test.mjs
  step "wasm: the typings compile (tsc --noEmit), and reject misuse"
  tsc -p bindings-wasm/tests/tsconfig.json
  local errors
  errors="$(tsc --noEmit --strict --module NodeNext --moduleResolution NodeNext --target ES2022 \
    --lib ES2022,DOM bindings-wasm/tests/typings_invalid.ts 2>&1 | grep -c 'error TS' || true)"
  if [ "$errors" != 3 ]; then
    echo "typings_invalid.ts: expected tsc to reject its 3 misuses, got $errors errors" >&2
    exit 1
  fi
}

browser_test() {
  ensure_apt chromium
  step "wasm: a page in headless Chromium traces a call and exports to a local endpoint and Jaeger"
  node bindings-wasm/tests/browser/run.mjs \
    "http://127.0.0.1:${JAEGER_OTLP_HTTP_PORT:-4318}/v1/traces" \
    "http://127.0.0.1:${JAEGER_QUERY_PORT:-16686}"
}

case "${1:-}" in
  build) build ;;
  test) build; unit_tests ;;
  browser-test) browser_test ;;
  bench)
    build
    # The size floor of any package on opentelemetry_sdk (bindings-wasm/size-floor), built for
    # size with the same tools; bench.mjs reports it beside the two packages.
    floor="$CROSSTRACE_CACHE/size-floor"
    rm -rf "$floor"
    cargo build -q --release --manifest-path bindings-wasm/size-floor/Cargo.toml \
      --target wasm32-unknown-unknown
    wasm-bindgen --target web --out-dir "$floor" --no-typescript \
      "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/crosstrace_wasm_size_floor.wasm"
    wasm-opt -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      -o "$floor/crosstrace_wasm_size_floor_bg.wasm" "$floor/crosstrace_wasm_size_floor_bg.wasm"
    CT_SIZE_FLOOR_DIR="$floor" node bindings-wasm/bench/bench.mjs
    ;;
  *) echo "usage: $0 build|test|browser-test|bench" >&2; exit 2 ;;
esac
