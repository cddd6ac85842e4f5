#!/usr/bin/env bash
# Helm (v3), the Kubernetes package manager, built once from the Go module proxy into .cache/helm/helm:
# `make test` renders and lints the chart deploy/helm/zorgstroom with it (helm lint, helm template).
# Usage: deploy/helm.sh install|build-background|wait-built [SECONDS]|path. Idempotent. Needs Go; without
# it, says so and stops (exit 3).
#   install           build now, in the foreground, unless a fresh binary is there (waits for a running build)
#   build-background  start the build detached and return at once (make test: it overlaps the rest)
#   wait-built [S]    wait up to S seconds (default 900) for a background build, with progress lines;
#                     builds in the foreground when none runs
#   path              print the binary's path (built or not)
# One lock (flock) for all of them: two callers never build twice.
set -euo pipefail
source "$(dirname "$0")/common.sh"
TOOL=Helm
TOOL_BIN="$ZS_CACHE/helm/helm"
TOOL_MODULE="$ZS_ROOT/deploy/helm/build"
TOOL_PACKAGE=helm.sh/helm/v3/cmd/helm

# tool_ldflags: what Helm's own Makefile stamps in. Its version, and the Kubernetes version `helm template`
# and `helm lint` assume (the client-go it was built with; left alone, Helm assumes 1.20).
tool_ldflags() {
  local helm k8s minor
  helm=$(go list -f '{{.Version}}' -m helm.sh/helm/v3)
  k8s=$(go list -f '{{.Version}}' -m k8s.io/client-go)  # v0.N.x is Kubernetes 1.N
  minor=$(echo "$k8s" | cut -d. -f2)
  printf -- '-X helm.sh/helm/v3/internal/version.version=%s ' "$helm"
  printf -- '-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=%s ' "$minor"
  printf -- '-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=%s' "$minor"
}

source "$ZS_ROOT/deploy/go-tool.sh"

case "${1:-install}" in
  install | build-background) "${1:-install}" ;;
  wait-built) wait-built "${2:-900}" ;;
  path) echo "$TOOL_BIN" ;;
  *) log "unknown action: $1 (install|build-background|wait-built [SECONDS]|path)"; exit 2 ;;
esac
