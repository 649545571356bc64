#!/usr/bin/env bash
# Release artifacts: `make dist` builds them into dist/, and `make test` checks each one as its
# users install it (scripts/dist.sh check), not the working tree.
#   scripts/dist.sh build | check | msrv
#
# dist/ holds: the Python wheel (abi3, CPython >= 3.10, manylinux2014 x86_64) and sdist, the
# npm tarball, the C tarball (headers, static and shared libraries, pkg-config and CMake files)
# and the crate. Every artifact carries the LICENSE and no debug info.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

DIST="$ROOT/dist"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
MSRV="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
TOOLS_VENV="$CROSSTRACE_CACHE/dist-venv"

# maturin, and zig (from PyPI's ziglang) to link the wheel against manylinux2014's glibc.
ensure_build_tools() {
  ensure_apt python3-venv
  [ -x "$TOOLS_VENV/bin/pip" ] || { rm -rf "$TOOLS_VENV"; python3 -m venv "$TOOLS_VENV"; }
  "$TOOLS_VENV/bin/pip" install -q "maturin==1.16.0" "ziglang==0.17.1"
}

build() {
  ensure_rust
  ensure_apt binutils
  rm -rf "$DIST"
  mkdir -p "$DIST"
  step "dist: the C tarball"
  bash scripts/c.sh tarball "$DIST"
  step "dist: the Python wheel (abi3, manylinux2014; profile dist) and sdist"
  ensure_build_tools
  PATH="$TOOLS_VENV/bin:$PATH" maturin build --manifest-path bindings-python/Cargo.toml \
    --profile dist --zig --compatibility manylinux2014 --out "$DIST"
  PATH="$TOOLS_VENV/bin:$PATH" maturin sdist --manifest-path bindings-python/Cargo.toml \
    --out "$DIST"
  step "dist: the npm tarball"
  bash scripts/wasm.sh build
  (cd bindings-wasm/pkg && npm pack --silent --pack-destination "$DIST" >/dev/null)
  step "dist: the crate"
  cargo package -p crosstrace --allow-dirty
  cp "$CARGO_TARGET_DIR/package/crosstrace-$VERSION.crate" "$DIST/"
  step "dist: built"
  ls -l "$DIST"
}

# The wheel into a fresh virtualenv by a PATH without any Rust toolchain (nothing can be built
# from source), with the fastapi extra; then the README's Python quick start runs.
check_python() {
  local wheel venv="$CROSSTRACE_CACHE/dist-check/venv"
  wheel="$(echo "$DIST"/crosstrace-"$VERSION"-cp310-abi3-manylinux*.whl)"
  step "dist: the wheel ($(du -h "$wheel" | cut -f1)), installed with no Rust toolchain on PATH"
  local size
  size=$(stat -c %s "$wheel")
  [ "$size" -lt $((5 * 1024 * 1024)) ] || { echo "$wheel: $size bytes, over 5 MB" >&2; exit 1; }
  grep -q "dist-info/licenses/LICENSE" <<<"$(unzip -l "$wheel")" ||
    { echo "$wheel: no LICENSE" >&2; exit 1; }
  rm -rf "$venv"
  local bare_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  local python
  python="$(command -v python3)"
  env -i HOME="$HOME" PATH="$bare_path" "$python" -m venv "$venv"
  env -i HOME="$HOME" PATH="$venv/bin:$bare_path" sh -c '
    if command -v cargo || command -v rustc; then echo "a Rust toolchain is on PATH" >&2; exit 1; fi
    pip install -q --only-binary crosstrace "$1[fastapi]"' sh "$wheel"
  awk '/^```python$/{on=1;next} /^```$/{on=0} on' README.md >"$CROSSTRACE_CACHE/dist-check/quickstart.py"
  env -i HOME="$HOME" PATH="$venv/bin:$bare_path" OTEL_BACKEND=none \
    "$venv/bin/python" "$CROSSTRACE_CACHE/dist-check/quickstart.py"
  "$venv/bin/python" -c 'import crosstrace, fastapi; print("crosstrace", crosstrace.__version__)'
  step "dist: the sdist carries the workspace it builds from, and the LICENSE"
  local sdist="$DIST/crosstrace-$VERSION.tar.gz" listing
  listing="$(tar tzf "$sdist")"
  for f in LICENSE pyproject.toml core/Cargo.toml core/src/lib.rs bindings-python/src/lib.rs \
    python/crosstrace/__init__.py; do
    grep -qx "crosstrace-$VERSION/$f" <<<"$listing" || { echo "$sdist: no $f" >&2; exit 1; }
  done
}

check_npm() {
  local tgz="$DIST/crosstrace-$VERSION.tgz"
  step "dist: the npm tarball in fresh projects: Node ESM and CommonJS; esbuild, Vite and webpack pages in headless Chromium"
  ensure_apt chromium
  node bindings-wasm/tests/npm/check.mjs "$tgz"
}

check_c() {
  bash scripts/c.sh test-artifact "$DIST/crosstrace-c-$VERSION-linux-$(uname -m).tar.gz"
}

# The crate as crates.io would get it: `cargo publish --dry-run` builds the packaged sources,
# then the packaged tests run from the unpacked package (they read nothing outside it), and
# the docs build without a warning.
check_crate() {
  step "dist: the crate: cargo publish --dry-run, its own tests, cargo doc without warnings"
  cargo publish -p crosstrace --dry-run --allow-dirty
  (cd "$CARGO_TARGET_DIR/package/crosstrace-$VERSION" && cargo test --offline -q)
  RUSTDOCFLAGS="-D warnings" cargo doc -q -p crosstrace --no-deps
}

# The declared rust-version is true: the core builds (cargo check) with that toolchain.
msrv() {
  step "dist: rust-version $MSRV: the core checks with Rust $MSRV"
  rustup toolchain list | grep -q "^$MSRV" || rustup toolchain install "$MSRV" --profile minimal
  CARGO_TARGET_DIR="$CROSSTRACE_CACHE/target-msrv" cargo "+$MSRV" check -p crosstrace --locked
}

check() {
  ensure_apt unzip
  check_c
  check_python
  check_npm
  check_crate
  msrv
}

case "${1:-}" in
  build) build ;;
  check) check ;;
  msrv) msrv ;;
  *) echo "usage: $0 build|check|msrv" >&2; exit 2 ;;
esac
