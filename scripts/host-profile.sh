#!/bin/bash
# Usage (from the workspace, after `cargo build --release -p realtime-strategies -p rs-load`):
#   TOOL=callgrind COUNT=60000 RATE=1000 scripts/host-profile.sh    # instructions per function -> host.cg
#   TOOL=massif    COUNT=60000 RATE=1500 scripts/host-profile.sh    # heap over time            -> host.massif
# Runs one host (PROCESSING_THREADS=1) under valgrind, replays COUNT depth20 messages over 100 symbols at RATE with
# rs-load through nats-server on 127.0.0.1:4337, then stops the host. Read the result with
# `callgrind_annotate --inclusive=yes host.cg` or `ms_print host.massif`. The rate must stay low enough for the
# host under valgrind (≈ 30-50x slower) to keep up.
B=${B:-target/release}
TOOL=${TOOL:-callgrind}
PORT=4337
HTTP=18191
case $TOOL in
  callgrind) OUT=host.cg; ARGS="--tool=callgrind --callgrind-out-file=$OUT" ;;
  massif) OUT=host.massif; ARGS="--tool=massif --massif-out-file=$OUT" ;;
  *) echo "TOOL must be callgrind or massif" >&2; exit 2 ;;
esac
nats-server -a 127.0.0.1 -p $PORT >/dev/null 2>&1 & NATS=$!
sleep 1
env SIGNAL_MAX_AGE_MS=0 API_AUTH=disabled NATS_URL=nats://127.0.0.1:$PORT HEALTH_CHECK_PORT=$HTTP LOG_LEVEL=warn \
  PROCESSING_THREADS=1 CONFIG_DB_PATH=${TMPDIR:-/tmp}/host-profile.redb $EXTRA_ENV \
  valgrind $ARGS $B/realtime-strategies >/dev/null 2>${TMPDIR:-/tmp}/host-profile.log & HOST=$!
sleep 25
$B/rs-load throughput --nats-url nats://127.0.0.1:$PORT --host-url http://127.0.0.1:$HTTP \
  --count ${COUNT:-60000} --rate ${RATE:-1000} --symbols ${SYMBOLS:-100}
kill -INT $HOST; sleep 5; kill $HOST 2>/dev/null; wait $HOST 2>/dev/null
kill $NATS
rm -f ${TMPDIR:-/tmp}/host-profile.redb
echo "wrote $OUT"
