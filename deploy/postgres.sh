#!/usr/bin/env bash
# A project-local PostgreSQL cluster from the distribution's packages, on its own port.
# Usage: deploy/postgres.sh install|start|stop|status. Idempotent: start reuses a running cluster.
# ZS_PG_STOP_MODE=immediate makes stop a crash (no checkpoint; the next start recovers from the WAL), as
# the fault suite needs; the default is fast.
# Every connection proves a password (scram-sha-256). The bootstrap superuser's password is generated
# once into the instance's run directory; clients find it in the pgpass file every instance shares,
# $ZS_CACHE/run/pgpass (set PGPASSFILE to it: psql, asyncpg and the ops CLI read it). A cluster made
# by an older version of this script with trust is converted on start, never wiped.
set -euo pipefail
umask 077
source "$(dirname "$0")/common.sh"
PORT="${ZS_PG_PORT:-15432}"
USER_NAME="${ZS_PG_USER:-zorgstroom}"
DB="${ZS_PG_DB:-zorgstroom}"
DIR="$ZS_RUN/postgres"
PWFILE="$DIR/superuser-password"
export PGPASSFILE="${PGPASSFILE:-$ZS_CACHE/run/pgpass}"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install() {
  if [ -n "$(bindir)" ] && [ -x "$(bindir)/initdb" ]; then return; fi
  log "installing PostgreSQL from the distribution's packages"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi
}

# as_pg CMD...: run as the postgres user when we are root (initdb refuses root), else as ourselves.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# superuser_password: generate it once (hex: no quoting in SQL or pgpass), 0600, readable by initdb.
superuser_password() {
  if [ ! -s "$PWFILE" ]; then
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$PWFILE.new" && mv "$PWFILE.new" "$PWFILE"
  fi
  if [ "$(id -u)" = 0 ]; then chown postgres "$PWFILE"; fi
}

# remember_password: this port's superuser line in the shared pgpass file (other lines kept). Under an
# exclusive flock on $PGPASSFILE.lock, which `zorgstroom db-roles` takes too when it adds a line: the
# rewrite below would otherwise drop a line added between its read and its move.
remember_password() {
  mkdir -p "$(dirname "$PGPASSFILE")"
  (
    flock -x 9
    touch "$PGPASSFILE"; chmod 600 "$PGPASSFILE"
    local pw; pw=$(cat "$PWFILE")
    { grep -v -e "^127\.0\.0\.1:$PORT:\*:$USER_NAME:" -e "^localhost:$PORT:\*:$USER_NAME:" "$PGPASSFILE" || true
      printf '127.0.0.1:%s:*:%s:%s\nlocalhost:%s:*:%s:%s\n' "$PORT" "$USER_NAME" "$pw" "$PORT" "$USER_NAME" "$pw"
    } >"$PGPASSFILE.$$" && mv "$PGPASSFILE.$$" "$PGPASSFILE"
  ) 9>>"$PGPASSFILE.lock"
}

# scram_verifier: the SCRAM-SHA-256 verifier of the password on stdin (PostgreSQL's format), so that
# ALTER ROLE sends no password a failed statement could write to the server log.
scram_verifier() {
  python3 -c '
import base64, hashlib, hmac, os, sys
password, salt, n = sys.stdin.read().strip().encode(), os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", password, salt, n)
stored = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
server = hmac.digest(salted, b"Server Key", "sha256")
b64 = lambda b: base64.b64encode(b).decode()
print(f"SCRAM-SHA-256${n}:{b64(salt)}${b64(stored)}:{b64(server)}")'
}

# require_passwords BIN: a cluster initialised with trust gets the superuser's password and a
# pg_hba.conf that asks for it, then reloads; its data stays.
require_passwords() {
  local bin=$1 hba="$DIR/data/pg_hba.conf"
  grep -qE '^[^#].*[[:space:]]trust[[:space:]]*$' "$hba" || return 0
  log "converting the cluster from trust to scram-sha-256 passwords"
  printf "ALTER ROLE \"%s\" PASSWORD '%s';\n" "$USER_NAME" "$(scram_verifier <"$PWFILE")" \
    | "$bin/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -v ON_ERROR_STOP=1 >/dev/null
  as_pg sed -i -E '/^[^#]/ s/[[:space:]]trust[[:space:]]*$/ scram-sha-256/' "$hba"
  as_pg "$bin/pg_ctl" -D "$DIR/data" reload >/dev/null
}

start() {
  install
  local bin; bin=$(bindir)
  mkdir -p "$DIR"; chmod 700 "$DIR"
  if [ "$(id -u)" = 0 ]; then
    # Every folder above the data directory must be traversable by postgres.
    local d; d=$(dirname "$DIR"); while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
    chown postgres "$DIR"
  fi
  if [ -f "$DIR/data/PG_VERSION" ] && [ ! -s "$PWFILE" ] \
    && ! grep -qE '^[^#].*[[:space:]]trust[[:space:]]*$' "$DIR/data/pg_hba.conf"; then
    log "the superuser's password file $PWFILE is gone: restore it, or set a new password (see docs/operators.md)"
    exit 1
  fi
  superuser_password
  remember_password
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    as_pg mkdir -p "$DIR/data" "$DIR/sock"
    as_pg "$bin/initdb" -D "$DIR/data" --auth=scram-sha-256 --pwfile="$PWFILE" -U "$USER_NAME" -E UTF8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    log "already running on 127.0.0.1:$PORT"
  else
    log "starting PostgreSQL on 127.0.0.1:$PORT"
    as_pg "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 \
      -o "-p $PORT -k $DIR/sock -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${ZS_PG_FSYNC:-on}" start >/dev/null
  fi
  require_passwords "$bin"
  "$bin/psql" -X -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1 \
    || "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$DB"
  log "PostgreSQL ready: postgresql://$USER_NAME@127.0.0.1:$PORT/$DB (password in PGPASSFILE=$PGPASSFILE)"
}

stop() {
  local bin; bin=$(bindir)
  if [ -f "$DIR/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$DIR/data" -m "${ZS_PG_STOP_MODE:-fast}" -w stop >/dev/null; log "PostgreSQL stopped"
  fi
}

status() {
  local bin; bin=$(bindir)
  if [ -f "$DIR/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    echo "postgres running on 127.0.0.1:$PORT"; else echo "postgres stopped"; return 1; fi
}

"${1:-start}"
