#!/usr/bin/env bash
# PostgreSQL and Redis from Debian's packages, on 127.0.0.1 ports of their own, data under
# ~/.cache/crosstrace. Subcommands: start | stop.
source "$(dirname "$0")/common.sh"

PG_PORT="${CROSSTRACE_PG_PORT:-55432}"
REDIS_PORT="${CROSSTRACE_REDIS_PORT:-56379}"
# Not under ~/.cache: the postgres user cannot enter /root.
PGDATA="${CROSSTRACE_PGDATA:-/var/lib/crosstrace/postgres}"
REDIS_DIR="$CROSSTRACE_CACHE/redis"

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1; }

start() {
  ensure_apt postgresql redis-server
  local bin
  bin="$(pg_bin)"
  # PostgreSQL refuses to run as root: its data belongs to the postgres user.
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    rm -rf "$PGDATA"
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    runuser -u postgres -- "$bin/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
  fi
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$PGDATA" -w -l "$PGDATA/server.log" \
      -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PGDATA" start >/dev/null
  fi
  runuser -u postgres -- psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "select 1 from pg_database where datname='retail'" | grep -q 1 ||
    runuser -u postgres -- psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "create database retail" >/dev/null
  mkdir -p "$REDIS_DIR"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --daemonize yes \
      --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --save "" >/dev/null
    for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "PostgreSQL on 127.0.0.1:$PG_PORT (database retail), Redis on 127.0.0.1:$REDIS_PORT"
}

stop() {
  local bin
  bin="$(pg_bin 2>/dev/null || true)"
  if [ -n "$bin" ] && [ -f "$PGDATA/PG_VERSION" ]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
  fi
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
