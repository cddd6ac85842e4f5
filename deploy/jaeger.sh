#!/usr/bin/env bash
# Jaeger v2 (the trace backend of the demo), built once from the Go module proxy into the cache.
# Usage: deploy/jaeger.sh install|build-background|wait-built [SECONDS]|start|stop|status. Idempotent.
# Needs Go; without it, say so and stop (exit 3).
#   install           build now, in the foreground, unless a fresh binary is there (waits for a running build)
#   build-background  start the build detached and return at once (make demo/test: it overlaps the rest)
#   start-when-built  start Jaeger now if built, else once the background build is done (make demo)
#   wait-built [S]    wait up to S seconds (default 900) for a background build, with progress lines;
#                     builds in the foreground when none runs
# One lock (flock) for all of them: two callers never build twice, whichever instance they belong to
# (deploy/go-tool.sh, shared with deploy/helm.sh).
set -euo pipefail
source "$(dirname "$0")/common.sh"
TOOL=Jaeger
TOOL_BIN="$ZS_CACHE/jaeger/jaeger"
TOOL_MODULE="$ZS_ROOT/deploy/jaeger"
TOOL_PACKAGE=github.com/jaegertracing/jaeger/cmd/jaeger
source "$ZS_ROOT/deploy/go-tool.sh"  # install, build-background, wait-built: shared with deploy/helm.sh
BIN="$TOOL_BIN"
DIR="$ZS_RUN/jaeger"
PID="$DIR/jaeger.pid"
QUERY_PORT="${ZS_JAEGER_QUERY_PORT:-16686}"
OTLP_PORT="${ZS_JAEGER_OTLP_PORT:-4318}"

start() {
  install
  if pid_alive "$PID"; then log "already running (query on 127.0.0.1:$QUERY_PORT)"; return; fi
  mkdir -p "$DIR"
  nohup "$BIN" --config "file:$ZS_ROOT/deploy/jaeger/config.yaml" >"$DIR/jaeger.log" 2>&1 &
  echo $! > "$PID"
  wait_port "$OTLP_PORT" 30 && wait_port "$QUERY_PORT" 30 || { log "Jaeger did not start; see $DIR/jaeger.log"; exit 1; }
  log "Jaeger ready: OTLP http://127.0.0.1:$OTLP_PORT, query http://127.0.0.1:$QUERY_PORT"
}

# start-when-built: start now if built; else let the build run on in the background and start Jaeger the
# moment it is done (the demo does not wait for a first build; spans sent before that are dropped).
start-when-built() {
  if built; then start; return; fi
  need_go
  build-background
  mkdir -p "$DIR"
  setsid nohup "$0" wait-and-start >>"$DIR/jaeger.log" 2>&1 </dev/null &
  log "Jaeger starts by itself once built (progress: deploy/jaeger.sh wait-built)"
}

wait-and-start() { wait-built 3600 && start; }

stop() { stop_pid "$PID" Jaeger; }

status() { if pid_alive "$PID"; then echo "jaeger running"; else echo "jaeger stopped"; return 1; fi; }

case "${1:-start}" in
  install | build-background | start | start-when-built | wait-and-start | stop | status) "${1:-start}" ;;
  wait-built) wait-built "${2:-900}" ;;
  *) log "unknown action: $1 (install|build-background|wait-built [SECONDS]|start|stop|status)"; exit 2 ;;
esac
