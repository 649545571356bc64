#!/usr/bin/env bash
# The collector tier on 127.0.0.1, as deploy/ describes it for real hosts:
#
#   services ──OTLP──▶ ingest-1, ingest-2 ──(key: trace id)──▶ Kafka topic, 4 partitions
#            ──▶ sampler-1, sampler-2 (one consumer group: tail sampling per whole trace)
#            ──OTLP──▶ Jaeger (storage and query)
#
# Kafka comes from its Maven artifacts and runs in KRaft mode (no ZooKeeper); the collectors are
# the Jaeger v2 binary scripts/jaeger.sh builds (an OpenTelemetry Collector distribution with the
# kafka receiver and exporter and tail_sampling), run with deploy/collector/*.yaml as they are.
# Ports, pid files, data and logs live under ~/.cache/crosstrace/cluster.
#
#   cluster.sh start | stop | status | env
#   cluster.sh kill-sampler N | start-sampler N     (the fault test's kill and restart)
#   cluster.sh owners                                "PARTITION SAMPLER" per partition of the topic
#   cluster.sh test                                  (make cluster-test: tests/e2e/cluster_test.py)
source "$(dirname "$0")/common.sh"
cd "$ROOT"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_LIBS="$CROSSTRACE_CACHE/kafka-$KAFKA_VERSION/libs"
CLUSTER="$CROSSTRACE_CACHE/cluster"
JAEGER_BIN="$CROSSTRACE_CACHE/bin/jaeger-${JAEGER_VERSION:-v1.76.0}"

# Ports: a block of their own, apart from the test Jaeger's (4317/4318/16686).
export KAFKA_PORT="${CLUSTER_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${CLUSTER_KAFKA_CONTROLLER_PORT:-19093}"
INGEST_HTTP_PORTS=(24318 24328)
INGEST_GRPC_PORTS=(24317 24327)
INGEST_HEALTH_PORTS=(24133 24134)
SAMPLER_HEALTH_PORTS=(24233 24234)
export CLUSTER_JAEGER_OTLP_GRPC_PORT=24417 CLUSTER_JAEGER_QUERY_PORT=26686
export KAFKA_TOPIC="${KAFKA_TOPIC:-crosstrace-spans}" KAFKA_PARTITIONS=4
# The tail policy: errors, traces slower than TAIL_SLOW_MS, and TAIL_KEEP_PERCENT of the rest.
export TAIL_DECISION_WAIT="${TAIL_DECISION_WAIT:-10s}" TAIL_SLOW_MS="${TAIL_SLOW_MS:-1000}"
export TAIL_KEEP_PERCENT="${TAIL_KEEP_PERCENT:-10}"

mkdir -p "$CLUSTER"

kafka_install() {
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  command -v mvn >/dev/null || { echo "mvn not found: Kafka comes from Maven Central" >&2; exit 1; }
  echo "fetching Kafka $KAFKA_VERSION (kafka_2.13, kafka-tools and their dependencies) from Maven Central..."
  local build="$CROSSTRACE_CACHE/kafka-$KAFKA_VERSION/build"
  rm -rf "$KAFKA_LIBS" "$build"
  mkdir -p "$build"
  cat >"$build/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.crosstrace</groupId>
  <artifactId>kafka-server</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  mvn -q -B -f "$build/pom.xml" -Dmaven.repo.local="$CROSSTRACE_CACHE/m2" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime
  touch "$KAFKA_LIBS/.complete"
}

kafka_java() { java -Xmx512m -Dlog4j2.configurationFile="$CLUSTER/log4j2.yaml" -cp "$KAFKA_LIBS/*" "$@"; }

kafka_start() {
  local dir="$CLUSTER/kafka"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then return 0; fi
  kafka_install
  rm -rf "$dir"
  mkdir -p "$dir/data"
  cat >"$CLUSTER/log4j2.yaml" <<'YAML'
Configuration:
  Appenders:
    Console: {name: STDOUT, PatternLayout: {pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: WARN, AppenderRef: [{ref: STDOUT}]}
    Logger: [{name: kafka.server.KafkaRaftServer, level: INFO}]
YAML
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=$KAFKA_PARTITIONS
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  kafka_java kafka.tools.StorageTool format -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
    -c "$dir/server.properties" >"$dir/format.log" 2>&1
  nohup java -Xmx768m -Dlog4j2.configurationFile="$CLUSTER/log4j2.yaml" -cp "$KAFKA_LIBS/*" \
    kafka.Kafka "$dir/server.properties" >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 120); do
    if grep -q "Kafka Server started" "$dir/log"; then break; fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || { tail -n 40 "$dir/log" >&2; exit 1; }
    sleep 0.5
  done
  grep -q "Kafka Server started" "$dir/log" || { echo "Kafka did not start" >&2; tail -n 40 "$dir/log" >&2; exit 1; }
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
    --create --if-not-exists --topic "$KAFKA_TOPIC" --partitions "$KAFKA_PARTITIONS" \
    --replication-factor 1 >"$dir/topic.log" 2>&1 || { cat "$dir/topic.log" >&2; exit 1; }
  echo "Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT, topic $KAFKA_TOPIC x $KAFKA_PARTITIONS partitions"
}

