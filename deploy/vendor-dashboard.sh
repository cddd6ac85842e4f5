#!/usr/bin/env bash
# Vendors the reporting dashboard's browser libraries, so the page needs nothing from the internet: Apache
# ECharts (the charts) and oidc-client-ts (the person's login, authorization code with PKCE). Copies each
# pinned npm package (tools/web/package.json and its lock file's integrity; installed in
# tools/web/node_modules) with its licence into
# services/reporting/src/zorgstroom_reporting/dashboard/vendor/<package>/.
# Usage: deploy/vendor-dashboard.sh. Idempotent: files already equal to the package's are left alone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULES="$ROOT/tools/web/node_modules"
VENDOR="$ROOT/services/reporting/src/zorgstroom_reporting/dashboard/vendor"

log() { printf '[vendor-dashboard] %s\n' "$*" >&2; }

# version PACKAGE: the version npm installed, refusing a package that is not installed.
version() {
  local manifest="$MODULES/$1/package.json" found
  [ -f "$manifest" ] || { log "$1 is not installed: run (cd tools/web && npm ci) first"; exit 1; }
  found="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$manifest" | head -1)"
  [ -n "$found" ] || { log "cannot read the version of $manifest"; exit 1; }
  printf '%s' "$found"
}

# copy PACKAGE DIRECTORY SOURCE TARGET: one file of an installed package (SOURCE relative to it) into
# vendor/DIRECTORY/TARGET, when it differs.
copy() {
  local from="$MODULES/$1/$3" to="$VENDOR/$2/$4"
  mkdir -p "$VENDOR/$2"
  if [ -f "$to" ] && cmp -s "$from" "$to"; then return; fi
  cp "$from" "$to"
  log "copied $1/$3 to vendor/$2/$4"
}

# stamp DIRECTORY LINE: vendor/DIRECTORY/VERSION says where its files came from.
stamp() {
  if [ "$(cat "$VENDOR/$1/VERSION" 2>/dev/null)" != "$2" ]; then
    printf '%s\n' "$2" > "$VENDOR/$1/VERSION"
    log "wrote vendor/$1/VERSION"
  fi
}

echarts="$(version echarts)"
copy echarts echarts dist/echarts.min.js echarts.min.js
copy echarts echarts i18n/langNL.js langNL.js          # Dutch labels for the charts' own texts
copy echarts echarts LICENSE LICENSE
copy echarts echarts NOTICE NOTICE
copy echarts echarts licenses/LICENSE-d3 LICENSE-d3    # LICENSE refers to it: echarts embeds parts of d3 (BSD 3-Clause)
stamp echarts "Apache ECharts $echarts from npm (echarts@$echarts, dist/echarts.min.js and i18n/langNL.js), vendored by deploy/vendor-dashboard.sh"

oidc="$(version oidc-client-ts)"
jwt="$(version jwt-decode)"
# The browser build: one script that defines the global `oidc`, with jwt-decode (MIT) bundled into it.
copy oidc-client-ts oidc-client-ts dist/browser/oidc-client-ts.min.js oidc-client-ts.min.js
copy oidc-client-ts oidc-client-ts LICENSE LICENSE
copy jwt-decode oidc-client-ts LICENSE LICENSE-jwt-decode
stamp oidc-client-ts "oidc-client-ts $oidc from npm (oidc-client-ts@$oidc, dist/browser/oidc-client-ts.min.js, which bundles jwt-decode@$jwt), vendored by deploy/vendor-dashboard.sh"
log "echarts@$echarts and oidc-client-ts@$oidc in ${VENDOR#"$ROOT"/}"
