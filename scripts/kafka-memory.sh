#!/usr/bin/env bash
# Measures one Kafka ingester's memory at a steady ingest rate with wall-clock timestamps
# (windows stay open, so only the flush-on-memory target bounds the head):
#   bash scripts/kafka-memory.sh [LINES_PER_SECOND] [SECONDS] [BROKERS]
# Without BROKERS it starts librdkafka's mock cluster (`logq kafka-mock`). Prints the
# ingester's peak RSS (VmHWM), its CPU seconds, and the lines consumed.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${1:-100000}"
SECONDS_TO_RUN="${2:-60}"
BROKERS="${3:-}"
LOGQ="${LOGQ:-${CARGO_TARGET_DIR:-$HOME/.cache/logq-target}/release/logq}"
WORK="$(mktemp -d)"
PORT=$((20000 + RANDOM % 20000))
ENV="rate$PORT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
if [ -z "$BROKERS" ]; then
  "$LOGQ" kafka-mock --ignore-stdin --topic "h-$ENV:8" >"$WORK/mock.out" 2>"$WORK/mock.err" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q bootstrap= "$WORK/mock.out" 2>/dev/null && break; sleep 0.1; done
  BROKERS="$(sed -n 's/^bootstrap=//p' "$WORK/mock.out")"
fi
${WRAP:-} "$LOGQ" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --kafka "$BROKERS" \
  --environment "$ENV" --target ingester --kafka-group "rate-$PORT" ${INGESTER_ARGS:-} 2>"$WORK/ingester.log" &
INGESTER=$!
PIDS+=($INGESTER)
metric() { curl -s "127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
for _ in $(seq 600); do [ "$(metric logq_ingester_kafka_partitions_assigned)" = "8" ] && break; sleep 0.1; done
LINES=$((RATE * SECONDS_TO_RUN))
cpu() { awk '{print ($14+$15)/100}' "/proc/$INGESTER/stat"; }
CPU0="$(cpu)"
if [ -n "${SAMPLE:-}" ]; then
  ( while kill -0 "$INGESTER" 2>/dev/null; do
      echo "sample rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$INGESTER/status) head_bytes=$(metric logq_ingester_memory_bytes) entries=$(metric logq_ingester_entries_total)"
      sleep 2
    done ) &
  PIDS+=($!)
fi
"$LOGQ" gen --kafka "$BROKERS" --env "$ENV" --rate "$RATE" --lines "$LINES" --streams 64 >/dev/null
for _ in $(seq 300); do
  [ "$(metric logq_ingester_entries_total)" -ge "$LINES" ] 2>/dev/null && break
  sleep 0.2
done
CPU1="$(cpu)"
echo "rate=$RATE lines/s for ${SECONDS_TO_RUN}s: consumed $(metric logq_ingester_entries_total) of $LINES lines"
echo "ingester CPU s while ingesting: $(echo "$CPU1 - $CPU0" | bc)"
echo "ingester peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$INGESTER/status")"
echo "chunks flushed so far: $(metric logq_ingester_chunks_flushed_total)"
