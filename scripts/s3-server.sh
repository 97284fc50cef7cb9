#!/usr/bin/env bash
# Starts (or stops) an S3-compatible server for the tests: moto's server from PyPI, on a free
# loopback port. Installs it if missing (pip, falling back to a venv under ~/.cache).
#
#   eval "$(scripts/s3-server.sh start)"   # exports LOGQ_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#   scripts/s3-server.sh stop
#
# State (pid file, log) lives in ${LOGQ_S3_DIR:-/tmp/logq-s3-server}.
set -euo pipefail

dir="${LOGQ_S3_DIR:-/tmp/logq-s3-server}"
venv="${HOME}/.cache/logq-moto-venv"
mkdir -p "$dir"

find_moto() {
  if command -v moto_server >/dev/null 2>&1 && moto_server --help >/dev/null 2>&1; then
    echo moto_server
  elif [ -x "$venv/bin/moto_server" ]; then
    echo "$venv/bin/moto_server"
  fi
}

install_moto() {
  echo "== installing moto[server] from PyPI" >&2
  if python3 -m pip install -q 'moto[server]' >&2 2>/dev/null \
    || python3 -m pip install -q --break-system-packages 'moto[server]' >&2 2>/dev/null; then
    return 0
  fi
  # Debian's python3 may lack pip or venv.
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv python3-pip >&2
    python3 -m venv "$venv" >&2
  fi
  "$venv/bin/pip" install -q 'moto[server]' >&2
}

start() {
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "export LOGQ_TEST_S3_ENDPOINT=$(cat "$dir/endpoint")"
    return 0
  fi
  local moto
  moto="$(find_moto)"
  if [ -z "$moto" ]; then
    install_moto
    moto="$(find_moto)"
  fi
  [ -n "$moto" ] || { echo "moto_server could not be installed" >&2; exit 1; }
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$moto" -H 127.0.0.1 -p "$port" >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  local endpoint="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null; then
      echo "$endpoint" >"$dir/endpoint"
      echo "== S3 test server (moto) on $endpoint, pid $(cat "$dir/pid")" >&2
      echo "export LOGQ_TEST_S3_ENDPOINT=$endpoint"
      return 0
    fi
    sleep 0.2
  done
  echo "moto_server did not start; log:" >&2
  cat "$dir/log" >&2
  exit 1
}

stop() {
  if [ -f "$dir/pid" ]; then
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid" "$dir/endpoint"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
