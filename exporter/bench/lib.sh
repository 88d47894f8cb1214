# Shared by run.sh, ab.sh and profile.sh (sourced, not run): a work dir
# cleaned on exit with every started process, the local targets, the
# exporter config both exporters read, and starting an exporter.
# EX (the bench examples' directory) must be set before calling these.

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    exec 3>&- 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_targets CHANNELS: the bench targets (stdin held open on fd 3 keeps
# them running); sets HEALTH, TLSADDR, CA and CHANNELZ from what they
# announce, and writes $WORK/config.yml (modules grpc_plain, grpc_tls).
start_targets() {
    mkfifo "$WORK/targets.in"
    "$EX/bench-targets" --channels "$1" <"$WORK/targets.in" >"$WORK/targets.out" &
    PIDS+=($!)
    exec 3>"$WORK/targets.in"
    for _ in $(seq 300); do [ -s "$WORK/targets.out" ] && break; sleep 0.1; done
    read -r _ HEALTH _ TLSADDR _ CA _ CHANNELZ <"$WORK/targets.out"
    cat >"$WORK/config.yml" <<YAML
modules:
  grpc_plain:
    prober: grpc
    grpc: {preferred_ip_protocol: ip4}
  grpc_tls:
    prober: grpc
    grpc:
      tls: true
      preferred_ip_protocol: ip4
      tls_config: {ca_file: $CA}
YAML
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/-/healthy" >/dev/null && return; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
cpu_of() { sed -n 's/.*cpu_ms_per_probe=\([0-9.]*\).*/\1/p' <<<"$1"; }

# start_exporter EXE: EXE (ours or blackbox_exporter, same flags) on a
# free loopback port with $WORK/config.yml; sets PORT and PID once it
# answers /-/healthy.
start_exporter() {
    PORT=$(port)
    "$1" --config.file="$WORK/config.yml" --web.listen-address="127.0.0.1:$PORT" --log.level=error 2>/dev/null &
    PID=$!
    PIDS+=("$PID")
    wait_up "$PORT"
}
