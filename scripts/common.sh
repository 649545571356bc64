# Shared by the scripts: cache locations and the Rust toolchain parts the project needs.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CROSSTRACE_CACHE="${CROSSTRACE_CACHE:-$HOME/.cache/crosstrace}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CROSSTRACE_CACHE/target}"
mkdir -p "$CROSSTRACE_CACHE"

step() { printf '\n==> %s  [%s]\n' "$*" "$(date +%T)"; }

# rustfmt, clippy and the wasm32 target: idempotent, quick when present.
ensure_rust() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 1; }
  local have
  have="$(rustup component list --installed 2>/dev/null || true)"
  for c in rustfmt clippy; do
    grep -q "^$c" <<<"$have" || rustup component add "$c"
  done
  rustup target list --installed | grep -q '^wasm32-unknown-unknown$' ||
    rustup target add wasm32-unknown-unknown
}

# Nightly's miri (and the rust-src it builds its standard library from), installed only when
# missing: a nightly already there is not updated on every run (a new nightly rebuilds the
# miri target from scratch, a few minutes).
ensure_miri() {
  local have
  have="$(rustup component list --toolchain nightly --installed 2>/dev/null || true)"
  if ! grep -q '^miri' <<<"$have" || ! grep -q '^rust-src' <<<"$have"; then
    rustup toolchain install nightly --profile minimal --component miri --component rust-src
  fi
}

# The lib tests of CRATE matching FILTER under miri (MIRIFLAGS as the caller sets them), with
# any further cargo arguments: one target directory for every miri test (miri builds every
# dependency again, about 4 minutes cold).
#   miri_test CRATE FILTER [CARGO_ARGS...]
miri_test() {
  local crate="$1" filter="$2"
  shift 2
  ensure_miri
  local log="$CROSSTRACE_CACHE/miri-test.log"
  # One target directory per checkout: cargo-miri records the directory a test binary was built
  # from and runs it there, so a binary another checkout built (same sources, older files)
  # would be run from a directory that may be gone.
  local dir
  dir="$CROSSTRACE_CACHE/target-miri-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)"
  CARGO_TARGET_DIR="$dir" \
    cargo +nightly miri test -p "$crate" --lib "$@" "$filter" 2>&1 | tee "$log"
  # A filter that matches nothing passes with 0 tests: that is a failure here.
  # (With several seeds, miri runs them at once and their lines interleave.)
  if ! grep -qE '(^|[^0-9])[1-9][0-9]* passed' "$log"; then
    echo "miri ran no test for filter '$filter' in $crate" >&2
    exit 1
  fi
}

# Debian packages, installed only when missing (apt-get update first, as this machine needs).
ensure_apt() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The pinned npm tools of bindings-wasm/dev (wasm-opt, tsc, esbuild, prettier, the OTel JS SDK):
# `npm ci` when node_modules is missing or was installed from another package-lock.json.
ensure_npm_dev() {
  command -v npm >/dev/null || { echo "npm not found: install Node.js (>= 18)" >&2; exit 1; }
  local dev="$ROOT/bindings-wasm/dev"
  if ! cmp -s "$dev/package-lock.json" "$dev/node_modules/.crosstrace-installed-lock"; then
    (cd "$dev" && npm ci --no-audit --no-fund)
    cp "$dev/package-lock.json" "$dev/node_modules/.crosstrace-installed-lock"
  fi
}

# Stops the daemon whose pid is in $1 (TERM, then KILL after 5 s) and removes the pid file.
stop_pidfile() {
  local pidfile="$1"
  [ -f "$pidfile" ] || return 0
  local pid
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}
