#!/usr/bin/env bash
# Apache Kafka (KRaft, one node) started natively from jars that Maven resolves from Maven Central.
# Usage: deploy/kafka.sh install|start|stop|status. Idempotent: start reuses a running broker.
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${ZS_KAFKA_PORT:-59092}"
CTL_PORT="${ZS_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
HEAP="${ZS_KAFKA_HEAP:--Xmx768m -Xms256m}"
LIBS="$ZS_CACHE/kafka/libs"
DIR="$ZS_RUN/kafka"
PID="$DIR/kafka.pid"

install() {
  if [ -f "$LIBS/.complete" ] && [ "$LIBS/.complete" -nt "$ZS_ROOT/deploy/kafka/pom.xml" ]; then return; fi
  command -v mvn >/dev/null || { log "Maven is required (apt-get install -y maven)"; exit 1; }
  log "resolving Kafka jars from Maven Central into $LIBS"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -q -B -f "$ZS_ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIBS"
  touch "$LIBS/.complete"
}

start() {
  install
  if pid_alive "$PID"; then log "already running on 127.0.0.1:$PORT (pid $(cat "$PID"))"; return; fi
  rm -f "$PID"
  mkdir -p "$DIR/data" "$DIR/logs"
  sed -e "s|@PORT@|$PORT|g" -e "s|@CTL_PORT@|$CTL_PORT|g" -e "s|@DATA@|$DIR/data|g" \
    "$ZS_ROOT/deploy/kafka/server.properties.in" > "$DIR/server.properties"
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local id; id=$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" \
      -Dkafka.logs.dir="$DIR/logs" kafka.tools.StorageTool format --standalone --ignore-formatted \
      -t "$id" -c "$DIR/server.properties" >"$DIR/logs/format.log" 2>&1
  fi
  log "starting Kafka on 127.0.0.1:$PORT"
  # shellcheck disable=SC2086
  nohup java $HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" -Dkafka.logs.dir="$DIR/logs" \
    -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" >"$DIR/logs/stdout.log" 2>&1 &
  echo $! > "$PID"
  if ! wait_port "$PORT" 90; then log "Kafka did not start; see $DIR/logs"; tail -20 "$DIR/logs/stdout.log" >&2; exit 1; fi
  log "Kafka ready on 127.0.0.1:$PORT"
}

stop() {
  if pid_alive "$PID"; then
    local pid; pid=$(cat "$PID"); kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    log "Kafka stopped"
  fi
  rm -f "$PID"
}

status() { if pid_alive "$PID"; then echo "kafka running on 127.0.0.1:$PORT"; else echo "kafka stopped"; return 1; fi; }

"${1:-start}"
