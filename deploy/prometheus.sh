#!/usr/bin/env bash
# Prometheus (Debian's package) scraping the demo's services and evaluating deploy/prometheus/alerts.yml.
# Usage: deploy/prometheus.sh install|start|stop|status. Idempotent: start on a running instance
# re-renders the configuration and reloads it.
# ZS_PROMETHEUS_TARGETS: "name=host:port,..." (default: the demo's four services on 8101-8104).
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${ZS_PROMETHEUS_PORT:-9090}"
TARGETS="${ZS_PROMETHEUS_TARGETS:-intake=127.0.0.1:8101,placement=127.0.0.1:8102,housing=127.0.0.1:8103,reporting=127.0.0.1:8104}"
DATA="${ZS_PROMETHEUS_DATA:-$ZS_CACHE/prometheus/data}"
DIR="$ZS_RUN/prometheus"
PID="$DIR/prometheus.pid"
CONFIG="$DIR/prometheus.yml"

install() {
  command -v prometheus >/dev/null && return
  log "Prometheus is not installed: run deploy/install.sh (it installs Debian's prometheus package)"; exit 3
}

# render: the template with the alert rules' absolute path, one static_configs entry per target
# (labelled with its service name) and Prometheus' own address.
render() {
  local block="$DIR/targets.yml" entry name address
  : > "$block"
  IFS=',' read -ra entries <<< "$TARGETS"
  for entry in "${entries[@]}"; do
    name="${entry%%=*}"; address="${entry#*=}"
    if [[ ! "$name" =~ ^[A-Za-z0-9_-]+$ || ! "$address" =~ ^[A-Za-z0-9._-]+:[0-9]+$ ]]; then
      log "ZS_PROMETHEUS_TARGETS: '$entry' is not name=host:port"; exit 1
    fi
    printf '      - targets: ["%s"]\n        labels: {service: %s}\n' "$address" "$name" >> "$block"
  done
  [ -s "$block" ] || { log "ZS_PROMETHEUS_TARGETS names no targets"; exit 1; }
  sed -e "s|@ALERTS@|$ZS_ROOT/deploy/prometheus/alerts.yml|g" -e "s|@PROMETHEUS@|127.0.0.1:$PORT|g" \
    "$ZS_ROOT/deploy/prometheus/prometheus.yml.tmpl" \
    | awk -v block="$block" '/^@TARGETS@$/ { while ((getline line < block) > 0) print line; next } { print }' > "$CONFIG.new"
  if command -v promtool >/dev/null && ! promtool check config "$CONFIG.new" >"$DIR/check.log" 2>&1; then
    log "the rendered configuration is not valid; see $DIR/check.log"; cat "$DIR/check.log" >&2; exit 1
  fi
  mv "$CONFIG.new" "$CONFIG"
}

start() {
  install
  mkdir -p "$DIR" "$DATA"
  render
  if pid_alive "$PID"; then
    kill -HUP "$(cat "$PID")"
    log "already running on http://127.0.0.1:$PORT (configuration reloaded)"; return
  fi
  rm -f "$PID"
  if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    log "127.0.0.1:$PORT is taken by another process; choose another with ZS_PROMETHEUS_PORT"; exit 1
  fi
  nohup prometheus --config.file="$CONFIG" --storage.tsdb.path="$DATA" \
    --storage.tsdb.retention.time="${ZS_PROMETHEUS_RETENTION:-7d}" \
    --web.listen-address="127.0.0.1:$PORT" >"$DIR/prometheus.log" 2>&1 &
  echo $! > "$PID"
  if ! wait_port "$PORT" 30; then log "Prometheus did not start; see $DIR/prometheus.log"; tail -20 "$DIR/prometheus.log" >&2; exit 1; fi
  log "Prometheus ready: http://127.0.0.1:$PORT (alerts: http://127.0.0.1:$PORT/alerts)"
}

stop() { stop_pid "$PID" Prometheus; }

status() { if pid_alive "$PID"; then echo "prometheus running on 127.0.0.1:$PORT"; else echo "prometheus stopped"; return 1; fi; }

"${1:-start}"
