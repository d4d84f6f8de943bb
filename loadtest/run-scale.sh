#!/usr/bin/env bash
# The cluster at scale (loadtest/README.md, "Cluster at scale"): builds the
# node and the tester once, then `loadtest cluster` starts redis-server and
# the courier nodes on free loopback ports (gossip with a cluster secret,
# peer links, one log per node), runs the measurement, sums up the node
# logs, and stops every process it started by PID.
#
#   loadtest/run-scale.sh OUT_DIR connect   # 150,000 clients into 10 nodes at 2,500/s from 16 addresses
#   loadtest/run-scale.sh OUT_DIR kill      # SIGKILL n1 of 3 (45,000 clients), restarted after 5 s, pushes meanwhile
#   loadtest/run-scale.sh OUT_DIR roll      # SIGTERM + restart of each of 3 nodes in turn, 45,000 clients, 1,000 pushes/s
#
# Flags after the measurement's name override its preset, e.g. a smoke run:
#   loadtest/run-scale.sh /tmp/s connect --clients 5000 --connect-rate 1000 --duration 5s
#   loadtest/run-scale.sh /tmp/s roll --clients 2000
# Runner flags: --nodes N, --node-flag=--drain-spread=10s (repeatable),
# --node-log-level, --node-shutdown-timeout, --cluster-secret, --cluster-poll.
# COURIER_BIN=/path/to/courier skips building the node from this work tree.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:?usage: loadtest/run-scale.sh OUT_DIR connect|kill|roll [flags]}
WHAT=${2:?usage: loadtest/run-scale.sh OUT_DIR connect|kill|roll [flags]}
shift 2
case "$WHAT" in
  connect)
    # 8 processes of 18,750 clients, 2 source addresses each: 127.0.0.1..16.
    PRESET=(connect --nodes 10 --clients 150000 --connect-rate 2500 --connect-concurrency 4000
      --per-process 18750 --source-ips 2 --settle 5s --duration 60s) ;;
  kill)
    PRESET=(reconnect --mode kill --nodes 3 --clients 45000 --connect-rate 2500 --connect-concurrency 2000
      --settle 5s --down 5s --rate 3000 --offline-limit 3s --deliver-within 5s) ;;
  roll)
    # The drain times are the node's defaults, given to be explicit.
    PRESET=(reconnect --mode roll --nodes 3 --clients 45000 --connect-rate 2500 --connect-concurrency 2000
      --settle 5s --rate 1000 --offline-limit 5s --deliver-within 5s
      --node-flag=--drain-delay=5s --node-flag=--drain-spread=10s) ;;
  *) echo "run-scale.sh: connect, kill or roll, not $WHAT" >&2; exit 2 ;;
esac

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -z "${COURIER_BIN:-}" ]; then
  go build -o "$OUT/courier" ./node/cmd/courier
  COURIER_BIN=$OUT/courier
  { git rev-parse --short HEAD; git status --porcelain --untracked-files=no -- node router | sed 's/^/modified: /'; } \
    >"$OUT/courier.commit" 2>/dev/null || true
fi
go build -o "$OUT/courier-loadtest" ./loadtest

# The tester's children and every node inherit this shell's open-file limit.
echo "open files per process: $(ulimit -n)" >&2
"$OUT/courier-loadtest" cluster "${PRESET[@]}" --progress log "$@" --courier-bin "$COURIER_BIN" --out "$OUT" \
  2> >(tee "$OUT/loadtest.log" >&2)
