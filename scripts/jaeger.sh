#!/usr/bin/env bash
# A real Jaeger v2 for tests and for people who want the UI, built from its Go module and cached
# under ~/.cache/crosstrace. Subcommands: install | start | stop | status.
#
# Jaeger v2 publishes its Go module as v1.x tags (v1.76.0 is Jaeger v2.13); cmd/jaeger is the v2
# binary (an OpenTelemetry Collector distribution) with in-memory storage.
source "$(dirname "$0")/common.sh"

JAEGER_MODULE="github.com/jaegertracing/jaeger/cmd/jaeger"
JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}"
JAEGER_DIR="${JAEGER_DIR:-$CROSSTRACE_CACHE/jaeger}"
JAEGER_BIN="$CROSSTRACE_CACHE/bin/jaeger-$JAEGER_VERSION"
OTLP_GRPC_PORT="${JAEGER_OTLP_GRPC_PORT:-4317}"
OTLP_HTTP_PORT="${JAEGER_OTLP_HTTP_PORT:-4318}"
THRIFT_HTTP_PORT="${JAEGER_THRIFT_HTTP_PORT:-14268}"
QUERY_PORT="${JAEGER_QUERY_PORT:-16686}"
PIDFILE="$JAEGER_DIR/jaeger.pid"
LOG="$JAEGER_DIR/jaeger.log"
mkdir -p "$JAEGER_DIR" "$CROSSTRACE_CACHE/bin"

install() {
  if [ -x "$JAEGER_BIN" ]; then return 0; fi
  command -v go >/dev/null || { echo "go not found: Jaeger is built from its Go module" >&2; exit 1; }
  echo "building Jaeger $JAEGER_VERSION from its Go module (cached under $CROSSTRACE_CACHE/go)..."
  # `go install module@version` refuses modules whose go.mod has replace directives (Jaeger's
  # pins sarama), so build it from a small wrapper module that repeats that one replace.
  local build="$CROSSTRACE_CACHE/jaeger-build"
  rm -rf "$build"
  mkdir -p "$build"
  cat >"$build/go.mod" <<GOMOD
module crosstrace.local/jaeger-build

go 1.24

require github.com/jaegertracing/jaeger $JAEGER_VERSION

replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0
GOMOD
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$JAEGER_MODULE" >"$build/tools.go"
  (
    cd "$build"
    export GOPATH="$CROSSTRACE_CACHE/go" GOMODCACHE="$CROSSTRACE_CACHE/go/pkg/mod" \
      GOCACHE="$CROSSTRACE_CACHE/go/cache" GOFLAGS=-mod=mod GOTOOLCHAIN=local
    # The checksums Jaeger itself builds with (some are not in the checksum database this
    # machine reaches), plus Jaeger's own from the module download.
    go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" >download.json
    local dir sum modsum
    dir="$(sed -n 's/^[[:space:]]*"Dir": "\([^"]*\)".*/\1/p' download.json)"
    sum="$(sed -n 's/^[[:space:]]*"Sum": "\([^"]*\)".*/\1/p' download.json)"
    modsum="$(sed -n 's/^[[:space:]]*"GoModSum": "\([^"]*\)".*/\1/p' download.json)"
    cp "$dir/go.sum" go.sum
    chmod u+w go.sum
    printf 'github.com/jaegertracing/jaeger %s %s\ngithub.com/jaegertracing/jaeger %s/go.mod %s\n' \
      "$JAEGER_VERSION" "$sum" "$JAEGER_VERSION" "$modsum" >>go.sum
    go build -trimpath -o "$JAEGER_BIN.tmp" "$JAEGER_MODULE"
  )
  mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
}

write_config() {
  cat >"$JAEGER_DIR/config.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp, jaeger]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    logs:
      level: info
    metrics:
      level: none

extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:${JAEGER_HEALTH_PORT:-13133}
  jaeger_query:
    storage:
      traces: memstore
    base_path: /
    ui:
      config_file: ""
    http:
      endpoint: 127.0.0.1:${QUERY_PORT}
    grpc:
      endpoint: 127.0.0.1:${JAEGER_QUERY_GRPC_PORT:-16685}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 200000

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${OTLP_GRPC_PORT}
      http:
        endpoint: 127.0.0.1:${OTLP_HTTP_PORT}
        cors:
          allowed_origins: ["*"]
          allowed_headers: ["*"]
  jaeger:
    protocols:
      thrift_http:
        endpoint: 127.0.0.1:${THRIFT_HTTP_PORT}

processors:
  batch:
    timeout: 200ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
}

healthy() {
  curl -fsS "http://127.0.0.1:$QUERY_PORT/api/services" >/dev/null 2>&1
}

start() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && healthy; then
    return 0
  fi
  install
  write_config
  : >"$LOG"
  nohup "$JAEGER_BIN" --config "$JAEGER_DIR/config.yaml" >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if healthy; then
      echo "Jaeger $JAEGER_VERSION up: UI http://127.0.0.1:$QUERY_PORT, OTLP :$OTLP_GRPC_PORT/:$OTLP_HTTP_PORT, Thrift :$THRIFT_HTTP_PORT"
      return 0
    fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "Jaeger did not come up; last log lines:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
}

stop() { stop_pidfile "$PIDFILE"; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) healthy && echo up || { echo down; exit 1; } ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
