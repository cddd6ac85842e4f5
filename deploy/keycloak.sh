#!/usr/bin/env bash
# Keycloak, the demo's identity provider, started natively in development mode from the Quarkus distribution
# that Maven resolves from Maven Central, bound to 127.0.0.1, with the realm file (zorgstroom realm) imported.
# Usage: deploy/keycloak.sh install|start|stop|status. Idempotent: start reuses a running Keycloak.
# ZS_KEYCLOAK_PORT (default 18080) is the HTTP port, the management port (health) the one after it;
# ZS_KEYCLOAK_REALM is the realm file to import (default $ZS_RUN/keycloak-realm.json, `zorgstroom realm`
# writes it). The realm is imported when the instance's database is new or the file has changed since the
# last import: the file is the truth, and what was changed in the admin console since is then lost.
# Keycloak 26 needs Java 21 or newer: ZS_KEYCLOAK_JAVA_HOME, else the newest JDK >= 21 under /usr/lib/jvm.
# The admin's password is generated once per instance into $ZS_RUN/keycloak/admin-password (0600).
set -euo pipefail
source "$(dirname "$0")/common.sh"
umask 077
PORT="${ZS_KEYCLOAK_PORT:-18080}"
MGMT_PORT="${ZS_KEYCLOAK_MANAGEMENT_PORT:-$((PORT + 1))}"
REALM_FILE="${ZS_KEYCLOAK_REALM:-$ZS_RUN/keycloak-realm.json}"
VERSION="$(sed -n 's:.*<keycloak.version>\(.*\)</keycloak.version>.*:\1:p' "$ZS_ROOT/deploy/keycloak/pom.xml")"
DIST="$ZS_CACHE/keycloak/keycloak-$VERSION"   # unpacked once, shared read-only by every instance
DIR="$ZS_RUN/keycloak"
HOME_DIR="$DIR/home"                           # the instance's own Keycloak home: its build, data and import
PID="$DIR/keycloak.pid"
ISSUER="http://127.0.0.1:$PORT/realms/zorgstroom"

install() {
  if [ -f "$DIST/.complete" ] && [ "$DIST/.complete" -nt "$ZS_ROOT/deploy/keycloak/pom.xml" ]; then readable_dist; return; fi
  command -v mvn >/dev/null || { log "Maven is required (apt-get install -y maven)"; exit 1; }
  command -v unzip >/dev/null || { log "unzip is required (apt-get install -y unzip)"; exit 1; }
  log "resolving Keycloak $VERSION from Maven Central into $DIST"
  local download="$ZS_CACHE/keycloak/download"
  rm -rf "$DIST" "$download"; (umask 022; mkdir -p "$download")
  (umask 022; mvn -q -B -f "$ZS_ROOT/deploy/keycloak/pom.xml" dependency:copy -DoutputDirectory="$download")
  (umask 022; unzip -q "$download/keycloak-quarkus-dist.zip" -d "$ZS_CACHE/keycloak")
  rm -rf "$download"
  (umask 022; touch "$DIST/.complete")
}

# readable_dist: an older start made every instance home private with `chmod -R`, which through the hard
# links took the read bits off the shared distribution itself; give them back (the distribution's own modes).
readable_dist() {
  if [ -n "$(find "$DIST" ! -perm -o=r -print -quit)" ]; then
    log "restoring the read bits of $DIST"; chmod -R go+rX "$DIST"
  fi
}

