#!/usr/bin/env bash
# Jaeger v2 (the trace backend of the demo), built once from the Go module proxy into the cache.
# Usage: deploy/jaeger.sh install|start|stop|status. Idempotent. Needs Go; without it, say so and stop.
set -euo pipefail
source "$(dirname "$0")/common.sh"
BIN="$ZS_CACHE/jaeger/jaeger"
DIR="$ZS_RUN/jaeger"
PID="$DIR/jaeger.pid"
QUERY_PORT="${ZS_JAEGER_QUERY_PORT:-16686}"
OTLP_PORT="${ZS_JAEGER_OTLP_PORT:-4318}"

install() {
  if [ -x "$BIN" ] && [ "$BIN" -nt "$ZS_ROOT/deploy/jaeger/go.sum" ]; then return; fi
  command -v go >/dev/null || { log "Go is not installed: no trace backend"; exit 3; }
  log "building Jaeger v2 from the Go module proxy (once; several minutes on 2 cores)"
  mkdir -p "$(dirname "$BIN")"
  # go.sum pins every module; the checksum database is not reachable from here.
  (cd "$ZS_ROOT/deploy/jaeger" && GOSUMDB=off GOFLAGS=-mod=mod go build -o "$BIN" github.com/jaegertracing/jaeger/cmd/jaeger)
}

start() {
  install
  if pid_alive "$PID"; then log "already running (query on 127.0.0.1:$QUERY_PORT)"; return; fi
  mkdir -p "$DIR"
  nohup "$BIN" --config "file:$ZS_ROOT/deploy/jaeger/config.yaml" >"$DIR/jaeger.log" 2>&1 &
  echo $! > "$PID"
  wait_port "$OTLP_PORT" 30 && wait_port "$QUERY_PORT" 30 || { log "Jaeger did not start; see $DIR/jaeger.log"; exit 1; }
  log "Jaeger ready: OTLP http://127.0.0.1:$OTLP_PORT, query http://127.0.0.1:$QUERY_PORT"
}

stop() { stop_pid "$PID" Jaeger; }

status() { if pid_alive "$PID"; then echo "jaeger running"; else echo "jaeger stopped"; return 1; fi; }

"${1:-start}"
