#!/bin/bash
# Usage (from the workspace, after `cargo build --release -p realtime-strategies -p rs-load`):
#   THREADS="1 2" RATES="0 60000" COUNT=300000 SYMBOLS=100 scripts/threads-cpu.sh
# Starts nats-server on 127.0.0.1:4336; for each PROCESSING_THREADS value and each publish rate (0 = as fast as
# possible) starts a fresh host, replays COUNT depth20 messages over SYMBOLS symbols with rs-load, and prints what
# rs-load reports (processed msg/s, slow-consumer drops, host CPU, RSS) plus the host's buffer_full drops and its
# anonymous and file-backed memory after the run (/proc/<pid>/smaps_rollup).
# EXTRA_ENV is added to the host's environment (e.g. "MAX_SYMBOLS=20000 DEPTH_ANALYZER_MAX_SYMBOLS=20000").
# BUSY=1 runs one idle-priority (nice 19) spin loop per core meanwhile, as on a node with other work: the VM then
# does not halt an idle vCPU between bursts, and a waking host thread preempts a spin loop at once (nice 19 weighs
# 1.5 % of nice 0). See BENCHMARKS.md for what that changes.
B=${B:-target/release}
PORT=4336
HTTP=18190
COUNT=${COUNT:-300000}
SYMBOLS=${SYMBOLS:-100}
nats-server -a 127.0.0.1 -p $PORT >/dev/null 2>&1 & NATS=$!
SPINNERS=""
if [ -n "$BUSY" ]; then
  for _ in $(seq 1 "$(nproc)"); do nice -n 19 sh -c 'while :; do :; done' & SPINNERS="$SPINNERS $!"; done
fi
sleep 1
metric() { curl -s http://127.0.0.1:$HTTP/metrics | awk -v m="$1" 'index($0, m) == 1 {s += $NF} END {print s + 0}'; }
for N in ${THREADS:-1 2}; do
  for RATE in ${RATES:-0 60000}; do
    env SIGNAL_MAX_AGE_MS=0 API_AUTH=disabled NATS_URL=nats://127.0.0.1:$PORT HEALTH_CHECK_PORT=$HTTP LOG_LEVEL=warn \
      PROCESSING_THREADS=$N CONFIG_DB_PATH=${TMPDIR:-/tmp}/threads-cpu-$N.redb $EXTRA_ENV \
      $B/realtime-strategies >/dev/null 2>${TMPDIR:-/tmp}/threads-cpu-$N.log & HOST=$!
    sleep 3
    echo "PROCESSING_THREADS=$N rate=$RATE load=$(cut -d' ' -f1-3 /proc/loadavg): $($B/rs-load throughput \
      --nats-url nats://127.0.0.1:$PORT --host-url http://127.0.0.1:$HTTP --count $COUNT --rate $RATE --symbols $SYMBOLS) \
      buffer_full=$(metric 'realtime_messages_dropped_total{reason="buffer_full"}') \
      $(awk '/^(Pss_Anon|Pss_File):/ {printf "%s %.1f MiB ", $1, $2 / 1024}' /proc/$HOST/smaps_rollup)"
    kill $HOST; wait $HOST 2>/dev/null
    rm -f ${TMPDIR:-/tmp}/threads-cpu-$N.redb
  done
done
kill $NATS
if [ -n "$SPINNERS" ]; then kill $SPINNERS; fi
