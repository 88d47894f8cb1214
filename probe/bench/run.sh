#!/usr/bin/env bash
# grpc-probe benchmark: one command, against a local grpcio server.
#
#   bash probe/bench/run.sh            # from anywhere in the repository
#
# Builds the release binary (the workspace's release profile), starts a
# local Python grpcio health server (plaintext and TLS), then measures:
#   - median wall time per check (hyperfine), for grpc-probe and for the
#     baseline, a plain Python grpcio health client;
#   - peak RSS (/usr/bin/time -v), for both;
#   - the binary's size;
#   - a breakdown: process start (-version: exec + argv parsing, no
#     runtime), runtime + a failed connect (refused port), TLS setup (TLS
#     check minus plaintext check), and connect / RPC from -v's timings;
#   - how far past its deadline a run ends (connect timeout against a
#     silent server, RPC timeout against a handler that never answers,
#     --timeout against both), median and max.
# Needs: hyperfine, GNU time, openssl, and the test peers' venv
# (target/peers/venv, made by tests/peers/setup.sh) or python3 with grpcio.
set -euo pipefail

cd "$(dirname "$0")/../.."
root_dir=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root_dir/target}
runs=${BENCH_RUNS:-300}

# BENCH_TARGET=x86_64-unknown-linux-musl measures the static binary the
# container ships (no dynamic loader, musl's allocator, built with the
# Dockerfile's RUSTFLAGS); the default is the host's glibc build.
if [ -n "${BENCH_TARGET:-}" ]; then
  # The container's flags (see the Dockerfile): a non-PIE static executable.
  RUSTFLAGS="-C relocation-model=static" \
    cargo build --release --locked -p grpc-probe --target "$BENCH_TARGET" >&2
  bin=$CARGO_TARGET_DIR/$BENCH_TARGET/release/grpc-probe
else
  cargo build --release --locked -p grpc-probe >&2
  bin=$CARGO_TARGET_DIR/release/grpc-probe
fi
python=python3
[ -x "$root_dir/target/peers/venv/bin/python" ] && python=$root_dir/target/peers/venv/bin/python

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The server under the probe: the grpc-go test peer when it is installed
# (a fast server, as in production), else the Python grpcio server.
# BENCH_SERVER=python forces the latter.
go_peer=$root_dir/target/peers/go/bin/grpc-peer-go
server_kind=${BENCH_SERVER:-go}
[ -x "$go_peer" ] || server_kind=python
mkfifo "$work/peer-stdin"
# Held open read-write for the script's lifetime: the Go peer exits when
# its stdin closes, i.e. when this script ends, however it ends.
exec 7<>"$work/peer-stdin"

# Sets $server_port. Not called in $(...): the pid must reach the cleanup
# list of this shell.
start_server() { # $1 = port file, rest = --tls CERT KEY or nothing
  local port_file=$1; shift
  if [ "$server_kind" = go ]; then
    local tls=()
    [ "${1:-}" = --tls ] && tls=(--tls-cert "$2" --tls-key "$3")
    "$go_peer" --channels 0 "${tls[@]}" <"$work/peer-stdin" >"$port_file" 2>>"$work/server.err" &
  else
    "$python" "$root_dir/probe/bench/health_server.py" "$@" >"$port_file" 2>>"$work/server.err" &
  fi
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.1; done
  [ -s "$port_file" ] || { cat "$work/server.err" >&2; exit 1; }
  # Python prints the port; the Go peer prints "PORT <port>".
  server_port=$(head -n1 "$port_file" | awk '{print $NF}')
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
start_server "$work/port"
addr=127.0.0.1:$server_port
start_server "$work/tls_port" --tls "$work/cert.pem" "$work/key.pem"
tls_addr=127.0.0.1:$server_port

closed=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$bin" -addr "$addr" >/dev/null 2>&1 || { echo "grpc-probe cannot check $addr" >&2; exit 1; }
"$bin" -addr "$tls_addr" -tls -tls-ca-cert "$work/cert.pem" >/dev/null 2>&1 ||
  { echo "grpc-probe cannot check $tls_addr over TLS" >&2; exit 1; }

median_ms() { # hyperfine JSON -> "median wall ms   mean user+sys CPU ms"
  "$python" -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%8.3f ms   cpu %6.3f ms" % (r["median"]*1000, (r["user"]+r["system"])*1000))' "$1"
}
bench() { # $1 = name, $2 = command, $3 = runs (default $runs)
  hyperfine -N --warmup 5 --runs "${3:-$runs}" -i --export-json "$work/$1.json" "$2" >/dev/null 2>&1
  median_ms "$work/$1.json"
}
peak_rss_kb() { # max over 20 runs of "Maximum resident set size"
  local max=0 kb
  for _ in $(seq 1 "${RSS_RUNS:-20}"); do
    kb=$( (/usr/bin/time -v "$@" 2>&1 >/dev/null) | awk '/Maximum resident/ {print $6}')
    [ "$kb" -gt "$max" ] && max=$kb
  done
  echo "$max"
}

check="$bin -addr $addr"
py_check="$python $root_dir/probe/bench/python_client.py $addr"

echo "build:      $(git -C "$root_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root_dir" diff --quiet 2>/dev/null || echo +dirty), $(rustc --version), profile.release as in Cargo.toml"
echo "machine:    $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg); server: $server_kind"
echo "binary:     $(stat -c %s "$bin") bytes ($bin)"
echo
echo "median wall time per check, and mean user+sys CPU (hyperfine -N, $runs runs):"
printf '  %-44s %s\n' "grpc-probe plaintext check" "$(bench check "$check")"
printf '  %-44s %s\n' "grpc-probe TLS check (-tls-ca-cert)" \
  "$(bench tls "$bin -addr $tls_addr -tls -tls-ca-cert $work/cert.pem")"
printf '  %-44s %s\n' "python grpcio client (baseline, 30 runs)" "$(bench python "$py_check" 30)"
echo
echo "breakdown (medians):"
printf '  %-44s %s\n' "exec floor: /bin/true (dynamic glibc)" "$(bench true /bin/true)"
printf '  %-44s %s\n' "process start + argv (-version)" "$(bench version "$bin -version")"
printf '  %-44s %s\n' "+ runtime + refused connect" "$(bench refused "$bin -addr 127.0.0.1:$closed")"
# In-process phase timings from -v, median over 50 runs.
for _ in $(seq 1 50); do "$bin" -addr "$addr" -v 2>&1 >/dev/null; done >"$work/verbose.txt"
"$python" - "$work/verbose.txt" <<'PY'
import re, statistics, sys
def ms(text):
    m = re.match(r"([0-9.]+)(ns|µs|us|ms|s)$", text)
    v, u = float(m.group(1)), m.group(2)
    return v * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1, "s": 1e3}[u]
