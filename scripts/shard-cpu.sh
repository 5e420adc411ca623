#!/bin/bash
# Usage (from the workspace, after `cargo build --release --bins && cargo build --release -p rs-load`): COUNT=300000 RATE=60000 SHARDS="1 2 4" scripts/shard-cpu.sh
# Starts nats-server on 127.0.0.1:4335, N replicas (SHARD_COUNT=N, SHARD_INDEX=i, HTTP ports 18100+i), replays
# COUNT depth20 messages over 100 symbols with rs-load at RATE msg/s, prints each replica's CPU seconds and RSS.
# EXTRA_ENV is added to every replica's environment (e.g. "PROCESSING_THREADS=1"; the default is one thread per core).
# CPU per replica with SHARD_COUNT=1,2,4 on the same 100-symbol depth20 stream (rs-load, 60k msg/s).
# Then the floor under any replica's share: a replica that owns none of the 100 symbols (SHARD_COUNT=64,
# SHARD_INDEX=0: it receives every message and drops each after reading its stream token; its processed count
# shows that it owned none), and a plain NATS subscriber that only counts (rs-load receive, its own process).
B=${B:-target/release}
PORT=4335
COUNT=${COUNT:-300000}
RATE=${RATE:-60000}
nats-server -a 127.0.0.1 -p $PORT >/dev/null 2>&1 & NATS=$!
sleep 1
cpu() { curl -s http://127.0.0.1:$1/metrics | awk '/^realtime_process_cpu_seconds/ {print $2}'; }
rss() { curl -s http://127.0.0.1:$1/metrics | awk '/^memory_usage_bytes/ {print $2}'; }
for N in ${SHARDS:-1 2 4}; do
  PIDS=(); PORTS=()
  for ((i=0;i<N;i++)); do
    P=$((18100+i))
    env NATS_URL=nats://127.0.0.1:$PORT SHARD_COUNT=$N SHARD_INDEX=$i HEALTH_CHECK_PORT=$P LOG_LEVEL=warn \
      CONFIG_DB_PATH=${TMPDIR:-/tmp}/cfg-$N-$i.redb $EXTRA_ENV $B/realtime-strategies >/dev/null 2>${TMPDIR:-/tmp}/host-$N-$i.log & PIDS+=($!); PORTS+=($P)
  done
  sleep 3
  declare -A C0; for P in "${PORTS[@]}"; do C0[$P]=$(cpu $P); done
  $B/rs-load throughput --nats-url nats://127.0.0.1:$PORT --host-url http://127.0.0.1:${PORTS[0]} --count $COUNT --rate $RATE --symbols 100 | sed "s/^/SHARD_COUNT=$N replica 0 rs-load: /"
  sleep 2
  for P in "${PORTS[@]}"; do
    c1=$(cpu $P); echo "SHARD_COUNT=$N replica port $P: CPU $(echo "$c1 - ${C0[$P]}" | bc | xargs printf "%.2f") s for $COUNT messages published; RSS $(( $(rss $P | cut -d. -f1) / 1048576 )) MiB"
  done
  for p in "${PIDS[@]}"; do kill $p; done; wait "${PIDS[@]}" 2>/dev/null
  rm -f ${TMPDIR:-/tmp}/cfg-$N-*.redb
done
env NATS_URL=nats://127.0.0.1:$PORT SHARD_COUNT=64 SHARD_INDEX=0 HEALTH_CHECK_PORT=18100 LOG_LEVEL=warn \
  CONFIG_DB_PATH=${TMPDIR:-/tmp}/cfg-none.redb $EXTRA_ENV $B/realtime-strategies >/dev/null 2>${TMPDIR:-/tmp}/host-none.log & HOST=$!
sleep 3
$B/rs-load throughput --nats-url nats://127.0.0.1:$PORT --host-url http://127.0.0.1:18100 --count $COUNT --rate $RATE --symbols 100 | sed "s/^/replica owning no symbol (SHARD_COUNT=64 SHARD_INDEX=0): /"
kill $HOST; wait $HOST 2>/dev/null; rm -f ${TMPDIR:-/tmp}/cfg-none.redb
$B/rs-load receive --nats-url nats://127.0.0.1:$PORT --count $COUNT > ${TMPDIR:-/tmp}/receive.out & RECV=$!
until grep -q subscribed ${TMPDIR:-/tmp}/receive.out 2>/dev/null; do sleep 0.1; done
$B/rs-load throughput --publish-only --nats-url nats://127.0.0.1:$PORT --count $COUNT --rate $RATE --symbols 100 >/dev/null
wait $RECV; tail -1 ${TMPDIR:-/tmp}/receive.out
kill $NATS
