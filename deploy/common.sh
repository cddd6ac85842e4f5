# Shared settings for the native start-up scripts. Sourced, not run.
# Every value can be overridden from the environment so tests and the demo use separate instances.
ZS_ROOT="${ZS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
ZS_CACHE="${ZS_CACHE:-$ZS_ROOT/.cache}"
ZS_INSTANCE="${ZS_INSTANCE:-demo}"              # separates demo, test and chaos instances
ZS_RUN="$ZS_CACHE/run/$ZS_INSTANCE"
# Ports stay below Linux's ephemeral range (32768-60999): a client retrying a stopped broker can
# otherwise be given the broker's own port as its source port, connect to itself, and keep the port
# from the broker when it restarts. Kafka 19x92 (controller +1), PostgreSQL 154x2.
mkdir -p "$ZS_RUN"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# pid_alive FILE: true when FILE names a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE NAME: stop the process FILE names, wait for it to exit (a restart needs its ports),
# and kill it if it has not gone within 30 seconds.
stop_pid() {
  if pid_alive "$1"; then
    local pid; pid=$(cat "$1"); kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    log "$2 stopped"
  fi
  rm -f "$1"
}

# wait_port PORT SECONDS: true once something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.3
  done
  return 1
}
