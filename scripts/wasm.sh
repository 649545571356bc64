#!/usr/bin/env bash
# The npm package `crosstrace` (bindings-wasm/pkg): build, test, bench, and its size.
#   scripts/wasm.sh build | test | browser-test | bench | size-check | size-report
source "$(dirname "$0")/common.sh"
cd "$ROOT"

WASM_BINDGEN_VERSION=0.2.130 # keep equal to the `=` pin in bindings-wasm/Cargo.toml
TWIGGY_VERSION=0.8.0
TOOLS="$CROSSTRACE_CACHE/tools"
PKG="$ROOT/bindings-wasm/pkg"
# Two builds of one crate: the browser build (web/: profile wasm-web, OTLP/HTTP protobuf and the
# console only) and the full build (wasm/: profile wasm-release, every encoder; Node's).
# Both are built by a pinned nightly with the standard library compiled along (rust-src): its
# panics abort without formatting a message (a panic in wasm32 traps either way, and no hook
# prints one: the message code was 12 KB of the browser's download) and its size-optimised
# paths. Pinned: the flags are unstable (`-Cpanic=immediate-abort` exists since 2025-09), and the
# package's bytes should not depend on whichever nightly a machine has. Their own target
# directory: nightly's artifacts kept apart from stable's.
WASM_NIGHTLY=nightly-2026-10-30
WASM_TARGET_DIR="$CROSSTRACE_CACHE/target-wasm-nightly"
# (The flags go in as config, which adds them to .cargo/config.toml's; RUSTFLAGS would replace those.)
WASM_NIGHTLY_FLAGS=(--config "target.wasm32-unknown-unknown.rustflags=['-Zunstable-options','-Cpanic=immediate-abort']"
  -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
RAW_WASM="$WASM_TARGET_DIR/wasm32-unknown-unknown/wasm-release/crosstrace_wasm.wasm"
RAW_WEB_WASM="$WASM_TARGET_DIR/wasm32-unknown-unknown/wasm-web/crosstrace_wasm.wasm"
# wasm-opt's features for wasm-bindgen's output (Debian's binaryen breaks that output; the npm
# package's wasm-opt does not).
WASM_OPT_FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)
DEV="$ROOT/bindings-wasm/dev"
export PATH="$TOOLS/bin:$DEV/node_modules/.bin:$PATH"

ensure_tools() {
  ensure_rust
  if ! rustup component list --toolchain "$WASM_NIGHTLY" --installed 2>/dev/null |
    grep -q '^rust-src'; then
    rustup toolchain install "$WASM_NIGHTLY" --profile minimal --component rust-src
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    # Not --locked: the CLI's own lock file pins crates this registry may not serve.
    CARGO_TARGET_DIR="$CROSSTRACE_CACHE/tools-target" \
      cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --root "$TOOLS"
  fi
  ensure_npm_dev
}

build() {
  ensure_tools
  step "wasm: build the npm package: the browser build, then the full build"
  local each
  for each in "wasm-web" "wasm-release --features full"; do
    # shellcheck disable=SC2086 # $each is a profile and its features, split on purpose
    CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo "+$WASM_NIGHTLY" build -p crosstrace-wasm \
      --target wasm32-unknown-unknown "${WASM_NIGHTLY_FLAGS[@]}" --profile $each
  done
  rm -rf "$PKG"
  mkdir -p "$PKG/wasm" "$PKG/web"
  # Each build has its own wasm-bindgen glue (the closures' shims are named per build).
  wasm-bindgen --target web --out-dir "$PKG/web" --no-typescript "$RAW_WEB_WASM"
  wasm-opt -O3 --strip-debug --strip-producers "${WASM_OPT_FEATURES[@]}" \
    -o "$PKG/web/crosstrace_wasm_bg.wasm" "$PKG/web/crosstrace_wasm_bg.wasm"
  wasm-bindgen --target web --out-dir "$PKG/wasm" --no-typescript "$RAW_WASM"
  wasm-opt -O3 --strip-debug --strip-producers "${WASM_OPT_FEATURES[@]}" \
    -o "$PKG/wasm/crosstrace_wasm_bg.wasm" "$PKG/wasm/crosstrace_wasm_bg.wasm"
  # The entry points (index.js: browsers and bundlers, the browser build; node.js: Node's ES
  # modules, the full build; index.cjs: CommonJS) over one core.js; the typings, also for
  # `require` (index.d.cts).
  cp bindings-wasm/js/{index.js,node.js,edge.js,core.js,otel.js,index.cjs,index.d.ts,edge.d.ts,otel.d.ts,wasm.d.ts} \
    bindings-wasm/package.json bindings-wasm/README.md LICENSE "$PKG/"
  cp bindings-wasm/js/index.d.ts "$PKG/index.d.cts"
  echo "built $PKG (browser build $(du -sh "$PKG/web/crosstrace_wasm_bg.wasm" | cut -f1)," \
    "full build $(du -sh "$PKG/wasm/crosstrace_wasm_bg.wasm" | cut -f1))"
}

