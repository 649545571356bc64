#!/usr/bin/env bash
# Zero warnings: rustfmt, clippy on native and on wasm32, rustdoc.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
ensure_rust
step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets --all-features -- -D warnings
step "cargo clippy (wasm32, the feature set the wasm binding uses)"
cargo clippy -p crosstrace --target wasm32-unknown-unknown --no-default-features -- -D warnings
step "cargo doc (the core's public docs, no warnings: broken links included)"
RUSTDOCFLAGS="-D warnings" cargo doc -q -p crosstrace --no-deps
