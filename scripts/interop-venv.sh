#!/usr/bin/env bash
# The Python virtual environment of the interop test (.venv-interop/): Confluent's Python client
# and fastavro from PyPI, pinned in scripts/interop/requirements.txt. Idempotent: a second run only
# compares a stamp. Prints the interpreter's path on success.
#   bash scripts/interop-venv.sh
# Exit codes: 0 ready; 3 PyPI (or python3 with venv) is not available here, the reason on stderr:
# the test skips with it instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-interop
req=scripts/interop/requirements.txt
stamp=$venv/.requirements
log() { printf '[interop-venv] %s\n' "$*" >&2; }

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
  echo "$PWD/$venv/bin/python"
  exit 0
fi
command -v python3 >/dev/null || { log "python3 is not installed (scripts/bootstrap.sh installs it)"; exit 3; }
rm -rf "$venv"
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  rm -rf "$venv"
  log "python3 cannot create a virtual environment (Debian: apt-get install python3-venv)"
  exit 3
fi
log "installing $(grep -cv '^#' "$req") packages from PyPI into $venv"
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 30 --retries 2 -r "$req" >"$venv/pip.log" 2>&1; then
  if grep -qiE 'connection|resolve|network|timed out|No matching distribution' "$venv/pip.log"; then
    log "PyPI is unreachable from here: $(grep -iE 'connection|resolve|network|timed out|No matching' "$venv/pip.log" | tail -1)"
    rm -rf "$venv"
    exit 3
  fi
  log "pip failed; see $venv/pip.log"
  tail -5 "$venv/pip.log" >&2
  exit 1
fi
cp "$req" "$stamp"
echo "$PWD/$venv/bin/python"
