#!/usr/bin/env bash
# Zero warnings: rustfmt, prettier (JS/TS), clang-format (C), clippy on native and on wasm32,
# rustdoc. The formatters check only: `prettier --write` and `clang-format -i` on the same files
# fix what they report.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
ensure_rust
step "cargo fmt --check"
cargo fmt --all --check

step "prettier --check (hand-written JS/TS: bindings-wasm's entries, typings, tests, bench; examples)"
ensure_npm_dev
# Globs, not folders: a folder would bring in its JSON, HTML and Markdown too. bindings-wasm/pkg
# (wasm-bindgen output and copies) is outside them, and in .prettierignore.
bindings-wasm/dev/node_modules/.bin/prettier --check --no-error-on-unmatched-pattern \
  'bindings-wasm/js/**/*.{js,cjs,mjs,ts}' 'bindings-wasm/tests/**/*.{js,cjs,mjs,ts}' \
  'bindings-wasm/bench/**/*.{js,cjs,mjs,ts}' 'examples/**/*.{js,cjs,mjs,ts}'

step "clang-format --dry-run (hand-written C: tests, examples, bench; not cbindgen's crosstrace.h)"
ensure_apt clang-format
find bindings-c examples -type f \( -name '*.c' -o -name '*.h' \) \
  ! -path bindings-c/include/crosstrace.h -print0 | sort -z |
  xargs -0 clang-format --dry-run --Werror

step "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
step "cargo clippy (wasm32, the feature set the wasm binding uses)"
cargo clippy -p crosstrace --target wasm32-unknown-unknown --no-default-features -- -D warnings
step "cargo doc (the core's public docs, no warnings: broken links included)"
RUSTDOCFLAGS="-D warnings" cargo doc -q -p crosstrace --no-deps
