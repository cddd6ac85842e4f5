#!/usr/bin/env bash
# Vendors Apache ECharts into the reporting dashboard, so the page needs nothing from the internet.
# Copies the pinned npm package (tools/web/package.json; installed in tools/web/node_modules) with its
# LICENSE and NOTICE into services/reporting/src/zorgstroom_reporting/dashboard/vendor/echarts/.
# Usage: deploy/vendor-dashboard.sh. Idempotent: files already equal to the package's are left alone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tools/web/node_modules/echarts"
DEST="$ROOT/services/reporting/src/zorgstroom_reporting/dashboard/vendor/echarts"

log() { printf '[vendor-dashboard] %s\n' "$*" >&2; }

if [ ! -f "$SRC/package.json" ]; then
  log "ECharts is not installed: run (cd tools/web && npm ci) first"
  exit 1
fi
version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$SRC/package.json" | head -1)"
[ -n "$version" ] || { log "cannot read the version of $SRC/package.json"; exit 1; }

mkdir -p "$DEST"
# source (relative to the package) -> target (relative to DEST)
copy() {
  local from="$SRC/$1" to="$DEST/$2"
  if [ -f "$to" ] && cmp -s "$from" "$to"; then return; fi
  cp "$from" "$to"
  log "copied echarts/$1"
}
copy dist/echarts.min.js echarts.min.js
copy i18n/langNL.js langNL.js          # Dutch labels for the charts' own texts
copy LICENSE LICENSE
copy NOTICE NOTICE
copy licenses/LICENSE-d3 LICENSE-d3    # LICENSE refers to it: echarts embeds parts of d3 (BSD 3-Clause)

line="Apache ECharts $version from npm (echarts@$version, dist/echarts.min.js and i18n/langNL.js), vendored by deploy/vendor-dashboard.sh"
if [ "$(cat "$DEST/VERSION" 2>/dev/null)" != "$line" ]; then
  printf '%s\n' "$line" > "$DEST/VERSION"
  log "wrote VERSION: echarts@$version"
fi
log "echarts@$version in ${DEST#"$ROOT"/}"