# collector_start NAME CONFIG HEALTH_PORT [VAR=VALUE...]: a collector with deploy/collector/CONFIG.
collector_start() {
  local name="$1" config="$2" health="$3"
  shift 3
  local dir="$CLUSTER/$name"
  mkdir -p "$dir"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then return 0; fi
  env KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" HEALTH_ENDPOINT="127.0.0.1:$health" \
    LOG_LEVEL="${CLUSTER_LOG_LEVEL:-info}" "$@" \
    nohup "$JAEGER_BIN" --config "$ROOT/deploy/collector/$config.yaml" >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  disown  # a later kill-sampler is expected: no "Killed" notice from this shell
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$health/status" >/dev/null 2>&1; then
      echo "$name up (health :$health)"
      return 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.25
  done
  echo "$name did not come up; last log lines:" >&2
  tail -n 40 "$dir/log" >&2
  exit 1
}

sampler_start() {
  local i="$1"
  collector_start "sampler-$i" sampler "${SAMPLER_HEALTH_PORTS[$((i - 1))]}" \
    SAMPLER_ID="sampler-$i" JAEGER_OTLP_GRPC="127.0.0.1:$CLUSTER_JAEGER_OTLP_GRPC_PORT"
}

ingest_start() {
  local i="$1"
  collector_start "ingest-$i" ingest "${INGEST_HEALTH_PORTS[$((i - 1))]}" \
    INGEST_OTLP_GRPC="127.0.0.1:${INGEST_GRPC_PORTS[$((i - 1))]}" \
    INGEST_OTLP_HTTP="127.0.0.1:${INGEST_HTTP_PORTS[$((i - 1))]}"
}

jaeger_env() {
  export JAEGER_DIR="$CLUSTER/jaeger" JAEGER_OTLP_GRPC_PORT="$CLUSTER_JAEGER_OTLP_GRPC_PORT" \
    JAEGER_OTLP_HTTP_PORT=24418 JAEGER_THRIFT_HTTP_PORT=24468 \
    JAEGER_QUERY_PORT="$CLUSTER_JAEGER_QUERY_PORT" JAEGER_QUERY_GRPC_PORT=26685 \
    JAEGER_HEALTH_PORT=24333
}

start() {
  bash scripts/jaeger.sh install
  (jaeger_env && bash scripts/jaeger.sh start)
  kafka_start
  sampler_start 1
  sampler_start 2
  ingest_start 1
  ingest_start 2
  print_env
}

print_env() {
  echo "# the tier's OTLP/HTTP endpoints (either takes any span) and Jaeger's query API:"
  echo "OTEL_EXPORTER_ENDPOINT=http://127.0.0.1:${INGEST_HTTP_PORTS[0]}/v1/traces"
  echo "CLUSTER_ENDPOINTS=http://127.0.0.1:${INGEST_HTTP_PORTS[0]}/v1/traces,http://127.0.0.1:${INGEST_HTTP_PORTS[1]}/v1/traces"
  echo "CLUSTER_QUERY=http://127.0.0.1:$CLUSTER_JAEGER_QUERY_PORT"
}

stop() {
  for n in ingest-1 ingest-2 sampler-1 sampler-2; do stop_pidfile "$CLUSTER/$n/pid"; done
  stop_pidfile "$CLUSTER/kafka/pid"
  (jaeger_env && bash scripts/jaeger.sh stop)
}

status() {
  local rc=0
  for n in kafka ingest-1 ingest-2 sampler-1 sampler-2 jaeger; do
    local pidfile="$CLUSTER/$n/pid"
    [ "$n" = jaeger ] && pidfile="$CLUSTER/jaeger/jaeger.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$n: up (pid $(cat "$pidfile"))"
    else
      echo "$n: down"
      rc=1
    fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) print_env ;;
  kill-sampler)
    kill -9 "$(cat "$CLUSTER/sampler-$2/pid")"
    rm -f "$CLUSTER/sampler-$2/pid"
    echo "sampler-$2 killed (SIGKILL)"
    ;;
  start-sampler) sampler_start "$2" ;;
  owners)
    # The consumer group's assignment; a static member's consumer id starts with its instance id.
    kafka_java org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      --bootstrap-server "127.0.0.1:$KAFKA_PORT" --describe --group crosstrace-tail-sampling 2>/dev/null |
      awk -v topic="$KAFKA_TOPIC" '$2 == topic { match($7, /^sampler-[0-9]+/); print $3, substr($7, RSTART, RLENGTH) }'
    ;;
  test)
    # The pipeline's parts (built once, cached), PostgreSQL, then a fresh tier.
    source scripts/pipeline.sh build-parts
    bash scripts/services.sh start
    stop
    trap stop EXIT # a failed test leaves no tier running
    start
    step "cluster: 1,000+ orders through the tier; tail decisions checked in Jaeger"
    CLUSTER_QUERY="http://127.0.0.1:$CLUSTER_JAEGER_QUERY_PORT" \
      CLUSTER_ENDPOINTS="http://127.0.0.1:${INGEST_HTTP_PORTS[0]}/v1/traces,http://127.0.0.1:${INGEST_HTTP_PORTS[1]}/v1/traces" \
      CLUSTER_SCRIPT="$ROOT/scripts/cluster.sh" CLUSTER_DIR="$CLUSTER" \
      CROSSTRACE_PG_URL="postgresql+psycopg://postgres@127.0.0.1:${CROSSTRACE_PG_PORT:-55432}/retail" \
      PIPELINE_WORKDIR="$CLUSTER/pipeline" \
      "$PY" tests/e2e/cluster_test.py
    stop
    ;;
  *) echo "usage: $0 start|stop|status|env|kill-sampler N|start-sampler N|test" >&2; exit 2 ;;
esac
