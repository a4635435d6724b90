#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: installs the Debian packages the lab
# needs and a venv with raquet[dev], then runs the linters and every test (as root: the
# lab builds namespaces, overlays and veths). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then exec sudo -E bash "$0" "$@"; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  debootstrap openssh-client iproute2 util-linux postgresql redis-server ca-certificates \
  chromium chromium-driver poppler-utils fonts-liberation2 fonts-wqy-microhei \
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libcairo2 libreoffice-writer-nogui >/dev/null
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy raquet checks reports remediations
exec .venv/bin/pytest "$@"
