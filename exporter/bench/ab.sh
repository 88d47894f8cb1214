#!/usr/bin/env bash
# A/B of exporter builds (and blackbox_exporter) against the same targets,
# alternating, several rounds, median CPU per probe of each:
#   bash exporter/bench/ab.sh BIN_A [BIN_B ...]
# A name `blackbox` stands for /usr/bin/prometheus-blackbox-exporter.
# ROUNDS (5), COUNT (2000 probes per measurement), CONC (8), TLS=1 to
# measure the TLS module too, CLOSE=1 for a new connection per probe (the
# default keeps one per worker, as Prometheus does). Builds the bench helpers (not the binaries
# under test: copy each build aside, e.g. cp target/release/grpc-exporter
# /tmp/a). On a shared machine the alternation is what makes the medians
# comparable: each binary sees the same background load.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-2000}
CONC=${CONC:-8}
TLS=${TLS:-0}
LOAD=()
[ "${CLOSE:-0}" = 1 ] && LOAD=(--close)
BLACKBOX=${BLACKBOX:-/usr/bin/prometheus-blackbox-exporter}

[ -n "${SKIP_BUILD:-}" ] || cargo build -q --release -p grpc-exporter --features bench --example bench-targets --example bench-load
EX=target/release/examples
. exporter/bench/lib.sh
start_targets 1

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A RES
for round in $(seq "$ROUNDS"); do
    for bin in "$@"; do
        exe=$bin
        [ "$bin" = blackbox ] && exe=$BLACKBOX
        start_exporter "$exe"
        url="http://127.0.0.1:$PORT/probe?module=grpc_plain&target=127.0.0.1:$HEALTH"
        "$EX/bench-load" --url "$url" --count 200 --concurrency "$CONC" --pid "$PID" "${LOAD[@]}" >/dev/null
        line=$("$EX/bench-load" --url "$url" --count "$COUNT" --concurrency "$CONC" --pid "$PID" "${LOAD[@]}")
        RES[$bin plain]+="$(cpu_of "$line") "
        echo "round $round $bin plaintext: $line"
        if [ "$TLS" = 1 ]; then
            line=$("$EX/bench-load" --url "http://127.0.0.1:$PORT/probe?module=grpc_tls&target=$TLSADDR" --count "$COUNT" --concurrency "$CONC" --pid "$PID" "${LOAD[@]}")
            RES[$bin tls]+="$(cpu_of "$line") "
            echo "round $round $bin tls:       $line"
        fi
        kill "$PID"
        wait "$PID" 2>/dev/null || true
    done
done
for bin in "$@"; do
    for kind in plain tls; do
        [ -n "${RES[$bin $kind]:-}" ] || continue
        echo "median $kind $bin: $(tr ' ' '\n' <<<"${RES[$bin $kind]}" | grep . | median) ms/probe (runs: ${RES[$bin $kind]})"
    done
done
