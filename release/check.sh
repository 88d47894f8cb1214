#!/usr/bin/env bash
# Checks a dist/ written by release/build.sh, as a user would use it:
# checksums, audit data, each Linux binary static and working in an empty
# root (foreign ones under qemu-user, copied into that root: no binfmt
# needed), the Windows binaries under Wine against a real server, and each
# image unpacked per architecture (skopeo + umoci) with its entrypoint and
# drop-in paths run from the unpacked root.
#
# Usage: bash release/check.sh [DIST]      (default: dist/)
# Needs root (chroot of unpacked images), qemu-user-static, wine64, skopeo,
# umoci, mingw-w64 (for the test-only Wine shim), openssl, python3 with
# grpcio (the test peers' venv under target/peers/venv is used).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
dist=$(cd "${1:-dist}" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
started=$SECONDS
step() { printf '\n== check: %s (%ds)\n' "$*" "$((SECONDS - started))"; }
fail() { printf 'release check: FAILED: %s\n' "$*" >&2; exit 1; }
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
qemu_for() { case "$1" in aarch64-*|arm64) echo /usr/bin/qemu-aarch64-static ;; *) echo ;; esac; }

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

step "sha256sum -c checksums.txt"
(cd "$dist" && sha256sum --quiet --strict -c checksums.txt) || fail "checksums do not verify"
listed=$(wc -l <"$dist/checksums.txt")
present=$(find "$dist" -maxdepth 1 -type f ! -name checksums.txt | wc -l)
[ "$listed" = "$present" ] || fail "checksums.txt lists $listed files, dist/ has $present"
echo "$listed assets verify"

