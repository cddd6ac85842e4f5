#!/usr/bin/env bash
# Installs what `make demo` and `make test` need, from the registries this machine reaches:
# uv (PyPI), the Python packages of uv.lock, Java and Maven (Debian), Kafka's jars (Maven Central),
# PostgreSQL, Prometheus and Chromium (Debian), the pinned npm packages of tools/web (npm registry). Safe to run twice: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
export PATH="$HOME/.local/bin:$PATH"

apt_install() {
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  if [ ! -f /tmp/.zorgstroom-apt-updated ]; then $SUDO apt-get update -qq && touch /tmp/.zorgstroom-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v uv >/dev/null 2>&1; then
  echo "[install] uv from PyPI"
  python3 -m pip install --quiet uv 2>/dev/null || python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv  # a distribution's own Python (PEP 668)
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
command -v java >/dev/null 2>&1 || { echo "[install] Java from Debian"; apt_install default-jre-headless; }
command -v mvn  >/dev/null 2>&1 || { echo "[install] Maven from Debian"; apt_install maven; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "[install] PostgreSQL from Debian"; apt_install postgresql; }
command -v prometheus >/dev/null 2>&1 || { echo "[install] Prometheus and promtool from Debian"; apt_install prometheus; }
command -v chromium >/dev/null 2>&1 || { echo "[install] Chromium from Debian (the dashboard's browser test)"; apt_install chromium; }
if [ ! -f tools/web/node_modules/.package-lock.json ] || [ tools/web/package-lock.json -nt tools/web/node_modules/.package-lock.json ]; then
  echo "[install] npm packages of tools/web (pinned by its lockfile)"
  (cd tools/web && npm ci --no-audit --no-fund --ignore-scripts --silent)
fi

echo "[install] Python packages from uv.lock (uv sync)"
uv sync --frozen --quiet
deploy/kafka.sh install
