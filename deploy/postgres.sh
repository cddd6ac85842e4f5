#!/usr/bin/env bash
# A project-local PostgreSQL cluster from the distribution's packages, on its own port.
# Usage: deploy/postgres.sh install|start|stop|status. Idempotent: start reuses a running cluster.
set -euo pipefail
source "$(dirname "$0")/common.sh"
PORT="${ZS_PG_PORT:-15432}"
USER_NAME="${ZS_PG_USER:-zorgstroom}"
DB="${ZS_PG_DB:-zorgstroom}"
DIR="$ZS_RUN/postgres"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install() {
  if [ -n "$(bindir)" ] && [ -x "$(bindir)/initdb" ]; then return; fi
  log "installing PostgreSQL from the distribution's packages"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi
}

# as_pg CMD...: run as the postgres user when we are root (initdb refuses root), else as ourselves.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start() {
  install
  local bin; bin=$(bindir)
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then
    # Every folder above the data directory must be traversable by postgres.
    local d="$DIR"; while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
    chown postgres "$DIR"
  fi
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    as_pg mkdir -p "$DIR/data" "$DIR/sock"
    as_pg "$bin/initdb" -D "$DIR/data" --auth=trust -U "$USER_NAME" -E UTF8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    log "already running on 127.0.0.1:$PORT"
  else
    log "starting PostgreSQL on 127.0.0.1:$PORT"
    as_pg "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 \
      -o "-p $PORT -k $DIR/sock -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${ZS_PG_FSYNC:-on}" start >/dev/null
  fi
  as_pg "$bin/psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1 \
    || as_pg "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$DB"
  log "PostgreSQL ready: postgresql://$USER_NAME@127.0.0.1:$PORT/$DB"
}

stop() {
  local bin; bin=$(bindir)
  if [ -f "$DIR/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null; log "PostgreSQL stopped"
  fi
}

status() {
  local bin; bin=$(bindir)
  if [ -f "$DIR/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    echo "postgres running on 127.0.0.1:$PORT"; else echo "postgres stopped"; return 1; fi
}

"${1:-start}"
