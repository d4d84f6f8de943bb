#!/usr/bin/env bash
# Starts redis + 3 courier nodes on this machine, runs the push scenario
# against them, and stops everything it started, by PID.
#
#   loadtest/run-push.sh [OUT_DIR] [extra loadtest flags...]
#   e.g. loadtest/run-push.sh /tmp/lt --clients 10000 --rate 1000 --duration 30s
#
# NODE_LOG_LEVEL=debug logs every session's close reason in OUT_DIR/nN.log.
# Ports: redis 6390, HTTP 8081-8083, gossip 7941-7943, peer links 7951-7953.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-/tmp/lt}; shift || true
[ $# -eq 0 ] && set -- --clients 10000 --rate 1000 --duration 30s
KEY=lt-key SECRET=lt-secret REDIS_PORT=6390
mkdir -p "$OUT"

for p in $REDIS_PORT 8081 8082 8083 7941 7942 7943 7951 7952 7953; do
  if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "port $p is in use" >&2; exit 1; fi
done

go build -o /tmp/courier ./node/cmd/courier
go build -o /tmp/courier-loadtest ./loadtest

REDIS_PID= PIDS=()
# Nodes first (SIGTERM drains them; they unregister their sessions in Redis),
# then Redis: stopping both at once buries the node logs in store errors.
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$REDIS_PID" ] && { kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; }
}
trap cleanup EXIT

redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
until redis-cli -p $REDIS_PORT ping >/dev/null 2>&1; do sleep 0.1; done

for i in 1 2 3; do
  /tmp/courier --listen 127.0.0.1:808$i --node-id n$i --redis redis://127.0.0.1:$REDIS_PORT \
    --gossip-listen 127.0.0.1:794$i --peer-listen 127.0.0.1:795$i --join 127.0.0.1:7941 --cluster-secret run-push-secret \
    --api-key $KEY --jwt-secret $SECRET --shutdown-timeout 5s --log-level ${NODE_LOG_LEVEL:-warn} >"$OUT/n$i.log" 2>&1 &
  PIDS+=($!)
done

# Ready when each node answers /readyz and sees the three nodes alive.
for i in 1 2 3; do
  for _ in $(seq 100); do
    alive=$(curl -sf -H "Authorization: Bearer $KEY" http://127.0.0.1:808$i/v1/cluster | grep -o '"alive"' | wc -l || true)
    curl -sf http://127.0.0.1:808$i/readyz >/dev/null 2>&1 && [ "$alive" -ge 3 ] && break
    sleep 0.2
  done
done
curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:8081/v1/cluster; echo

/tmp/courier-loadtest push \
  --target http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083 \
  --api-key $KEY --jwt-secret $SECRET --redis 127.0.0.1:$REDIS_PORT --out "$OUT" "$@" \
  2> >(tee "$OUT/loadtest.log" >&2)
cat "$OUT/result.json"
