#!/usr/bin/env bash
# Zero warnings: rustfmt, prettier (JS/TS), clang-format (C), clippy on native and on wasm32,
# rustdoc; no cycle among the core's modules; and the core's public API exposes no external
# type outside core/external-types.toml.
# The formatters check only: `prettier --write` and `clang-format -i` on the same files fix what
# they report.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
ensure_rust

# cargo-check-external-types reads rustdoc's JSON, an unstable format: each release reads the one
# of the nightly it pins (its rust-toolchain.toml), so the two move together.
EXTTYPES_VERSION=0.5.0
EXTTYPES_NIGHTLY=nightly-2026-03-20
TOOLS="$CROSSTRACE_CACHE/tools"

ensure_check_external_types() {
  rustup toolchain list | grep "^$EXTTYPES_NIGHTLY-" >/dev/null ||
    rustup toolchain install "$EXTTYPES_NIGHTLY" --profile minimal
  if ! "$TOOLS/bin/cargo-check-external-types" --version 2>/dev/null |
    grep -x "cargo-check-external-types $EXTTYPES_VERSION" >/dev/null; then
    CARGO_TARGET_DIR="$CROSSTRACE_CACHE/tools-target" \
      cargo install cargo-check-external-types --version "=$EXTTYPES_VERSION" --locked --root "$TOOLS"
  fi
}

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
  xargs -0 -r clang-format --dry-run --Werror

step "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
step "cargo clippy (wasm32, the feature set the wasm binding uses)"
cargo clippy -p crosstrace --target wasm32-unknown-unknown --no-default-features -- -D warnings
step "cargo clippy (native without span metrics: their handle has no values there)"
cargo clippy -p crosstrace --no-default-features --features native -- -D warnings
step "cargo doc (the core's public docs, no warnings: broken links included)"
RUSTDOCFLAGS="-D warnings" cargo doc -q -p crosstrace --no-deps

step "the core's modules depend on each other without a cycle"
python3 scripts/module_graph.py core/src

step "cargo check-external-types (the core's public API against core/external-types.toml)"
ensure_check_external_types
# Its own target dir: the nightly builds every dependency again, kept apart from stable's.
(cd core && PATH="$TOOLS/bin:$PATH" CARGO_TARGET_DIR="$CROSSTRACE_CACHE/target-exttypes" \
  cargo "+$EXTTYPES_NIGHTLY" check-external-types --all-features --config external-types.toml)
