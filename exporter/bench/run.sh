#!/usr/bin/env bash
# grpc-exporter beside blackbox_exporter, one run, same local targets:
#   bash exporter/bench/run.sh
# Prints CPU per 1,000 plaintext and TLS probes, p50/p99 latency, peak RSS
# while probing 1,000 targets every 15 s, and the time and RSS of /channelz
# for a server with 10,000 channels. Needs prometheus-blackbox-exporter
# (Debian package) for the comparison; without it only ours is measured.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

COUNT=${COUNT:-1000}
CONC=${CONC:-8}
CHANNELS=${CHANNELS:-10000}
BLACKBOX=${BLACKBOX:-/usr/bin/prometheus-blackbox-exporter}

cargo build -q --release -p grpc-exporter --features bench --bin grpc-exporter --example bench-targets --example bench-load
BIN=target/release/grpc-exporter
EX=target/release/examples
. exporter/bench/lib.sh
start_targets "$CHANNELS"
echo "targets: health :$HEALTH, tls $TLSADDR, channelz :$CHANNELZ ($CHANNELS channels)"

start() { # name -> sets PORT and PID
    if [ "$1" = ours ]; then start_exporter "$BIN"; else start_exporter "$BLACKBOX"; fi
}

declare -A PLAIN TLSCPU

run() { # name
    local name=$1 line
    start "$name"
    "$EX/bench-load" --url "http://127.0.0.1:$PORT/probe?module=grpc_plain&target=127.0.0.1:$HEALTH" --count 100 --concurrency "$CONC" --pid "$PID" >/dev/null
    line=$("$EX/bench-load" --url "http://127.0.0.1:$PORT/probe?module=grpc_plain&target=127.0.0.1:$HEALTH" --count "$COUNT" --concurrency "$CONC" --pid "$PID")
    PLAIN[$name]=$(cpu_of "$line")
    echo "$name plaintext: $line"
    line=$("$EX/bench-load" --url "http://127.0.0.1:$PORT/probe?module=grpc_tls&target=$TLSADDR" --count "$COUNT" --concurrency "$CONC" --pid "$PID")
    TLSCPU[$name]=$(cpu_of "$line")
    echo "$name tls:       $line"
    kill "$PID"
    start "$name"
    echo "$name 1000 targets every 15s (2 rounds): $("$EX/bench-load" --url "http://127.0.0.1:$PORT/probe?module=grpc_plain&target={i}:$HEALTH" --count 2000 --targets 1000 --over 30 --concurrency 256 --pid "$PID")"
    if [ "$name" = ours ]; then
        local t0 t1
        curl -fs -o /dev/null "http://127.0.0.1:$PORT/channelz?module=grpc_plain&target=127.0.0.1:$CHANNELZ"
        t0=$(date +%s.%N)
        curl -fs -o "$WORK/channelz.txt" "http://127.0.0.1:$PORT/channelz?module=grpc_plain&target=127.0.0.1:$CHANNELZ"
        t1=$(date +%s.%N)
        echo "ours /channelz ($CHANNELS channels): scrape_s=$(echo "$t1 - $t0" | bc) series=$(grep -vc '^#' "$WORK/channelz.txt") peak_rss_mb=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$PID/status")"
    fi
    kill "$PID"
}

run ours
if [ -x "$BLACKBOX" ]; then
    run blackbox
    # The figure issue #18 asks for: blackbox's CPU per probe over ours,
    # from this one side-by-side run.
    ratio() { awk -v b="$1" -v o="$2" 'BEGIN { if (o > 0) printf "%.1f", b / o; else print "n/a" }'; }
    echo "cpu ratio blackbox/ours: plaintext $(ratio "${PLAIN[blackbox]}" "${PLAIN[ours]}")x (${PLAIN[blackbox]} / ${PLAIN[ours]} ms), tls $(ratio "${TLSCPU[blackbox]}" "${TLSCPU[ours]}")x (${TLSCPU[blackbox]} / ${TLSCPU[ours]} ms)"
else
    echo "blackbox_exporter not installed: skipped"
fi
