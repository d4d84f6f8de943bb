#!/usr/bin/env bash
# Side by side: courier (built from the committed HEAD, so a half-edited work
# tree does not matter) against the Node socket.io 4 peer in
# loadtest/peers/node-socketio, on this machine, with the same scenario and
# flags; prints both and courier/node. Every server is started on free
# loopback ports and stopped by PID by the runner.
#
#   loadtest/compare.sh OUT_DIR suite                 # the README's numbers
#   loadtest/compare.sh OUT_DIR room --clients 2000 --rate 20 --duration 10s
#
# COURIER_BIN=/path/to/courier skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?OUT_DIR}; shift
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ -z "${COURIER_BIN:-}" ]; then
  SRC=$(mktemp -d)
  trap 'rm -rf "$SRC"' EXIT
  git archive HEAD | tar -x -C "$SRC"
  (cd "$SRC" && go build -o "$OUT/courier" ./node/cmd/courier)
  COURIER_BIN=$OUT/courier
  git rev-parse --short HEAD >"$OUT/courier.commit"
fi
PEER=loadtest/peers/node-socketio
[ -d "$PEER/node_modules/socket.io" ] || (cd "$PEER" && npm ci --no-audit --no-fund)
go build -o "$OUT/courier-loadtest" ./loadtest

"$OUT/courier-loadtest" compare "$@" --courier-bin "$COURIER_BIN" --peer-dir "$PEER" --out "$OUT" \
  2> >(tee "$OUT/loadtest.log" >&2)
