#!/usr/bin/env bash
# Copies the browser files the services serve from the pinned npm packages of tools/web into the
# Python packages, so the pages work offline and the wheels carry them. Safe to run twice: a file is
# rewritten only when it differs. Run after deploy/install.sh (which runs `npm ci` in tools/web) and
# commit what changes; the version each copy came from is written beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

WEB=tools/web/node_modules
RUNTIME_STATIC=services/runtime/src/zorgstroom_runtime/static

log() { printf '[vendor-web] %s\n' "$*" >&2; }

# package_version PACKAGE: the version npm installed, refusing a package that is not installed.
package_version() {
  local manifest="$WEB/$1/package.json"
  [ -f "$manifest" ] || { log "$1 is not installed in tools/web; run deploy/install.sh"; exit 1; }
  node -p "require('./$manifest').version"
}

# copy_files PACKAGE TARGET FILE...: copy FILEs of PACKAGE into TARGET when they differ.
copy_files() {
  local package=$1 target=$2; shift 2
  mkdir -p "$target"
  for file in "$@"; do
    if ! cmp -s "$WEB/$package/$file" "$target/$file"; then
      cp "$WEB/$package/$file" "$target/$file"
      log "$target/$file"
    fi
  done
}

# write_version PACKAGE TARGET: record the npm package and version a directory was copied from.
write_version() {
  local line; line="npm $1 $(package_version "$1") (copied by deploy/vendor-web.sh; do not edit)"
  if [ "$(cat "$2/VERSION" 2>/dev/null)" != "$line" ]; then
    printf '%s\n' "$line" > "$2/VERSION"
    log "$2/VERSION: $line"
  fi
}

# Swagger UI for /docs of every service (zorgstroom_runtime.apidocs). FastAPI's page needs only the
# bundle (it includes the standalone preset), the stylesheet and a favicon.
vendor_swagger_ui() {
  local target="$RUNTIME_STATIC/swagger-ui"
  package_version swagger-ui-dist >/dev/null
  copy_files swagger-ui-dist "$target" \
    swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE
  write_version swagger-ui-dist "$target"
}

vendor_swagger_ui
