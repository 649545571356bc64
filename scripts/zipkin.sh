#!/usr/bin/env bash
# A real Zipkin server for tests: the exec jar from Maven Central, run on the machine's Java 17,
# cached under ~/.cache/crosstrace. Subcommands: install | start | stop.
source "$(dirname "$0")/common.sh"

ZIPKIN_VERSION="${ZIPKIN_VERSION:-3.5.1}"
ZIPKIN_PORT="${ZIPKIN_PORT:-9411}"
M2="$CROSSTRACE_CACHE/m2"
JAR="$M2/io/zipkin/zipkin-server/$ZIPKIN_VERSION/zipkin-server-$ZIPKIN_VERSION-exec.jar"
DIR="$CROSSTRACE_CACHE/zipkin"
PIDFILE="$DIR/zipkin.pid"
LOG="$DIR/zipkin.log"
mkdir -p "$DIR"

install() {
  [ -f "$JAR" ] && return 0
  command -v mvn >/dev/null || { echo "mvn not found: Zipkin comes from Maven Central" >&2; exit 1; }
  mvn -q -Dmaven.repo.local="$M2" dependency:get \
    -Dartifact="io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" -Dtransitive=false
}

healthy() { curl -fsS "http://127.0.0.1:$ZIPKIN_PORT/health" >/dev/null 2>&1; }

start() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && healthy; then return 0; fi
  install
  : >"$LOG"
  nohup java -jar "$JAR" "--armeria.ports[0].port=$ZIPKIN_PORT" "--armeria.ports[0].ip=127.0.0.1" \
    "--armeria.ports[0].protocols=http" >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 180); do
    if healthy; then echo "Zipkin $ZIPKIN_VERSION up on http://127.0.0.1:$ZIPKIN_PORT"; return 0; fi
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
    sleep 0.5
  done
  echo "Zipkin did not come up; last log lines:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
}

stop() { stop_pidfile "$PIDFILE"; }

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
