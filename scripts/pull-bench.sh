#!/usr/bin/env bash
# Measures `logq pull` against paging `query_range` 5,000 lines at a time (what logcli does) on
# one generated corpus, in the same run: MB/s of lines written with 1 and 4 workers, the paging
# client's MB/s, and the server's peak RSS while it answers the export.
#
#   scripts/pull-bench.sh [SIZE] [LOGQ_BINARY]     (SIZE default 256MB; 1GB for the full corpus)
set -euo pipefail
size="${1:-256MB}"
bin="${2:-${CARGO_TARGET_DIR:-target}/release/logq}"
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
addr="http://127.0.0.1:$port"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_server() {
  LOGQ_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --flush-check-interval 1s --window-grace 0s --compact-interval 2s --compact-hour-grace 0s \
    >/dev/null 2>&1 &
  server_pid=$!
  until curl -fs "$addr/ready" >/dev/null 2>&1; do sleep 0.2; done
}

# Peak RSS (MiB) of the server while a command runs.
peak_rss_during() {
  local peak=0 rss
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.1
  done
  wait "$pid"
  echo $((peak / 1024))
}

start_server
end_s=$(( $(date +%s) - 7200 ))
start_s=$(( end_s - 86400 ))
start_rfc=$(date -u -d "@$start_s" +%Y-%m-%dT%H:%M:%SZ)
echo "== corpus: $size over 24h (64 streams), pushed and compacted"
"$bin" gen --bytes "$size" --streams 64 --duration 24h --start "$start_rfc" \
  --push "$addr/loki/api/v1/push" >/dev/null
# Flush and compact: restart (SIGTERM flushes), then wait until no chunk is left.
kill "$server_pid"; wait "$server_pid" || true
start_server
for _ in $(seq 1 600); do
  chunks=$(find "$work/data" -path '*chunks*' -type f | wc -l)
  [ "$chunks" -eq 0 ] && break
  sleep 1
done
query='{env="bench"}'
from="$start_s"; to=$(( end_s + 60 ))
baseline_rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$server_pid/status")

measure() { # name, then the command; prints seconds and MB/s of line bytes written
  local name="$1"; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  echo "$name $(echo "$t1 - $t0" | bc)"
}

lines_mb() { # total line bytes (without newlines) under a directory, in MB
  find "$1" -type f -not -path '*/.logq-pull/*' -exec cat {} + | awk '{n += length($0)} END {printf "%.1f", n/1e6}'
}

echo "== pull, 1 worker"
rss1=$(peak_rss_during "$bin" pull "$query" --addr "$addr" --from "$from" --to "$to" -q --output-dir "$work/p1")
t1=$(measure x "$bin" pull "$query" --addr "$addr" --from "$from" --to "$to" -q --output-dir "$work/p1b" | awk '{print $2}')
echo "== pull, 4 workers (1h splits)"
t4=$(measure x "$bin" pull "$query" --addr "$addr" --from "$from" --to "$to" -q --output-dir "$work/p4" \
  --parallel-max-workers 4 --parallel-duration 1h | awk '{print $2}')
echo "== paging query_range, 5000 per request (logcli's way)"
tq=$(measure x sh -c "'$bin' query '$query' --addr '$addr' --from '$from' --to '$to' --limit 0 --batch 5000 --forward -o raw > '$work/paged.log'" | awk '{print $2}')
mb=$(lines_mb "$work/p1b")
mbq=$(awk '{n += length($0)} END {printf "%.1f", n/1e6}' "$work/paged.log")
cmp <(find "$work/p1b" -type f -not -path '*/.logq-pull/*' -exec cat {} + | sort) \
    <(find "$work/p4" -type f -not -path '*/.logq-pull/*' -exec cat {} + | sort) >/dev/null \
  && same="identical" || same="DIFFERENT"
printf '%-44s %8s %10s\n' "what" "seconds" "MB/s"
printf '%-44s %8.1f %10.1f\n' "pull, 1 worker ($mb MB of lines)" "$t1" "$(echo "$mb / $t1" | bc -l)"
printf '%-44s %8.1f %10.1f\n' "pull, 4 workers (4 and 1 worker: $same)" "$t4" "$(echo "$mb / $t4" | bc -l)"
printf '%-44s %8.1f %10.1f\n' "query_range paged by 5000 ($mbq MB)" "$tq" "$(echo "$mbq / $tq" | bc -l)"
echo "server RSS: ${baseline_rss} MiB before, peak ${rss1} MiB during the 1-worker pull"
