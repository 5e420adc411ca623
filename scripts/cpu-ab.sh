#!/bin/bash
# Usage (from the workspace, after `cargo build --release -p realtime-strategies -p rs-load`):
#   A=/tmp/before B=target/release PAIRS=4 scripts/cpu-ab.sh          # two builds (directories with the binaries)
#   B_ENV="STRATEGY_ENABLED_ICEBERG_DETECTOR=false" scripts/cpu-ab.sh  # one build, two environments
# Compares the CPU per message of two hosts that consume the same depth20 stream at the same time: rs-load publishes
# COUNT messages at RATE msg/s over SYMBOLS symbols into one nats-server, and each host subscribes in its own
# consumer group, so both receive every message. Run side by side, both see the same speed of the VM, which drifts
# by up to 1.3x within minutes between separate runs; a difference of 1-2 % shows in a few pairs.
# rs-load follows one host (it polls that host's /metrics every 20 ms, ≈ 1 % of its CPU), so each pair runs twice
# with the roles swapped. Prints each run and the geometric mean of B's CPU / A's CPU over all runs.
# A and B default to target/release; rs-load is taken from A. A_ENV and B_ENV are added to each host's environment.
# CPU is counted in clock ticks (10 ms): keep COUNT at 300 k or more (a 60 k run resolves only ≈ 3 %).
A=${A:-target/release}
B=${B:-target/release}
PAIRS=${PAIRS:-3}
COUNT=${COUNT:-600000}
RATE=${RATE:-60000}
SYMBOLS=${SYMBOLS:-100}
PORT=4337
nats-server -a 127.0.0.1 -p $PORT >/dev/null 2>&1 & NATS=$!
sleep 1
# start DIR HTTP_PORT GROUP ENV: a host in its own consumer group; prints its pid
start() {
  env SIGNAL_MAX_AGE_MS=0 API_AUTH=disabled NATS_URL=nats://127.0.0.1:$PORT HEALTH_CHECK_PORT=$2 LOG_LEVEL=warn \
    PROCESSING_THREADS=${THREADS:-1} NATS_CONSUMER_GROUP=$3 CONFIG_DB_PATH=${TMPDIR:-/tmp}/cpu-ab-$3.redb $4 \
    $1/realtime-strategies >/dev/null 2>${TMPDIR:-/tmp}/cpu-ab-$3.log &
  echo $!
}
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
processed() { curl -s http://127.0.0.1:$1/metrics | awk '/^realtime_messages_processed_total/ {s += $NF} END {print s + 0}'; }
RATIOS=""
for i in $(seq 1 $PAIRS); do
  for followed in A B; do
    PA=$(start $A 18195 cpu-ab-a "$A_ENV")
    PB=$(start $B 18196 cpu-ab-b "$B_ENV")
    sleep 3
    HTTP=$([ $followed = A ] && echo 18195 || echo 18196)
    a0=$(cpu_ticks $PA); b0=$(cpu_ticks $PB)
    $A/rs-load throughput --nats-url nats://127.0.0.1:$PORT --host-url http://127.0.0.1:$HTTP --count $COUNT \
      --rate $RATE --symbols $SYMBOLS >/dev/null
    sleep 0.5
    a1=$(cpu_ticks $PA); b1=$(cpu_ticks $PB)
    na=$(processed 18195); nb=$(processed 18196)
    kill $PA $PB; wait $PA $PB 2>/dev/null
    rm -f ${TMPDIR:-/tmp}/cpu-ab-cpu-ab-a.redb ${TMPDIR:-/tmp}/cpu-ab-cpu-ab-b.redb
    T=$(getconf CLK_TCK)
    echo "pair $i, rs-load follows $followed: A $(awk -v c=$((a1 - a0)) -v t=$T -v n=$COUNT 'BEGIN {printf "%.2f", c / t / n * 1e6}') µs" \
      "B $(awk -v c=$((b1 - b0)) -v t=$T -v n=$COUNT 'BEGIN {printf "%.2f", c / t / n * 1e6}') µs per message" \
      "(processed: A $na, B $nb)"
    RATIOS="$RATIOS $(awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) 'BEGIN {print b / a}')"
  done
done
kill $NATS
echo "B / A (geometric mean of $((2 * PAIRS)) runs):" \
  "$(echo $RATIOS | awk '{s = 0; for (i = 1; i <= NF; i++) s += log($i); printf "%.3f", exp(s / NF)}')"
