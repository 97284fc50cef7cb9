#!/usr/bin/env bash
# Builds logq, starts `logq serve --demo` (generated logs from a few services and hosts), shows a
# query, and keeps serving until Ctrl-C. Data goes to ./logq-data.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/logq-target}"
# A C toolchain, and cmake plus curl's headers for librdkafka (built from source by rdkafka).
need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
[ -e /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -e /usr/include/curl/curl.h ] || need_apt+=(libcurl4-openssl-dev)
# librdkafka is built with TLS and SASL (OpenSSL) support.
[ -e /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
cargo build --release --locked
LOGQ="$CARGO_TARGET_DIR/release/logq"
ADDR="${LOGQ_LISTEN:-127.0.0.1:3100}"
"$LOGQ" serve --demo --listen "$ADDR" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM EXIT
for _ in $(seq 1 100); do
  curl -sf "http://$ADDR/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
echo
echo "== logq query '{service=\"nginx\"} |= \"GET\"' --since 15m --limit 10"
"$LOGQ" query --addr "http://$ADDR" '{service="nginx"} |= "GET"' --since 15m --limit 10
echo
echo "== logq is serving at http://$ADDR/ (Ctrl-C to stop)"
wait $pid
