#!/usr/bin/env bash
# Where a plaintext probe's CPU goes: a release build with symbols and frame
# pointers (in target/prof), perf record -g on it while bench-load sends
# COUNT probes at CONC, then the top of perf report (self and children):
#   bash exporter/bench/profile.sh
# Needs perf (Debian: linux-perf). Leaves perf.data in target/prof.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

COUNT=${COUNT:-6000}
CONC=${CONC:-8}
PROF=target/prof

CARGO_TARGET_DIR=$PROF CARGO_PROFILE_RELEASE_STRIP=false \
    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_LTO=thin \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 RUSTFLAGS="-C force-frame-pointers=yes" \
    cargo build -q --release -p grpc-exporter --features bench --bin grpc-exporter \
    --example bench-targets --example bench-load
BIN=$PROF/release/grpc-exporter
EX=$PROF/release/examples
. exporter/bench/lib.sh
start_targets 1
start_exporter "$BIN"
URL="http://127.0.0.1:$PORT/probe?module=grpc_plain&target=127.0.0.1:$HEALTH"
"$EX/bench-load" --url "$URL" --count 200 --concurrency "$CONC" --pid "$PID" >/dev/null
perf record -F 2000 -g -o "$PROF/perf.data" -p "$PID" 2>/dev/null &
PERF=$!
sleep 0.5
"$EX/bench-load" --url "$URL" --count "$COUNT" --concurrency "$CONC" --pid "$PID"
kill -INT "$PERF"
wait "$PERF" || true
# `|| true`: head closing the pipe early is not a failure (pipefail).
perf report -i "$PROF/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -v '^$' | grep '%' | head -60 >"$PROF/self.txt" || true
perf report -i "$PROF/perf.data" --children --sort sym --stdio -g none 2>/dev/null | grep '%' | head -80 >"$PROF/children.txt" || true
echo "self time: $PROF/self.txt; with children: $PROF/children.txt"
