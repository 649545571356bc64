#!/usr/bin/env bash
# Prometheus's own `promtool`, built with `go install` from the Prometheus module and cached
# under ~/.cache/crosstrace; the metrics tests check the specification's alert rules with it.
# Prints the binary's path.
source "$(dirname "$0")/common.sh"

PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
PROMTOOL_BIN="$CROSSTRACE_CACHE/bin/promtool-$PROMETHEUS_VERSION"
mkdir -p "$CROSSTRACE_CACHE/bin"

if [ ! -x "$PROMTOOL_BIN" ]; then
  command -v go >/dev/null || { echo "go not found: promtool is built from its Go module" >&2; exit 1; }
  echo "building promtool (Prometheus $PROMETHEUS_VERSION) from its Go module..." >&2
  tmp="$CROSSTRACE_CACHE/promtool-build"
  rm -rf "$tmp" && mkdir -p "$tmp"
  (
    export GOPATH="$CROSSTRACE_CACHE/go" GOMODCACHE="$CROSSTRACE_CACHE/go/pkg/mod" \
      GOCACHE="$CROSSTRACE_CACHE/go/cache" GOTOOLCHAIN=local GOBIN="$tmp"
    go install "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" >&2
  )
  mv "$tmp/promtool" "$PROMTOOL_BIN"
fi
echo "$PROMTOOL_BIN"
