#!/usr/bin/env bash
# Jaeger v2 (the trace backend of the demo), built once from the Go module proxy into the cache.
# Usage: deploy/jaeger.sh install|build-background|wait-built [SECONDS]|start|stop|status. Idempotent.
# Needs Go; without it, say so and stop (exit 3).
#   install           build now, in the foreground, unless a fresh binary is there (waits for a running build)
#   build-background  start the build detached and return at once (make demo/test: it overlaps the rest)
#   start-when-built  start Jaeger now if built, else once the background build is done (make demo)
#   wait-built [S]    wait up to S seconds (default 900) for a background build, with progress lines;
#                     builds in the foreground when none runs
# One lock (flock) for all of them: two callers never build twice, whichever instance they belong to.
set -euo pipefail
source "$(dirname "$0")/common.sh"
BIN="$ZS_CACHE/jaeger/jaeger"
BUILD_LOG="$ZS_CACHE/jaeger/build.log"
BUILD_LOCK="$ZS_CACHE/jaeger/build.lock"
DIR="$ZS_RUN/jaeger"
PID="$DIR/jaeger.pid"
QUERY_PORT="${ZS_JAEGER_QUERY_PORT:-16686}"
OTLP_PORT="${ZS_JAEGER_OTLP_PORT:-4318}"

built() { [ -x "$BIN" ] && [ "$BIN" -nt "$ZS_ROOT/deploy/jaeger/go.sum" ]; }

need_go() { command -v go >/dev/null || { log "Go is not installed: no trace backend"; exit 3; }; }

# building: true while some process holds the build lock.
building() { mkdir -p "$(dirname "$BUILD_LOCK")"; ! (flock -n 9) 9>>"$BUILD_LOCK"; }

# progress: one line on how far a build is: time since it began, packages compiled so far (`go build -v`).
progress() {
  local began now packages
  began=$(stat -c %Y "$BUILD_LOG" 2>/dev/null || date +%s)
  [ -f "$BUILD_LOG.began" ] && began=$(cat "$BUILD_LOG.began")
  now=$(date +%s)
  packages=$(grep -c -v -e '^\[' -e '^go: ' "$BUILD_LOG" 2>/dev/null || true)
  log "Jaeger build: $(( (now - began) / 60 ))m$(( (now - began) % 60 ))s, ${packages:-0} packages compiled (log: $BUILD_LOG)"
}

# build: under the lock; compiles into a temporary file and moves it in place, so a binary that exists
# is always whole. A caller that finds the lock taken waits for the other build instead of starting one.
build() {
  mkdir -p "$(dirname "$BIN")"
  if [ "${ZS_JAEGER_LOCK_HELD:-}" != 1 ]; then  # (build-background hands its child the lock on fd 9)
    exec 9>>"$BUILD_LOCK"
    if ! flock -n 9; then
      log "another Jaeger build is running; waiting for it"
      until flock -w 30 9; do progress; done
    fi
  fi
  if built; then exec 9>&-; return; fi
  need_go
  log "building Jaeger v2 from the Go module proxy (once; several minutes on 2 cores)"
  date +%s > "$BUILD_LOG.began"
  : > "$BUILD_LOG"
  # go.sum pins every module; the checksum database is not reachable from here. -s -w: no symbol table
  # and DWARF, a smaller binary and a shorter link.
  if (cd "$ZS_ROOT/deploy/jaeger" && GOSUMDB=off GOFLAGS=-mod=mod \
      go build -v -ldflags='-s -w' -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) 2>>"$BUILD_LOG"; then
    mv -f "$BIN.tmp" "$BIN"
    echo "[done] $(date -Is)" >> "$BUILD_LOG"
    progress
    log "Jaeger built: $BIN"
  else
    rm -f "$BIN.tmp"
    echo "[failed] $(date -Is)" >> "$BUILD_LOG"
    tail -n 20 "$BUILD_LOG" >&2
    log "Jaeger build failed; see $BUILD_LOG"
    exec 9>&-
    return 1
  fi
  exec 9>&-
}

install() { built || build; }

build-background() {
  if built; then log "Jaeger already built"; return; fi
  need_go
  mkdir -p "$(dirname "$BIN")"
  # The lock is taken here and inherited by the build, so a second caller right after sees it taken.
  exec 9>>"$BUILD_LOCK"
  if ! flock -n 9; then exec 9>&-; log "Jaeger build already running"; progress; return; fi
  # Detached (its own session) and polite (nice): the tests and the services keep the CPU they need.
  ZS_JAEGER_LOCK_HELD=1 setsid nohup nice -n "${ZS_JAEGER_BUILD_NICE:-10}" "$0" install \
    >>"$BUILD_LOG.out" 2>&1 </dev/null &
  exec 9>&-
  log "Jaeger build started in the background (pid $!, log $BUILD_LOG); deploy/jaeger.sh wait-built waits for it"
}

wait-built() {
  local timeout=${1:-900} deadline last=0
  deadline=$((SECONDS + timeout))
  if built; then return; fi
  if ! building; then build; return; fi
  log "waiting for the Jaeger build (at most ${timeout}s)"
  while building; do
    if [ $SECONDS -ge $deadline ]; then progress; log "Jaeger build not finished within ${timeout}s"; return 1; fi
    if [ $((SECONDS - last)) -ge 30 ]; then progress; last=$SECONDS; fi
    sleep 2
  done
  built || { log "Jaeger build failed; see $BUILD_LOG"; tail -n 20 "$BUILD_LOG" >&2; return 1; }
  log "Jaeger built: $BIN"
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