step "unpack the archives"
mkdir -p "$work/assets"
for a in "$dist"/*.tar.gz; do tar -C "$work/assets" -xzf "$a"; done
for a in "$dist"/*.zip; do (cd "$work/assets" && python3 -m zipfile -e "$a" .); done
mapfile -t binaries < <(find "$work/assets" -type f | sort)
[ "${#binaries[@]}" = 8 ] || fail "expected 8 binaries in the archives, found ${#binaries[@]}"

step "audit data and SBOMs"
for bin in "${binaries[@]}" "$dist"/grpc_health_probe-*; do
    name=$(basename "$bin" .exe)
    case "$name" in grpc_health_probe-*) name=grpc-probe ;; esac
    crates=$(python3 release/audit.py packages "$bin") || fail "$bin: no audit data"
    grep -q "^$name $version " <<<"$crates" || fail "$bin: the audit data does not list $name $version"
    printf '%-60s %3d crates\n' "${bin#"$work/assets/"}" "$(wc -l <<<"$crates")"
done
for s in "$dist"/*.cdx.json; do
    python3 - "$s" <<'PY' || fail "$s is not a CycloneDX SBOM with components"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.5"
assert any(c["name"] == "rustls" for c in doc["components"])
PY
done

step "Linux binaries static, in an empty root"
for dir in "$work/assets"/*-linux-musl; do
    t=${dir##*/}; t=${t#*-"$version"-}
    qemu=$(qemu_for "$t")
    for bin in "$dir"/*; do
        out=$(file -b "$bin")
        case "$out" in *"statically linked"*) ;; *) fail "$bin: not static: $out" ;; esac
        ! readelf -l "$bin" | grep -q 'program interpreter' || fail "$bin: has an interpreter"
        mkdir -p "$work/root-$t"
        cp "$bin" "$work/root-$t/$(basename "$bin")"
        runner=()
        if [ -n "$qemu" ]; then cp "$qemu" "$work/root-$t/qemu"; runner=(/qemu); fi
        flag=--version
        [ "$(basename "$bin")" != grpc-probe ] || flag=-version
        got=$(chroot "$work/root-$t" "${runner[@]}" "/$(basename "$bin")" "$flag") \
            || fail "$bin $flag failed"
        printf '%-50s %8d bytes  %s\n' "${bin#"$work/assets/"}" "$(stat -c %s "$bin")" "$got"
    done
done

# The probe's full assertions (static, no interpreter, size, -version, exit
# codes 0 / 4 / 2 against a real server, verified TLS) on each Linux target.
for arch in amd64 arm64; do
    step "probe/ci/static-check.sh grpc_health_probe-linux-$arch"
    bash probe/ci/static-check.sh "$dist/grpc_health_probe-linux-$arch" "$(qemu_for "$arch")"
done

python=python3
[ -x "$root/target/peers/venv/bin/python" ] && python=$root/target/peers/venv/bin/python
serve() { # OUT [--tls CERT KEY]
    "$python" "$root/probe/bench/health_server.py" "${@:2}" >"$work/$1" 2>>"$work/server.err" &
    pids+=($!)
    for _ in $(seq 1 100); do [ -s "$work/$1" ] && break; sleep 0.1; done
    head -n1 "$work/$1" | grep -q . || fail "the health server did not start: $(cat "$work/server.err")"
}
expect() { # CODE DESCRIPTION COMMAND...
    local want=$1 what=$2 code=0
    shift 2
    "$@" || code=$?
    [ "$code" = "$want" ] || fail "$what exited $code, expected $want"
}

step "Windows binaries under Wine"
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
[ -x "$wine" ] || fail "wine64 is not installed"
win=$work/win
mkdir -p "$win"
cp "$dist/grpc_health_probe-windows-amd64.exe" "$win/grpc-probe.exe"
cp "$work/assets/channelz-tui-$version-x86_64-pc-windows-gnu/channelz-tui.exe" "$win/"
# Test-only: Debian 12's Wine 8 lacks bcryptprimitives.dll, where Rust's
# std takes its random bytes (see release/wine/bcryptprimitives.c).
x86_64-w64-mingw32-gcc -O2 -shared -o "$win/bcryptprimitives.dll" \
    release/wine/bcryptprimitives.c release/wine/bcryptprimitives.def -ladvapi32
export WINEPREFIX=$CARGO_TARGET_DIR/release-tools/wineprefix WINEDEBUG=-all
run_wine() { (cd "$win" && timeout 60 "$wine" "$@"); }
expect 0 "grpc-probe.exe -version" run_wine grpc-probe.exe -version
expect 0 "channelz-tui.exe --version" run_wine channelz-tui.exe --version
serve win_port
port=$(head -n1 "$work/win_port")
expect 0 "grpc-probe.exe SERVING" run_wine grpc-probe.exe -addr "127.0.0.1:$port"
expect 4 "grpc-probe.exe NOT_SERVING" run_wine grpc-probe.exe -addr "127.0.0.1:$port" -service down
expect 2 "grpc-probe.exe -tls against plaintext" run_wine grpc-probe.exe -addr "127.0.0.1:$port" -tls -connect-timeout 2s
out=$(run_wine grpc-probe.exe -addr unix:///tmp/health.sock 2>&1) && fail "unix: target exited 0 on Windows"
[ "$(wc -l <<<"$out")" = 1 ] || fail "unix: target on Windows printed more than one line: $out"
grep -q 'not supported on Windows' <<<"$out" || fail "unix: target on Windows: $out"
expect 1 "grpc-probe.exe unix: target" run_wine grpc-probe.exe -addr unix:///tmp/health.sock
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cp "$work/cert.pem" "$win/ca.pem"
serve win_tls_port --tls "$work/cert.pem" "$work/key.pem"
tls_port=$(head -n1 "$work/win_tls_port")
expect 0 "grpc-probe.exe verified TLS" run_wine grpc-probe.exe -addr "127.0.0.1:$tls_port" \
    -tls -tls-ca-cert ca.pem -tls-server-name localhost

step "images: skopeo copy + umoci unpack per architecture"
bash release/check-images.sh "$dist/oci" "$version" grpc-probe grpc-exporter

# The layouts' configs equal what the Dockerfile declares.
step "cargo test -p grpc-toolkit-tests --test it release::"
GRPC_TOOLKIT_OCI_DIR=$dist/oci cargo test -q -p grpc-toolkit-tests --test it release:: 2>&1 | tail -3

printf '\nrelease check: OK (%ds)\n' "$((SECONDS - started))"
