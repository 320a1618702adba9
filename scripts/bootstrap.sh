#!/usr/bin/env bash
# Installs whatever is missing, idempotently, so `npm start` and `npm test` work on a fresh
# machine. A second run only checks stamps and is fast.
#   1. Debian packages: system libraries the Kafka client links against, redis-server.
#   2. node_modules (the Kafka client's bundled librdkafka built against the system libraries).
#   3. the local stack (Kafka KRaft broker + Redis) unless KAFKA_BROKERS points elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp_dir=.bootstrap
mkdir -p "$stamp_dir"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# 1. System packages -------------------------------------------------------------------------
apt_pkgs=(libcurl4-openssl-dev libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev redis-server redis-tools)
# python3-venv: the Schema Registry interop test's Python client (scripts/interop-venv.sh).
command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || apt_pkgs+=(python3 python3-venv)
# The local Kafka broker runs on a JVM from jars Maven resolves (scripts/stack.sh).
if [ -z "${KAFKA_BROKERS:-}" ]; then
  command -v java >/dev/null || apt_pkgs+=(default-jre-headless)
  command -v mvn >/dev/null || apt_pkgs+=(maven)
fi
# `bootstrap.sh test` (npm test): headless Chromium renders the simulator's HTML report in a test.
[ "${1:-}" = test ] && apt_pkgs+=(chromium)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    log "missing system packages: ${missing[*]} (install them as root)"; exit 1
  fi
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  log "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Node modules ----------------------------------------------------------------------------
lock=package-lock.json
if [ ! -f node_modules/.package-lock.json ] || [ ! -f "$stamp_dir/npm" ] || [ package.json -nt "$stamp_dir/npm" ] || [ "$lock" -nt "$stamp_dir/npm" ]; then
  log "installing node modules (the Kafka client builds librdkafka against system libraries, ~90 s)"
  [ -d /usr/include/node ] && export npm_config_nodedir=${npm_config_nodedir:-/usr}
  export CKJS_LINKING=dynamic
  if [ -f "$lock" ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
  touch "$stamp_dir/npm"
fi

# 3. Local stack -----------------------------------------------------------------------------
if [ -z "${KAFKA_BROKERS:-}" ] && [ -z "${THERMOSTAT_SKIP_STACK:-}" ] && [ -f scripts/stack.sh ]; then
  bash scripts/stack.sh up
fi
