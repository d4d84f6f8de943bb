#!/usr/bin/env bash
# Starts the tRPC echo backend and one courier node routing bench.echo.* to
# it, runs the cmd scenario (the direct baseline, then the same rate through
# the node), prints both, and stops everything it started, by PID.
#
#   loadtest/run-cmd.sh [OUT_DIR] [extra loadtest flags...]
#   e.g. loadtest/run-cmd.sh /tmp/lc --clients 500 --rate 5000 --duration 25s
#
# Ports: node HTTP 8090, echo backend 8790 (ECHO_PORT / NODE_PORT override).
# COURIER_BIN=/path/to/courier uses that node binary instead of building one
# from the work tree (e.g. one built from a clean `git archive HEAD`).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-/tmp/lc}; shift || true
[ $# -eq 0 ] && set -- --clients 500 --rate 5000 --duration 25s
KEY=lt-key SECRET=lt-secret ECHO_PORT=${ECHO_PORT:-8790} NODE_PORT=${NODE_PORT:-8090}
mkdir -p "$OUT"

for p in $ECHO_PORT $NODE_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "port $p is in use" >&2; exit 1; fi
done

COURIER_BIN=${COURIER_BIN:-}
if [ -z "$COURIER_BIN" ]; then go build -o "$OUT/courier" ./node/cmd/courier; COURIER_BIN=$OUT/courier; fi
go build -o "$OUT/courier-loadtest" ./loadtest

PIDS=()
# The node first (it drains on SIGTERM), then the backend.
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

"$OUT/courier-loadtest" trpc-echo --listen 127.0.0.1:$ECHO_PORT --func /bench.echo.Echo/Say >"$OUT/echo.log" 2>&1 &
ECHO_PID=$!
"$COURIER_BIN" --listen 127.0.0.1:$NODE_PORT --node-id lc1 --route "bench.echo.*=127.0.0.1:$ECHO_PORT" \
  --api-key $KEY --jwt-secret $SECRET --shutdown-timeout 2s --log-level warn >"$OUT/node.log" 2>&1 &
NODE_PID=$!
PIDS=("$NODE_PID" "$ECHO_PID")

for _ in $(seq 100); do curl -sf http://127.0.0.1:$NODE_PORT/readyz >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$ECHO_PORT) 2>/dev/null && break; sleep 0.1; done

"$OUT/courier-loadtest" cmd --target http://127.0.0.1:$NODE_PORT --api-key $KEY --jwt-secret $SECRET \
  --name /bench.echo.Echo/Say --direct 127.0.0.1:$ECHO_PORT \
  --watch-pid echo=$ECHO_PID --out "$OUT" "$@" \
  2> >(tee "$OUT/loadtest.log" >&2) | tee "$OUT/summary.txt"
# The node's own CPU over each phase is in result.json (from its /metrics),
# the backend's under "echo", the tester's as loadtest_cpu_seconds.
