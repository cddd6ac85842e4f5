# A Go program built once from the Go module proxy into the cache: by deploy/jaeger.sh and deploy/helm.sh.
# Sourced after common.sh, not run. The caller sets first:
#   TOOL          its name in messages ("Jaeger", "Helm")
#   TOOL_BIN      where the binary goes (under $ZS_CACHE)
#   TOOL_MODULE   the wrapper module's directory: its go.sum pins every module (the checksum database is
#                 not reachable from here), and a go.sum newer than the binary means: build again
#   TOOL_PACKAGE  the main package to build
#   tool_ldflags  (optional) a function that prints extra -ldflags, run in $TOOL_MODULE
# and gets the actions install, build-background and wait-built [SECONDS], under one lock (flock) for all
# of them: two callers never build twice, whichever instance they belong to. Without Go, an action says so
# and exits 3.
BUILD_LOG="$(dirname "$TOOL_BIN")/build.log"
BUILD_LOCK="$(dirname "$TOOL_BIN")/build.lock"

built() { [ -x "$TOOL_BIN" ] && [ "$TOOL_BIN" -nt "$TOOL_MODULE/go.sum" ]; }

need_go() { command -v go >/dev/null || { log "Go is not installed: no $TOOL"; exit 3; }; }

# building: true while some process holds the build lock.
building() { mkdir -p "$(dirname "$BUILD_LOCK")"; ! (flock -n 9) 9>>"$BUILD_LOCK"; }

# progress: one line on how far a build is: time since it began, packages compiled so far (`go build -v`).
progress() {
  local began now packages
  began=$(stat -c %Y "$BUILD_LOG" 2>/dev/null || date +%s)
  [ -f "$BUILD_LOG.began" ] && began=$(cat "$BUILD_LOG.began")
  now=$(date +%s)
  packages=$(grep -c -v -e '^\[' -e '^go: ' "$BUILD_LOG" 2>/dev/null || true)
  log "$TOOL build: $(( (now - began) / 60 ))m$(( (now - began) % 60 ))s, ${packages:-0} packages compiled (log: $BUILD_LOG)"
}

# build: under the lock; compiles into a temporary file and moves it in place, so a binary that exists
# is always whole. A caller that finds the lock taken waits for the other build instead of starting one.
build() {
  mkdir -p "$(dirname "$TOOL_BIN")"
  if [ "${ZS_BUILD_LOCK_HELD:-}" != "$TOOL_BIN" ]; then  # (build-background hands its child the lock on fd 9)
    exec 9>>"$BUILD_LOCK"
    if ! flock -n 9; then
      log "another $TOOL build is running; waiting for it"
      until flock -w 30 9; do progress; done
    fi
  fi
  if built; then exec 9>&-; return; fi
  need_go
  log "building $TOOL from the Go module proxy (once; minutes on 2 cores)"
  date +%s > "$BUILD_LOG.began"
  : > "$BUILD_LOG"
  local extra=""
  if declare -F tool_ldflags >/dev/null; then extra=$(cd "$TOOL_MODULE" && GOSUMDB=off GOFLAGS=-mod=mod tool_ldflags); fi
  # -s -w: no symbol table and DWARF, a smaller binary and a shorter link.
  if (cd "$TOOL_MODULE" && GOSUMDB=off GOFLAGS=-mod=mod \
      go build -v -ldflags="-s -w $extra" -o "$TOOL_BIN.tmp" "$TOOL_PACKAGE") 2>>"$BUILD_LOG"; then
    mv -f "$TOOL_BIN.tmp" "$TOOL_BIN"
    echo "[done] $(date -Is)" >> "$BUILD_LOG"
    progress
    log "$TOOL built: $TOOL_BIN"
  else
    rm -f "$TOOL_BIN.tmp"
    echo "[failed] $(date -Is)" >> "$BUILD_LOG"
    tail -n 20 "$BUILD_LOG" >&2
    log "$TOOL build failed; see $BUILD_LOG"
    exec 9>&-
    return 1
  fi
  exec 9>&-
}

install() { built || build; }

build-background() {
  if built; then log "$TOOL already built"; return; fi
  need_go
  mkdir -p "$(dirname "$TOOL_BIN")"
  # The lock is taken here and inherited by the build, so a second caller right after sees it taken.
  exec 9>>"$BUILD_LOCK"
  if ! flock -n 9; then exec 9>&-; log "$TOOL build already running"; progress; return; fi
  # Detached (its own session) and polite (nice): the tests and the services keep the CPU they need.
  ZS_BUILD_LOCK_HELD="$TOOL_BIN" setsid nohup nice -n "${ZS_BUILD_NICE:-10}" "$0" install \
    >>"$BUILD_LOG.out" 2>&1 </dev/null &
  exec 9>&-
  log "$TOOL build started in the background (pid $!, log $BUILD_LOG); $0 wait-built waits for it"
}

wait-built() {
  local timeout=${1:-900} deadline last=0
  deadline=$((SECONDS + timeout))
  if built; then return; fi
  if ! building; then build; return; fi
  log "waiting for the $TOOL build (at most ${timeout}s)"
  while building; do
    if [ $SECONDS -ge $deadline ]; then progress; log "$TOOL build not finished within ${timeout}s"; return 1; fi
    if [ $((SECONDS - last)) -ge 30 ]; then progress; last=$SECONDS; fi
    sleep 2
  done
  built || { log "$TOOL build failed; see $BUILD_LOG"; tail -n 20 "$BUILD_LOG" >&2; return 1; }
  log "$TOOL built: $TOOL_BIN"
}
