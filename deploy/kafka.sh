#!/usr/bin/env bash
# Apache Kafka (KRaft) started natively from jars that Maven resolves from Maven Central: one combined node by default.
# Usage: deploy/kafka.sh install|start|stop|status|acl|add-user|user add NAME|kill N. Idempotent: start reuses a running broker.
# ZS_KAFKA_NODES=3 runs a cluster of three combined broker+controller nodes instead (PLAINTEXT only): node
# i (1-based) listens on PORT+2(i-1) and its controller on the port after; `kill N` kills node N with
# SIGKILL (a crash, for the fault suite) and `start` starts whichever nodes are not running.
set -euo pipefail
source "$(dirname "$0")/common.sh"
# Everything written from here on (server.properties carries passwords) is the owner's alone. Set after
# common.sh, which creates the run directory that PostgreSQL's own user must still be able to enter.
umask 077
PORT="${ZS_KAFKA_PORT:-19092}"
CTL_PORT="${ZS_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
HEAP="${ZS_KAFKA_HEAP:--Xmx768m -Xms256m}"
NODES="${ZS_KAFKA_NODES:-1}"
SASL="${ZS_KAFKA_SASL:-0}"   # 1: clients must authenticate with SCRAM-SHA-512, and ACLs apply
TLS="${ZS_KAFKA_TLS:-0}"     # 1: SASL over TLS (SASL_SSL), the certificate signed by a CA under .cache/tls
[ "$TLS" = 1 ] && SASL=1
USERS="${ZS_KAFKA_USERS:-admin intake placement housing reporting redrive}"
LIBS="$ZS_CACHE/kafka/libs"
TLS_DIR="$ZS_CACHE/tls"      # shared by every instance: a client trusts one CA file ($TLS_DIR/ca.pem)
DIR="$ZS_RUN/kafka"
PID="$DIR/kafka.pid"
JAVA_LOG=(-Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" -Dkafka.logs.dir="$DIR/logs")

install() {
  if [ -f "$LIBS/.complete" ] && [ "$LIBS/.complete" -nt "$ZS_ROOT/deploy/kafka/pom.xml" ]; then return; fi
  command -v mvn >/dev/null || { log "Maven is required (apt-get install -y maven)"; exit 1; }
  log "resolving Kafka jars from Maven Central into $LIBS"
  rm -rf "$LIBS"; (umask 022; mkdir -p "$LIBS")
  (umask 022; mvn -q -B -f "$ZS_ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIBS")
  touch "$LIBS/.complete"
}

start() {
  install
  if [ "$NODES" -gt 1 ]; then cluster_start; return; fi
  if pid_alive "$PID"; then log "already running on 127.0.0.1:$PORT (pid $(cat "$PID"))"; return; fi
  rm -f "$PID"
  mkdir -p "$DIR/data" "$DIR/logs"
  chmod -R go-rwx "$DIR"  # also what an earlier version of this script left open to all
  if [ "$SASL" = 1 ] && [ -f "$DIR/data/meta.properties" ] && [ ! -f "$DIR/users.txt" ]; then
    log "$DIR was formatted without SASL users; remove it to start this instance with ZS_KAFKA_SASL=1"; exit 1
  fi
  [ "$TLS" = 1 ] && tls_files
  write_server_properties
  local fresh=0
  if [ ! -f "$DIR/data/meta.properties" ]; then fresh=1; format; fi
  # A broker keeps files open per partition; Kafka's docs advise 100,000 or more.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  log "starting Kafka on 127.0.0.1:$PORT"
  # shellcheck disable=SC2086
  nohup java $HEAP -XX:+UseG1GC -Djava.awt.headless=true "${JAVA_LOG[@]}" \
    -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" >"$DIR/logs/stdout.log" 2>&1 &
  echo $! > "$PID"
  if ! wait_port "$PORT" 90; then log "Kafka did not start; see $DIR/logs"; tail -20 "$DIR/logs/stdout.log" >&2; exit 1; fi
  # Users named since the format (ZS_KAFKA_USERS, or a user this script has added to its default list).
  if [ "$SASL" = 1 ] && [ "$fresh" = 0 ]; then
    for user in $USERS; do [ -f "$DIR/users.created/$user" ] || add-user "$user"; done
  fi
  log "Kafka ready on 127.0.0.1:$PORT"
}

# server.properties from the templates, rewritten on every start; the passwords go in through bash's own
# string replacement (fill), never through a command's arguments.
write_server_properties() {
  local protocol=PLAINTEXT controller=PLAINTEXT
  if [ "$TLS" = 1 ]; then protocol=SASL_SSL; controller=SASL_SSL
  elif [ "$SASL" = 1 ]; then protocol=SASL_PLAINTEXT; controller=SASL_PLAINTEXT; fi
  rm -f "$DIR/server.properties"  # a file from an older version may be 0644: start afresh at 0600
  fill "$ZS_ROOT/deploy/kafka/server.properties.in" PORT="$PORT" CTL_PORT="$CTL_PORT" DATA="$DIR/data" \
    PROTOCOL="$protocol" CONTROLLER_PROTOCOL="$controller" > "$DIR/server.properties"
  if [ "$SASL" = 1 ]; then
    write_users
    fill "$ZS_ROOT/deploy/kafka/sasl.properties.in" LISTENER="${protocol,,}" \
      ADMIN_PASSWORD="$(password_of admin)" CONTROLLER_PASSWORD="$(password_of controller)" >> "$DIR/server.properties"
  fi
  [ "$TLS" = 1 ] && fill "$ZS_ROOT/deploy/kafka/tls.properties.in" TLS_DIR="$TLS_DIR" >> "$DIR/server.properties"
  return 0
}

# fill TEMPLATE NAME=VALUE...: the template with each @NAME@ replaced, by bash itself (no sed, whose
# arguments every local user could read in ps).
fill() {
  local text; text="$(<"$1")"; shift
  local pair
  for pair in "$@"; do text="${text//"@${pair%%=*}@"/"${pair#*=}"}"; done  # quoted: no & or glob magic
  printf '%s\n' "$text"
}

# The storage is formatted once. The SCRAM users (admin included, which the broker itself logs in as)
# are bootstrapped here; their passwords reach StorageTool through a Java argument file (0600), so the
# process's command line shows "@format.args" and nothing else.
format() {
  local id; id=$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  {
    printf 'kafka.tools.StorageTool format --standalone --ignore-formatted -t %s -c "%s"\n' "$id" "$DIR/server.properties"
    if [ "$SASL" = 1 ]; then
      local user password
      while read -r user password; do
        [ "$user" = controller ] && continue  # a PLAIN principal of the controller listener, not a SCRAM user
        printf -- '--add-scram "SCRAM-SHA-512=[name=%s,password=%s]"\n' "$user" "$password"
      done < "$DIR/users.txt"
    fi
  } > "$DIR/format.args"
  local status=0
  java -cp "$LIBS/*" "${JAVA_LOG[@]}" "@$DIR/format.args" >"$DIR/logs/format.log" 2>&1 || status=$?
  rm -f "$DIR/format.args"
  [ "$status" = 0 ] || { log "formatting failed; see $DIR/logs/format.log"; exit 1; }
  if [ "$SASL" = 1 ]; then
    mkdir -p "$DIR/users.created"
    while read -r user _; do [ "$user" = controller ] || touch "$DIR/users.created/$user"; done < "$DIR/users.txt"
  fi
}

# The SCRAM users and passwords ("user password" lines), and the controller listener's own principal:
# generated once per instance, kept beside its data, readable by their owner only. A user named later
# (ZS_KAFKA_USERS) is added to the file; the running broker learns it in start (add-user).
write_users() {
  local user
  for user in controller $USERS; do
    [ -n "$(password_of "$user")" ] || echo "$user $(new_password)" >> "$DIR/users.txt"
  done
  chmod 600 "$DIR/users.txt"
  # The admin's client properties, for Kafka's own CLI tools (AclCommand, ConfigCommand).
  rm -f "$DIR/admin.properties" "$DIR/controller.properties"
  client_properties admin SCRAM-SHA-512 ScramLoginModule "$(listener_protocol)" > "$DIR/admin.properties"
  # For a tool that talks to the controller listener itself (--bootstrap-controller).
  client_properties controller PLAIN PlainLoginModule "$(listener_protocol)" > "$DIR/controller.properties"
}

new_password() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

password_of() { [ -f "$DIR/users.txt" ] && awk -v u="$1" '$1 == u { print $2 }' "$DIR/users.txt"; return 0; }

listener_protocol() { if [ "$TLS" = 1 ]; then echo SASL_SSL; else echo SASL_PLAINTEXT; fi; }

# client_properties USER MECHANISM LOGIN_MODULE PROTOCOL: a Kafka client's properties for USER.
client_properties() {
  printf 'security.protocol=%s\nsasl.mechanism=%s\n' "$4" "$2"
  printf 'sasl.jaas.config=org.apache.kafka.common.security.%s.%s required username="%s" password="%s";\n' \
    "$([ "$2" = PLAIN ] && echo plain || echo scram)" "$3" "$1" "$(password_of "$1")"
  if [ "$4" = SASL_SSL ]; then printf 'ssl.truststore.type=PEM\nssl.truststore.location=%s\n' "$TLS_DIR/ca.pem"; fi
}

# A CA and a certificate for 127.0.0.1 and localhost signed by it, made once and shared by every instance.
# Clients trust $TLS_DIR/ca.pem; the CA's key stays here (0600) and signs nothing else.
tls_files() {
  [ -f "$TLS_DIR/broker.pem" ] && return
  command -v openssl >/dev/null || { log "openssl is required for ZS_KAFKA_TLS=1"; exit 1; }
  mkdir -p "$TLS_DIR"; chmod 700 "$TLS_DIR"
  log "making a CA and a broker certificate under $TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Zorgstroom local CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$TLS_DIR/broker.key" -out "$TLS_DIR/broker.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > "$TLS_DIR/broker.ext"
  openssl x509 -req -in "$TLS_DIR/broker.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" -CAcreateserial \
    -days 825 -extfile "$TLS_DIR/broker.ext" -out "$TLS_DIR/broker.crt" 2>/dev/null
  # Kafka's PEM key store: the (PKCS#8) key, then the certificate chain.
  cat "$TLS_DIR/broker.key" "$TLS_DIR/broker.crt" "$TLS_DIR/ca.pem" > "$TLS_DIR/broker.pem"
  rm -f "$TLS_DIR/broker.csr" "$TLS_DIR/broker.ext" "$TLS_DIR/broker.key"
}

# kafka_tool CLASS ARGS...: one of Kafka's own CLI tools, as the admin, against the running broker.
kafka_tool() {
  java -cp "$LIBS/*" "${JAVA_LOG[@]}" "$1" --bootstrap-server "127.0.0.1:$PORT" --command-config "$DIR/admin.properties" "${@:2}"
}

# acl ARGS...: Kafka's AclCommand as the admin, e.g. acl --add --allow-principal User:x --operation Read --topic t
acl() { kafka_tool org.apache.kafka.tools.AclCommand "$@"; }

# add-user NAME: a SCRAM user on the running broker (a provider's principal), its password generated once
# and kept in users.txt beside the others. The password reaches ConfigCommand in a file (0600), removed after.
add-user() {
  local user="$1"
  [ -f "$DIR/users.txt" ] || { log "no users.txt: start this instance with ZS_KAFKA_SASL=1 first"; exit 1; }
  [ -n "$(password_of "$user")" ] || echo "$user $(new_password)" >> "$DIR/users.txt"
  local file="$DIR/scram-$user.properties" status=0
  printf 'SCRAM-SHA-512=password=%s\n' "$(password_of "$user")" > "$file"
  kafka_tool kafka.admin.ConfigCommand --alter --add-config-file "$file" \
    --entity-type users --entity-name "$user" >/dev/null || status=$?
  rm -f "$file"
  [ "$status" = 0 ] || exit "$status"
  mkdir -p "$DIR/users.created"; touch "$DIR/users.created/$user"
}

# user add NAME: a SCRAM user of this broker (zorgstroom onboard: a provider's principal), added once; prints
# whether it was added now or was there already. Its password is in users.txt, as every user's.
user() {
  [ "${1:-}" = add ] && [[ "${2:-}" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || { log "usage: deploy/kafka.sh user add NAME"; exit 2; }
  if [ -f "$DIR/users.created/$2" ] && [ -n "$(password_of "$2")" ]; then echo "kafka user $2: there already"; return; fi
  add-user "$2"
  echo "kafka user $2: added"
}

stop() { if [ "$NODES" -gt 1 ]; then cluster_stop; else stop_pid "$PID" Kafka; fi; }

status() {
  if [ "$NODES" -gt 1 ]; then cluster_status; return; fi
  if pid_alive "$PID"; then echo "kafka running on 127.0.0.1:$PORT"; else echo "kafka stopped"; return 1; fi
}

# --- ZS_KAFKA_NODES > 1: a cluster of combined nodes on one machine, a controller quorum of all of them ---

node_dir() { echo "$DIR/node$1"; }
node_port() { echo $((PORT + 2 * ($1 - 1))); }

cluster_start() {
  [ "$SASL" = 1 ] && { log "ZS_KAFKA_NODES > 1 runs PLAINTEXT only"; exit 1; }
  mkdir -p "$DIR"; chmod -R go-rwx "$DIR"
  local id="" i voters=""
  [ -f "$DIR/cluster.id" ] || java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 > "$DIR/cluster.id"
  id=$(cat "$DIR/cluster.id")
  for i in $(seq 1 "$NODES"); do voters+="${voters:+,}$i@127.0.0.1:$(($(node_port "$i") + 1))"; done
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  for i in $(seq 1 "$NODES"); do cluster_start_node "$i" "$id" "$voters"; done
  for i in $(seq 1 "$NODES"); do
    wait_port "$(node_port "$i")" 90 || { log "node $i did not start; see $(node_dir "$i")/logs"; exit 1; }
  done
  log "Kafka cluster of $NODES nodes ready on 127.0.0.1:$(node_port 1) and up"
}

# cluster_start_node I CLUSTER_ID VOTERS: node I's properties (the single node's, with its id, the static
# quorum and internal topics replicated to every node), formatted once, started unless it runs.
cluster_start_node() {
  local i=$1 dir; dir=$(node_dir "$1")
  local port; port=$(node_port "$i")
  if pid_alive "$dir/kafka.pid"; then return; fi
  mkdir -p "$dir/data" "$dir/logs"
  local isr=$((NODES > 2 ? 2 : 1))
  fill "$ZS_ROOT/deploy/kafka/server.properties.in" PORT="$port" CTL_PORT="$((port + 1))" DATA="$dir/data" \
    PROTOCOL=PLAINTEXT CONTROLLER_PROTOCOL=PLAINTEXT \
    | grep -v -e '^node.id=' -e '^controller.quorum.bootstrap.servers=' -e 'replication.factor=' -e 'min.isr=' \
    > "$dir/server.properties"
  printf '%s\n' "node.id=$i" "controller.quorum.voters=$3" "offsets.topic.replication.factor=$NODES" \
    "transaction.state.log.replication.factor=$NODES" "transaction.state.log.min.isr=$isr" \
    "share.coordinator.state.topic.replication.factor=$NODES" "share.coordinator.state.topic.min.isr=$isr" \
    >> "$dir/server.properties"
  if [ ! -f "$dir/data/meta.properties" ]; then
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" -Dkafka.logs.dir="$dir/logs" \
      kafka.tools.StorageTool format --ignore-formatted -t "$2" \
      -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1 || { log "formatting node $i failed"; exit 1; }
  fi
  log "starting Kafka node $i on 127.0.0.1:$port"
  # shellcheck disable=SC2086
  nohup java $HEAP -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile="$ZS_ROOT/deploy/kafka/log4j2.properties" \
    -Dkafka.logs.dir="$dir/logs" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 &
  echo $! > "$dir/kafka.pid"
}

cluster_stop() {
  local i
  for i in $(seq 1 "$NODES"); do stop_pid "$(node_dir "$i")/kafka.pid" "Kafka node $i"; done
}

cluster_status() {
  local i down=0
  for i in $(seq 1 "$NODES"); do
    if pid_alive "$(node_dir "$i")/kafka.pid"; then echo "kafka node $i running on 127.0.0.1:$(node_port "$i")"
    else echo "kafka node $i stopped"; down=1; fi
  done
  return "$down"
}

# kill N: node N (1-based; the single node is 1) dies at once, as in a crash. Fails (exit 1) when the node
# was not running: a crash of what is already down is no fault survived.
kill_node() {
  local pid_file="$PID"
  [ "$NODES" -gt 1 ] && pid_file="$(node_dir "${1:?kill N}")/kafka.pid"
  if ! pid_alive "$pid_file"; then log "Kafka node ${1:-1} is not running: nothing killed"; rm -f "$pid_file"; exit 1; fi
  kill -9 "$(cat "$pid_file")"; log "Kafka node ${1:-1} killed (-9)"
  rm -f "$pid_file"
}

if [ "${1:-}" = kill ]; then kill_node "${@:2}"; else "${1:-start}" "${@:2}"; fi
