#!/usr/bin/env bash
# Installs the real gRPC test peers (Python grpcio, Node grpc-js, Go grpc-go)
# under target/peers/, or under $GRPC_TOOLKIT_PEERS_DIR when set.
#
#   tests/peers/setup.sh [python] [node] [go] [monitoring]
#                                   (no argument: the three gRPC peers)
#
# Idempotent and cheap when nothing changed: each peer keeps a stamp (a hash
# of its pinned inputs) and is rebuilt only when the stamp differs. A lock
# file serialises concurrent runs, since parallel tests call this script.
# As root, missing system packages (python3-venv, nodejs/npm, golang-go,
# golang-google-grpc-dev) are installed with apt-get; otherwise their
# absence is an error that names them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${GRPC_TOOLKIT_PEERS_DIR:-$ROOT/target/peers}"
mkdir -p "$OUT"

exec 9>"$OUT/.setup.lock"
flock 9

say() { echo "peers setup: $*" >&2; }
die() { say "error: $*"; exit 1; }

APT_UPDATED=0
apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        die "missing $*: install the Debian packages ($*) or run this script as root"
    fi
    if [ "$APT_UPDATED" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# A stamp is the hash of everything that decides what gets installed.
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
is_current() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

setup_python() {
    local stamp
    stamp="$(stamp_of "$HERE/python/requirements.txt")"
    is_current "$OUT/venv/.stamp" "$stamp" && [ -x "$OUT/venv/bin/python" ] && return 0
    command -v python3 >/dev/null || apt_install python3 python3-venv
    if [ ! -x "$OUT/venv/bin/python" ]; then
        python3 -m venv "$OUT/venv" 2>/dev/null || {
            rm -rf "$OUT/venv"
            apt_install python3-venv
            python3 -m venv "$OUT/venv"
        }
    fi
    say "pip install -r tests/peers/python/requirements.txt"
    "$OUT/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$HERE/python/requirements.txt" >&2
    echo "$stamp" >"$OUT/venv/.stamp"
}

setup_node() {
    local stamp
    stamp="$(stamp_of "$HERE/node/package.json" "$HERE/node/package-lock.json")"
    is_current "$OUT/node/.stamp" "$stamp" && [ -d "$OUT/node/node_modules/@grpc/grpc-js" ] && return 0
    if ! command -v node >/dev/null; then
        apt_install nodejs npm
    elif ! command -v npm >/dev/null; then
        apt_install npm
    fi
    mkdir -p "$OUT/node"
    cp "$HERE/node/package.json" "$HERE/node/package-lock.json" "$OUT/node/"
    say "npm ci (tests/peers/node/package-lock.json)"
    (cd "$OUT/node" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$stamp" >"$OUT/node/.stamp"
}

GOCODE=/usr/share/gocode
setup_go() {
    if ! command -v go >/dev/null || [ ! -d "$GOCODE/src/google.golang.org/grpc/channelz" ]; then
        apt_install golang-go golang-google-grpc-dev
    fi
    local stamp
    stamp="$( (go version; cat "$HERE/go/main.go" "$HERE/go/channelzclient/main.go" "$HERE/go/healthclient/main.go"; dpkg-query -W golang-google-grpc-dev 2>/dev/null || true) | sha256sum | cut -d' ' -f1)"
    is_current "$OUT/go/.stamp" "$stamp" && [ -x "$OUT/go/bin/grpc-peer-go" ] \
        && [ -x "$OUT/go/bin/grpc-channelz-client-go" ] && [ -x "$OUT/go/bin/grpc-health-client-go" ] && return 0
    mkdir -p "$OUT/go/bin" "$OUT/go/cache"
    say "go build (GOPATH mode, offline, against $GOCODE)"
    # GOPATH mode with Debian's sources: no module proxy is reachable, and
    # GOFLAGS/GOPROXY from the caller's environment must not interfere.
    (cd "$HERE/go" && env GO111MODULE=off GOPATH="$OUT/go/gopath:$GOCODE" GOCACHE="$OUT/go/cache" \
        GOFLAGS= GOPROXY=off go build -o "$OUT/go/bin/grpc-peer-go" . >&2)
    # The Channelz reader: grpc-go's own Channelz stubs against our service.
    (cd "$HERE/go/channelzclient" && env GO111MODULE=off GOPATH="$OUT/go/gopath:$GOCODE" GOCACHE="$OUT/go/cache" \
        GOFLAGS= GOPROXY=off go build -o "$OUT/go/bin/grpc-channelz-client-go" . >&2)
    # The health client: grpc-go's health stubs, and List by raw Invoke.
    (cd "$HERE/go/healthclient" && env GO111MODULE=off GOPATH="$OUT/go/gopath:$GOCODE" GOCACHE="$OUT/go/cache" \
        GOFLAGS= GOPROXY=off go build -o "$OUT/go/bin/grpc-health-client-go" . >&2)
    echo "$stamp" >"$OUT/go/.stamp"
}

# Not a gRPC peer: the real monitoring parts the exporter's tests run
# beside it (Prometheus with promtool, blackbox_exporter), from Debian.
setup_monitoring() {
    command -v prometheus >/dev/null && command -v promtool >/dev/null \
        && command -v prometheus-blackbox-exporter >/dev/null && return 0
    apt_install prometheus prometheus-blackbox-exporter
}

kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(python node go)
for kind in "${kinds[@]}"; do
    case "$kind" in
        python) setup_python ;;
        node) setup_node ;;
        go) setup_go ;;
        monitoring) setup_monitoring ;;
        *) die "unknown peer '$kind' (expected python, node, go or monitoring)" ;;
    esac
done