# The browser payload (gzipped .wasm + minified browser entry) against
# bindings-wasm/size-budget.json: growth fails the build.
size_check() {
  ensure_npm_dev
  step "wasm: the browser payload within its budget (bindings-wasm/size-budget.json)"
  node bindings-wasm/bench/size.mjs check
}

# docs/wasm-size-report.md: the payload, and `twiggy top` of the browser build's .wasm built again
# with its function names (from the same cargo output; the code is the shipped file's).
size_report() {
  build
  if ! twiggy --version 2>/dev/null | grep -q "$TWIGGY_VERSION"; then
    CARGO_TARGET_DIR="$CROSSTRACE_CACHE/tools-target" \
      cargo install twiggy --version "=$TWIGGY_VERSION" --locked --root "$TOOLS"
  fi
  step "wasm: size report (twiggy top of a build that keeps names) into docs/wasm-size-report.md"
  local named
  named="$(mktemp -d)"
  # shellcheck disable=SC2064 # expanded now: $named is local
  trap "rm -rf '$named'" EXIT
  wasm-bindgen --target web --out-dir "$named" --no-typescript --keep-debug "$RAW_WEB_WASM"
  # -g keeps the names section; --strip-dwarf drops std's DWARF, which --keep-debug keeps too.
  wasm-opt --strip-dwarf -O3 -g --strip-producers "${WASM_OPT_FEATURES[@]}" \
    -o "$named/named.wasm" "$named/crosstrace_wasm_bg.wasm"
  # Names only: without them the file must be the one the package ships, byte for byte.
  node bindings-wasm/bench/size.mjs same-code "$named/named.wasm"

  local total wasm js wasm_raw js_raw budget named_raw commit
  read -r total wasm js wasm_raw js_raw < <(node bindings-wasm/bench/size.mjs measure |
    node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
      console.log(s.total, s.wasm, s.js, s.wasmRaw, s.jsRaw)')
  budget="$(node -p 'require("./bindings-wasm/size-budget.json").bytes')"
  named_raw="$(wc -c <"$named/named.wasm")"
  commit="$(git rev-parse --short HEAD)"
  git diff --quiet HEAD -- core bindings-wasm/{src,js,Cargo.toml} Cargo.toml Cargo.lock scripts/wasm.sh ||
    commit="$commit with changes"
  kib() { awk -v n="$1" 'BEGIN { printf "%.1f KiB", n / 1024 }'; }
  {
    echo "# The browser package's size report"
    echo
    echo "Written by \`bash scripts/wasm.sh size-report\` on $(date +%F), at commit $commit: run it"
    echo "again rather than editing this page. docs/wasm-size.md explains the numbers and the way down."
    echo
    echo "**Browser payload: $total bytes ($(kib "$total"))**, as \`make test\` measures it"
    echo "(bindings-wasm/bench/size.mjs): the browser build's \`.wasm\` (web/) as the package ships it, $wasm bytes gzipped"
    echo "($wasm_raw raw), plus the browser entry bundled by esbuild \`--bundle --minify\`, $js bytes"
    echo "gzipped ($js_raw raw); \`gzip -9\` each. Budget: $budget bytes ($(kib "$budget")), in"
    echo "bindings-wasm/size-budget.json."
    echo
    echo "## The 30 largest items of the .wasm"
    echo
    echo "\`twiggy top -n 30\` (twiggy $TWIGGY_VERSION) of the package's \`.wasm\` built again with its"
    echo "names (\`wasm-bindgen --keep-debug\`, \`wasm-opt -O3 -g\`; without its names section that file"
    echo "is the shipped one, byte for byte). Raw bytes, before gzip; the percentages are of the"
    echo "names-kept file, $named_raw bytes ($wasm_raw shipped), whose names section is one of the items."
    echo
    echo '```text'
    twiggy top -n 30 "$named/named.wasm" | sed 's/[[:space:]]*$//'
    echo '```'
  } >docs/wasm-size-report.md
  echo "wrote docs/wasm-size-report.md (payload $total bytes, budget $budget)"
}

unit_tests() {
  ensure_apt chromium chromium-driver
  step "wasm: wasm-bindgen-test with the shared vectors, in Node (the browser build's features, then the full build's)"
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p crosstrace-wasm --target wasm32-unknown-unknown --features env --test web
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p crosstrace-wasm --target wasm32-unknown-unknown --features full --test web
  step "wasm: wasm-bindgen-test with the shared vectors, in headless Chromium"
  (cd bindings-wasm && CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_USE_BROWSER=1 \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p crosstrace-wasm --target wasm32-unknown-unknown --features env --test web)
  step "wasm: the npm package under node:test"
  node --test bindings-wasm/tests/package.test.mjs
  step "wasm: the typings compile (tsc --noEmit), without the DOM library too, and reject misuse"
  tsc -p bindings-wasm/tests/tsconfig.json
  tsc --noEmit --strict --module NodeNext --moduleResolution NodeNext --target ES2022 \
    --lib ES2022 --types node --typeRoots bindings-wasm/dev/node_modules/@types \
    bindings-wasm/tests/typings_node.ts
  local errors
  errors="$(tsc --noEmit --strict --module NodeNext --moduleResolution NodeNext --target ES2022 \
    --lib ES2022,DOM bindings-wasm/tests/typings_invalid.ts 2>&1 | grep -c 'error TS' || true)"
  if [ "$errors" != 6 ]; then
    echo "typings_invalid.ts: expected tsc to reject its 6 misuses, got $errors errors" >&2
    exit 1
  fi
}

browser_test() {
  ensure_apt chromium
  step "wasm: a page in headless Chromium traces a call and exports to a local endpoint and Jaeger"
  node bindings-wasm/tests/browser/run.mjs \
    "http://127.0.0.1:${JAEGER_OTLP_HTTP_PORT:-4318}/v1/traces" \
    "http://127.0.0.1:${JAEGER_QUERY_PORT:-16686}"
  step "wasm: the official OpenTelemetry JS instrumentations on crosstrace/otel (Node, Chromium)"
  node bindings-wasm/tests/otel/run.mjs "$PKG"
}

case "${1:-}" in
  build) build ;;
  test) build; size_check; unit_tests ;;
  browser-test) browser_test ;;
  bench)
    build
    # The Chromium rows (bench/browser_bench.mjs); the instruction counts (callgrind).
    ensure_apt chromium valgrind
    # The size floor of any package on opentelemetry_sdk (bindings-wasm/size-floor), built for
    # size with the same tools; bench.mjs reports it beside the two packages.
    floor="$CROSSTRACE_CACHE/size-floor"
    rm -rf "$floor"
    # (The package's nightly and standard library built along, as the package is.)
    CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo "+$WASM_NIGHTLY" build -q --release \
      --manifest-path bindings-wasm/size-floor/Cargo.toml --target wasm32-unknown-unknown \
      "${WASM_NIGHTLY_FLAGS[@]}"
    wasm-bindgen --target web --out-dir "$floor" --no-typescript \
      "$WASM_TARGET_DIR/wasm32-unknown-unknown/release/crosstrace_wasm_size_floor.wasm"
    wasm-opt -Oz --strip-debug --strip-producers "${WASM_OPT_FEATURES[@]}" \
      -o "$floor/crosstrace_wasm_size_floor_bg.wasm" "$floor/crosstrace_wasm_size_floor_bg.wasm"
    CT_SIZE_FLOOR_DIR="$floor" node bindings-wasm/bench/bench.mjs
    ;;
  size-check) size_check ;;
  size-report) size_report ;;
  *) echo "usage: $0 build|test|browser-test|bench|size-check|size-report" >&2; exit 2 ;;
esac
