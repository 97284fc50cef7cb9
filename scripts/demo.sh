#!/usr/bin/env bash
# Builds logq, starts `logq serve --demo` (generated logs from a few services and hosts), shows a
# query, and keeps serving until Ctrl-C. Data goes to ./logq-data.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/logq-target}"
if ! command -v cc >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq build-essential pkg-config
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
