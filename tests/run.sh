#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's: installs what the tests need (nats-server from
# Debian; a MongoDB-compatible server via tests/scripts/mongo-server.sh), starts the MongoDB-compatible server on a
# loopback port, runs every test of the workspace, and stops the server again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$@"; else sudo apt-get update -qq && sudo apt-get install -y -qq "$@"; fi
}
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
command -v openssl >/dev/null || apt_install openssl
command -v prlimit >/dev/null || apt_install util-linux
command -v python3 >/dev/null || apt_install python3 python3-venv
command -v chromedriver >/dev/null || [ -x /usr/bin/chromedriver ] || apt_install chromium chromium-driver

# schemathesis (PyPI, pinned) for tests/schemathesis.rs, in a venv under target/ (never the system Python).
SCHEMATHESIS_VERSION=4.32.5
ST_VENV=target/schemathesis-venv
if ! "$ST_VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$ST_VENV" || { apt_install python3-venv && python3 -m venv "$ST_VENV"; }
  "$ST_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
export SCHEMATHESIS="$PWD/$ST_VENV/bin/st"

MONGO_PORT=${TEST_MONGO_PORT:-27917}
export MONGO_DATA_DIR=${MONGO_DATA_DIR:-$(mktemp -d /tmp/rs-test-mongo.XXXXXX)}
TEST_MONGODB_URI=$(tests/scripts/mongo-server.sh start "$MONGO_PORT")
export TEST_MONGODB_URI TEST_MONGO_PORT=$MONGO_PORT
trap 'tests/scripts/mongo-server.sh stop "$MONGO_PORT" >/dev/null 2>&1 || true' EXIT

cargo test --workspace --all-targets "$@"