conn, rpc = [], []
for line in open(sys.argv[1], encoding="utf-8"):
    if m := re.search(r"connection established \(took (\S+)\)", line):
        conn.append(ms(m.group(1)))
    if m := re.search(r"time elapsed: .*rpc=(\S+)", line):
        rpc.append(ms(m.group(1)))
print("  %-44s %8.3f ms" % ("connect (TCP + HTTP/2 SETTINGS), in-process", statistics.median(conn)))
print("  %-44s %8.3f ms" % ("health Check RPC, in-process", statistics.median(rpc)))
PY
echo
echo "peak RSS (max of 20 runs, /usr/bin/time -v):"
printf '  %-44s %8s KiB\n' "grpc-probe plaintext check" "$(peak_rss_kb $check)"
printf '  %-44s %8s KiB\n' "grpc-probe TLS check" "$(peak_rss_kb "$bin" -addr "$tls_addr" -tls -tls-ca-cert "$work/cert.pem")"
printf '  %-44s %8s KiB\n' "python grpcio client (baseline)" "$(RSS_RUNS=3 peak_rss_kb $py_check)"

# Deadline overshoot: wall time minus the deadline given (which includes
# process start and exit, ~0.5 ms). A silent server accepts and never
# speaks; the Python server's "hang" service never answers its Check.
"$python" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(128)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])
' >"$work/silent_port" &
pids+=($!)
"$python" "$root_dir/probe/bench/health_server.py" >"$work/hang_port" 2>>"$work/server.err" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/silent_port" ] && [ -s "$work/hang_port" ] && break; sleep 0.1; done
silent=127.0.0.1:$(head -n1 "$work/silent_port")
hang=127.0.0.1:$(head -n1 "$work/hang_port")
overshoot() { # $1 = deadline in ms, rest = command; prints "median / max over 20 runs"
  local deadline=$1; shift
  hyperfine -N --runs 20 -i --export-json "$work/over.json" "$*" >/dev/null 2>&1
  "$python" -c 'import json,sys,statistics as st; t=json.load(open(sys.argv[1]))["results"][0]["times"]; d=float(sys.argv[2])/1000; print("%8.3f ms / %.3f ms" % ((st.median(t)-d)*1000, (max(t)-d)*1000))' "$work/over.json" "$deadline"
}
echo
echo "deadline overshoot: wall minus the deadline, median / max of 20 runs:"
printf '  %-44s %s\n' "-connect-timeout=100ms, silent server" "$(overshoot 100 "$bin" -addr "$silent" -connect-timeout=100ms)"
printf '  %-44s %s\n' "-rpc-timeout=100ms, hung handler" "$(overshoot 100 "$bin" -addr "$hang" -service=hang -rpc-timeout=100ms)"
printf '  %-44s %s\n' "--timeout=100ms, silent server" "$(overshoot 100 "$bin" -addr "$silent" --timeout=100ms)"
printf '  %-44s %s\n' "--timeout=100ms, hung handler" "$(overshoot 100 "$bin" -addr "$hang" -service=hang --timeout=100ms)"
