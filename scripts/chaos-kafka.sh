#!/usr/bin/env bash
# Kafka-mode chaos: a broker, two `--target ingester` processes, a querier reading their heads,
# and `logq agent --kafka` following files that a writer appends to and rotates (renamed to
# NAME.log.N, still inside the agent's glob). KILLS random SIGKILLs (default 60) hit the two
# ingesters and the agent, each restarted after a random pause. At the end every line written
# must be stored exactly once (read back through the querier, from chunks and heads).
#   bash scripts/chaos-kafka.sh [KILLS] [BROKERS]
# Without BROKERS: librdkafka's mock cluster (`logq kafka-mock`; ingesters join it with dynamic
# membership, which is all it implements), or tansu (memory engine) with CHAOS_BROKER=tansu.
# STATIC=off|on overrides the ingesters' static group membership. Prints a summary line `chaos: ...` and exits 1 on any loss
# or duplicate. Work files stay in $WORK on failure (KEEP=1 keeps them always).
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-60}"
BROKERS="${2:-${LOGQ_CHAOS_KAFKA:-}}"
LOGQ="${LOGQ:-${CARGO_TARGET_DIR:-$HOME/.cache/logq-target}/release/logq}"
[ -x "$LOGQ" ] || { echo "no logq binary at $LOGQ (cargo build --release, or LOGQ=path)" >&2; exit 2; }
WORK="$(mktemp -d)"
BASE=$((20000 + RANDOM % 20000))
ENV="chaos$BASE"
SEED="${SEED:-$RANDOM}"
RANDOM=$SEED
declare -A PID
BROKER_PID=""
OK=0
cleanup() {
  for p in "${PID[@]}" $BROKER_PID; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$OK" = 1 ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "work files kept in $WORK" >&2; fi
}
trap cleanup EXIT
mkdir -p "$WORK/logs"

if [ -z "$BROKERS" ]; then
  if [ "${CHAOS_BROKER:-mock}" = tansu ]; then
    port=$((BASE + 9))
    tansu broker --storage-engine memory://tansu/ \
      --kafka-listener-url "tcp://127.0.0.1:$port" \
      --kafka-advertised-listener-url "tcp://127.0.0.1:$port" >"$WORK/broker.log" 2>&1 &
    BROKER_PID=$!
    BROKERS="127.0.0.1:$port"
    BROKER_KIND="tansu (memory engine)"
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  else
    "$LOGQ" kafka-mock --ignore-stdin --topic "h-$ENV:8" >"$WORK/mock.out" 2>"$WORK/broker.log" &
    BROKER_PID=$!
    for _ in $(seq 100); do grep -q bootstrap= "$WORK/mock.out" 2>/dev/null && break; sleep 0.1; done
    BROKERS="$(sed -n 's/^bootstrap=//p' "$WORK/mock.out")"
    BROKER_KIND="librdkafka mock cluster"
    STATIC="${STATIC:-off}"
  fi
else
  BROKER_KIND="external $BROKERS"
fi

common=(--kafka "$BROKERS" --environment "$ENV" --kafka-group "chaos-$BASE" --kafka-partitions 8
  --store "$WORK/store" --flush-check-interval 1s --max-chunk-bytes 200000
  -X session.timeout.ms=6000 -X heartbeat.interval.ms=500)
[ "${STATIC:-on}" = off ] && common+=(--kafka-instance-id off)
start() {
  case "$1" in
    ing1|ing2)
      local n="${1#ing}"
      "$LOGQ" serve --listen "127.0.0.1:$((BASE + n))" --data-dir "$WORK/$1" --target ingester \
        "${common[@]}" >>"$WORK/$1.log" 2>&1 &
      ;;
    agent)
      "$LOGQ" agent --kafka "$BROKERS" --environment "$ENV" --path "$WORK/logs/*.log*" \
        --checkpoint-dir "$WORK/agent-cp" --host chaos --batch-lines 200 --batch-wait 100ms \
        --poll-interval 50ms --rotate-wait 2s --metrics-listen "127.0.0.1:$((BASE + 5))" \
        >>"$WORK/agent.log" 2>&1 &
      ;;
  esac
  PID[$1]=$!
}
start ing1
start ing2
"$LOGQ" serve --listen "127.0.0.1:$((BASE + 3))" --data-dir "$WORK/querier" --target querier \
  "${common[@]}" --ingesters "http://127.0.0.1:$((BASE + 1)),http://127.0.0.1:$((BASE + 2))" \
  >>"$WORK/querier.log" 2>&1 &
