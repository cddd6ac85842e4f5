#!/usr/bin/env bash
# Apache Kafka (KRaft, one node) started natively from jars that Maven resolves from Maven Central.
# Usage: deploy/kafka.sh install|start|stop|status. Idempotent: start reuses a running broker.
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${ZS_KAFKA_PORT:-19092}"
CTL_PORT="${ZS_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
HEAP="${ZS_KAFKA_HEAP:--Xmx768m -Xms256m}"
SASL="${ZS_KAFKA_SASL:-0}"   # 1: clients must authenticate with SCRAM-SHA-512, and ACLs apply
USERS="${ZS_KAFKA_USERS:-admin intake placement housing reporting}"
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
  local protocol=PLAINTEXT
  [ "$SASL" = 1 ] && protocol=SASL_PLAINTEXT
  sed -e "s|@PORT@|$PORT|g" -e "s|@CTL_PORT@|$CTL_PORT|g" -e "s|@DATA@|$DIR/data|g" -e "s|@PROTOCOL@|$protocol|g" \
    "$ZS_ROOT/deploy/kafka/server.properties.in" > "$DIR/server.properties"
  local scram=()
  if [ "$SASL" = 1 ] && [ -f "$DIR/data/meta.properties" ] && [ ! -f "$DIR/users.txt" ]; then
    log "$DIR was formatted without SASL users; remove it to start this instance with ZS_KAFKA_SASL=1"; exit 1
  fi
  if [ "$SASL" = 1 ]; then
    write_users
    sed -e "s|@ADMIN_PASSWORD@|$(password_of admin)|g" "$ZS_ROOT/deploy/kafka/sasl.properties.in" >> "$DIR/server.properties"
    while read -r user password; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$password]")
    done < "$DIR/users.txt"
  fi
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local id; id=$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" \
      -Dkafka.logs.dir="$DIR/logs" kafka.tools.StorageTool format --standalone --ignore-formatted \
      -t "$id" -c "$DIR/server.properties" "${scram[@]}" >"$DIR/logs/format.log" 2>&1
  fi
  # A broker keeps files open per partition; Kafka's docs advise 100,000 or more.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  log "starting Kafka on 127.0.0.1:$PORT"
  # shellcheck disable=SC2086
  nohup java $HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" -Dkafka.logs.dir="$DIR/logs" \
    -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" >"$DIR/logs/stdout.log" 2>&1 &
  echo $! > "$PID"
  if ! wait_port "$PORT" 90; then log "Kafka did not start; see $DIR/logs"; tail -20 "$DIR/logs/stdout.log" >&2; exit 1; fi
  log "Kafka ready on 127.0.0.1:$PORT"
}

# The SCRAM users and passwords ("user password" lines): generated once per instance, kept beside
# its data, readable by root only.
write_users() {
  [ -f "$DIR/users.txt" ] && return
  umask 077
  for user in $USERS; do echo "$user $(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"; done > "$DIR/users.txt"
  # The admin's client properties, for Kafka's own CLI tools (AclCommand).
  cat > "$DIR/admin.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password_of admin)";
PROPS
}

password_of() { awk -v u="$1" '$1 == u { print $2 }' "$DIR/users.txt"; }

# acl ARGS...: Kafka's AclCommand as the admin, e.g. acl --add --allow-principal User:x --operation Read --topic t
acl() {
  java -cp "$LIBS/*" -Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" -Dkafka.logs.dir="$DIR/logs" \
    org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$PORT" --command-config "$DIR/admin.properties" "$@"
}

# add-user NAME: a SCRAM user on the running broker (a provider's principal), its password generated once
# and kept in users.txt beside the others. Adding a user that exists changes nothing.
add-user() {
  local user="$1"
  [ -f "$DIR/users.txt" ] || { log "no users.txt: start this instance with ZS_KAFKA_SASL=1 first"; exit 1; }
  if [ -z "$(password_of "$user")" ]; then
    (umask 077; echo "$user $(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >> "$DIR/users.txt")
  fi
  java -cp "$LIBS/*" -Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" -Dkafka.logs.dir="$DIR/logs" \
    kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$PORT" --command-config "$DIR/admin.properties" \
    --alter --add-config "SCRAM-SHA-512=[password=$(password_of "$user")]" --entity-type users --entity-name "$user" >/dev/null
}

stop() { stop_pid "$PID" Kafka; }

status() { if pid_alive "$PID"; then echo "kafka running on 127.0.0.1:$PORT"; else echo "kafka stopped"; return 1; fi; }

"${1:-start}" "${@:2}"