# java_home: the JDK Keycloak runs on; Java 17, the machine's default, is too old for Keycloak 26.
java_home() {
  if [ -n "${ZS_KEYCLOAK_JAVA_HOME:-}" ]; then echo "$ZS_KEYCLOAK_JAVA_HOME"; return; fi
  local jdk major best="" best_major=0
  for jdk in /usr/lib/jvm/*/; do
    [ -x "$jdk/bin/java" ] || continue
    major=$("$jdk/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ "${major:-0}" -ge 21 ] && [ "$major" -gt "$best_major" ]; then best="${jdk%/}"; best_major=$major; fi
  done
  [ -n "$best" ] || { log "Keycloak $VERSION needs a JDK 21 or newer under /usr/lib/jvm (or ZS_KEYCLOAK_JAVA_HOME)"; exit 1; }
  echo "$best"
}

# instance_home: the instance's Keycloak home. The distribution's files are hard links (no copy of 175 MB);
# what a start writes (the Quarkus build under lib/quarkus, conf, data) is the instance's own. A linked
# file is the distribution's very inode: nothing here may write to it or change its mode (chmod, touch, an
# edit in place would change it for every instance); what must change is copied first, as lib/quarkus and
# conf are.
instance_home() {
  if [ -f "$HOME_DIR/.version" ] && [ "$(cat "$HOME_DIR/.version")" = "$VERSION" ]; then return; fi
  rm -rf "$HOME_DIR"; mkdir -p "$DIR"
  cp -al "$DIST" "$HOME_DIR"
  rm -rf "$HOME_DIR/lib/quarkus" "$HOME_DIR/conf"
  cp -a "$DIST/lib/quarkus" "$HOME_DIR/lib/quarkus"; cp -a "$DIST/conf" "$HOME_DIR/conf"
  echo "$VERSION" > "$HOME_DIR/.version"
}

# stage_realm: the realm file into the home's data/import, and the database removed when the file changed.
stage_realm() {
  [ -f "$REALM_FILE" ] || { log "no realm file $REALM_FILE: run \`zorgstroom realm\` (or set ZS_KEYCLOAK_REALM)"; exit 1; }
  local digest; digest=$(sha256sum "$REALM_FILE" | cut -d' ' -f1)
  if [ "$(cat "$DIR/realm.sha256" 2>/dev/null)" != "$digest" ]; then
    rm -rf "$HOME_DIR/data/h2" "$HOME_DIR/data/import"
    log "importing the realm from $REALM_FILE"
  fi
  mkdir -p "$HOME_DIR/data/import"
  cp "$REALM_FILE" "$HOME_DIR/data/import/zorgstroom-realm.json"
  echo "$digest" > "$DIR/realm.sha256"
}

# private_dir: the instance's directory for its owner alone. Only the directory itself and what the
# instance wrote are chmod'ed, never recursively into the home, whose hard links are the distribution's
# files; a 0700 directory keeps everyone else out of all below it anyway.
private_dir() {
  mkdir -p "$DIR/logs"; chmod 700 "$DIR"
  chmod -R go-rwx "$DIR/logs"
  find "$DIR" -maxdepth 1 -type f -exec chmod go-rwx {} +
}

admin_password() {
  [ -s "$DIR/admin-password" ] || { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/admin-password"; }
  chmod 600 "$DIR/admin-password"
  cat "$DIR/admin-password"
}

start() {
  install
  if pid_alive "$PID"; then log "already running on 127.0.0.1:$PORT (pid $(cat "$PID"))"; return; fi
  rm -f "$PID"
  private_dir
  instance_home
  stage_realm
  local java; java=$(java_home)
  log "starting Keycloak $VERSION on 127.0.0.1:$PORT (Java at $java)"
  # The admin's name and password go in through the environment, never the command line (ps shows that).
  # Every listener on 127.0.0.1; the hostname fixed, so the issuer does not follow a request's Host header.
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="$(admin_password)" JAVA_HOME="$java" \
    JAVA_OPTS_KC_HEAP="${ZS_KEYCLOAK_HEAP:--Xms64m -Xmx512m}" \
    setsid nohup "$HOME_DIR/bin/kc.sh" start-dev --import-realm --db=dev-file \
    --http-host=127.0.0.1 --http-port="$PORT" --hostname="http://127.0.0.1:$PORT" \
    --http-management-port="$MGMT_PORT" --health-enabled=true --metrics-enabled=false \
    >"$DIR/logs/keycloak.log" 2>&1 &
  echo $! > "$PID"  # kc.sh, which forwards a TERM to its java; setsid made it a process group of its own
  if ! wait_ready 240; then
    log "Keycloak did not become ready; see $DIR/logs/keycloak.log"; tail -20 "$DIR/logs/keycloak.log" >&2; exit 1
  fi
  log "Keycloak ready: issuer $ISSUER (admin console http://127.0.0.1:$PORT/admin, user admin, password in $DIR/admin-password)"
}

# wait_ready SECONDS: the realm's discovery document answers, so the realm is imported and keys exist.
wait_ready() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    pid_alive "$PID" || return 1
    curl -sf -o /dev/null "$ISSUER/.well-known/openid-configuration" && return 0
    sleep 1
  done
  return 1
}

# stop: kc.sh passes the TERM to Keycloak and waits for it; its process group goes too, should kc.sh have
# been killed without its java.
stop() {
  local group=""; pid_alive "$PID" && group=$(cat "$PID")
  stop_pid "$PID" Keycloak
  if [ -n "$group" ]; then kill -9 -- "-$group" 2>/dev/null || true; fi
}

status() {
  if pid_alive "$PID"; then echo "keycloak running on 127.0.0.1:$PORT, issuer $ISSUER"; else echo "keycloak stopped"; return 1; fi
}

"${1:-start}" "${@:2}"