PID[querier]=$!
metric() { curl -s "127.0.0.1:$1/metrics" 2>/dev/null | awk -v m="$2" '$1==m {print $2}' || true; }
for _ in $(seq 600); do
  a="$(metric $((BASE + 1)) logq_ingester_kafka_partitions_assigned)"
  b="$(metric $((BASE + 2)) logq_ingester_kafka_partitions_assigned)"
  [ -n "$a" ] && [ -n "$b" ] && [ $((a + b)) -ge 8 ] && break
  sleep 0.1
done
start agent
for _ in $(seq 300); do [ -e "$WORK/agent-cp/checkpoint.json" ] && break; sleep 0.1; done

# The writer: three files, batches of 1-40 lines, each file renamed away after 200-400 lines.
(
  n=0; declare -a count=(0 0 0) rot=(0 0 0)
  while [ ! -e "$WORK/stop" ]; do
    f=$((RANDOM % 3)); k=$((1 + RANDOM % 40))
    for _ in $(seq "$k"); do echo "chaos f$f n$n"; n=$((n + 1)); done >>"$WORK/logs/f$f.log"
    count[f]=$((count[f] + k))
    if [ "${count[f]}" -gt $((200 + RANDOM % 200)) ]; then
      rot[f]=$((rot[f] + 1)); mv "$WORK/logs/f$f.log" "$WORK/logs/f$f.log.${rot[f]}"; count[f]=0
    fi
    sleep "0.0$((RANDOM % 3))"
  done
  echo "$n" >"$WORK/written"
) &
WRITER=$!

T0=$(date +%s)
declare -A killed=([ing1]=0 [ing2]=0 [agent]=0)
victims=(ing1 ing2 agent)
for _ in $(seq "$KILLS"); do
  sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  v="${victims[$((RANDOM % 3))]}"
  kill -9 "${PID[$v]}" 2>/dev/null || true
  wait "${PID[$v]}" 2>/dev/null || true
  killed[$v]=$((killed[$v] + 1))
  sleep "0.$((RANDOM % 10))"
  start "$v"
done
CHAOS_S=$(($(date +%s) - T0))
touch "$WORK/stop"
wait "$WRITER"
WRITTEN="$(cat "$WORK/written")"

# Everything read and produced: the agent's lag is zero; then the querier sees every line.
for _ in $(seq 600); do
  [ "$(metric $((BASE + 5)) logq_agent_lag_bytes)" = "0" ] && break
  sleep 0.2
done
T1=$(date +%s)
GOT=0; DUPS=0
for _ in $(seq 120); do
  "$LOGQ" query --addr "http://127.0.0.1:$((BASE + 3))" '{host="chaos"}' --since 2h --limit 0 \
    --batch 5000 --forward -o raw >"$WORK/out.txt" 2>"$WORK/query.err" || true
  GOT=$(sort -u "$WORK/out.txt" | wc -l)
  DUPS=$(($(wc -l <"$WORK/out.txt") - GOT))
  [ "$GOT" -ge "$WRITTEN" ] && break
  sleep 1
done
SETTLE_S=$(($(date +%s) - T1))
seq 0 $((WRITTEN - 1)) | awk '{print $1}' >"$WORK/want-n.txt"
sed -n 's/^chaos f[0-9] n\([0-9]*\)$/\1/p' "$WORK/out.txt" | sort -n | uniq >"$WORK/got-n.txt"
MISSING=$(comm -23 <(sort "$WORK/want-n.txt") <(sort "$WORK/got-n.txt") | wc -l)
ROTATIONS=$(find "$WORK/logs" -name '*.log.*' | wc -l)
echo "chaos: broker=$BROKER_KIND static_membership=${STATIC:-on} seed=$SEED kills=$KILLS (ing1 ${killed[ing1]}, ing2 ${killed[ing2]}, agent ${killed[agent]}) in ${CHAOS_S}s; lines written=$WRITTEN rotations=$ROTATIONS; stored distinct=$GOT missing=$MISSING duplicates=$DUPS; settled ${SETTLE_S}s after the agent caught up"
if [ "$MISSING" -eq 0 ] && [ "$DUPS" -eq 0 ]; then
  OK=1
else
  echo "chaos: FAILED (first missing: $(comm -23 <(sort "$WORK/want-n.txt") <(sort "$WORK/got-n.txt") | head -5 | tr '\n' ' '))" >&2
  exit 1
fi
