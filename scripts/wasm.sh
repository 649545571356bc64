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
  if [ ! -x "$DEV/node_modules/.bin/wasm-opt" ]; then
    (cd "$DEV" && npm ci --no-audit --no-fund)
  fi
}

build() {
  ensure_tools
  step "wasm: build the npm package"
  cargo build -q -p crosstrace-wasm --profile wasm-release --target wasm32-unknown-unknown
  rm -rf "$PKG"
  mkdir -p "$PKG/wasm"
  wasm-bindgen --target web --out-dir "$PKG/wasm" --no-typescript \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/crosstrace_wasm.wasm"
  # Debian's binaryen breaks wasm-bindgen output; the npm package's wasm-opt does not.
  wasm-opt -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$PKG/wasm/crosstrace_wasm_bg.wasm" "$PKG/wasm/crosstrace_wasm_bg.wasm"
  cp bindings-wasm/js/index.js bindings-wasm/js/index.d.ts bindings-wasm/package.json "$PKG/"
  echo "built $PKG ($(du -sh "$PKG/wasm/crosstrace_wasm_bg.wasm" | cut -f1) wasm)"
}

case "${1:-}" in
  build) build ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
