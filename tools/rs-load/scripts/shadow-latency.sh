#!/bin/bash
# Live-path latency (publish -> signal) with 0 and 8 shadows of orderbook_skew. Each measurement on a freshly started
# host (the same config file: the 8 shadows are stored and loaded at start), alternating 0 / 8 / 0 / 8.
set -u
cd "$(dirname "$0")/../../.."
B=target/release
pkill -f "nats-server -a 127.0.0.1 -p 4333" 2>/dev/null
nats-server -a 127.0.0.1 -p 4333 >/dev/null 2>&1 &
NATS=$!
sleep 1
DB=$(mktemp -d)/config.redb
start() { SIGNAL_MAX_AGE_MS=0 NATS_URL=nats://127.0.0.1:4333 HEALTH_CHECK_PORT=18090 LOG_LEVEL=warn API_AUTH=disabled CONFIG_DB_PATH=$DB $B/realtime-strategies >>/tmp/bench-host.log 2>&1 & HOST=$!; sleep 3; }
stop() { kill $HOST; wait $HOST 2>/dev/null; }
S=http://127.0.0.1:18090/api/v1/strategies/orderbook_skew/shadows
run() { $B/rs-load latency --nats-url nats://127.0.0.1:4333 --rate 10000 --duration 10 2>&1 | tail -1; curl -s http://127.0.0.1:18090/metrics | grep -E "^realtime_shadows_running|^realtime_cpu_seconds_total|^process_cpu_seconds_total" | tr '\n' ' '; echo; }
for round in 1 2; do
  start; echo "== round $round: 0 shadows"; run
  for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -w "%{http_code} " -H 'Content-Type: application/json' -X POST $S \
      -d "{\"name\":\"s$i\",\"parameters\":{\"buy_threshold\":$(python3 -c "print(round(1.1+0.05*$i,2))"),\"sell_threshold\":$(python3 -c "print(round(0.9-0.03*$i,2))"),\"min_signal_interval_seconds\":$((i*5))},\"changed_by\":\"bench\"}"
  done; echo; stop
  start; echo "== round $round: 8 shadows (loaded from the store at start)"; run
  curl -s http://127.0.0.1:18090/metrics | grep "^realtime_shadow_signals_total" | awk '{s+=$2} END {print "shadow signals:", s}'
  for i in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null -X DELETE $S/s$i; done
  stop
done
kill $NATS
