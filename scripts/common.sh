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
