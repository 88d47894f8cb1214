#!/usr/bin/env bash
# The release: writes dist/ from a clean checkout, then checks every asset
# (release/check.sh). One command:
#
#   bash release/build.sh            (as root on Debian 12, or with the
#                                     packages below installed)
#
# dist/ then holds, for VERSION from Cargo.toml:
#   grpc_health_probe-linux-amd64, grpc_health_probe-linux-arm64,
#   grpc_health_probe-windows-amd64.exe     the probe, named as
#                                           grpc_health_probe names its assets
#   grpc-probe-VERSION-TARGET.tar.gz, grpc-exporter-VERSION-TARGET.tar.gz,
#   channelz-tui-VERSION-TARGET.tar.gz      (Linux: x86_64 and aarch64 musl)
#   grpc-probe-VERSION-x86_64-pc-windows-gnu.zip,
#   channelz-tui-VERSION-x86_64-pc-windows-gnu.zip
#   *.cdx.json                              a CycloneDX SBOM per binary
#   grpc-probe-VERSION-oci.tar, grpc-exporter-VERSION-oci.tar
#                                           the OCI image layouts (amd64 +
#                                           arm64), also unpacked in oci/
#   checksums.txt                           sha256 of every file above
#
# Every binary is built with `cargo auditable`; the Linux ones are static
# musl executables. RELEASE_SKIP_CHECK=1 skips the checks.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
# shellcheck source=env.sh
. release/env.sh
started=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - started))"; }
fail() { printf 'release: FAILED: %s\n' "$*" >&2; exit 1; }

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || fail "no workspace version in Cargo.toml"
# Reproducible archives and images: every timestamp is the commit's.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

step "tools"
packages=(gcc libc6-dev musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross mingw-w64
          qemu-user-static wine64 skopeo umoci ca-certificates file binutils openssl python3 zip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        fail "missing Debian packages (install them as root): ${missing[*]}"
    fi
fi
linux_targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
windows_target=x86_64-pc-windows-gnu
rustup target add "${linux_targets[@]}" "$windows_target" >/dev/null
ensure_cargo_auditable
cargo-auditable --version

# One `cargo auditable build -p` per binary, as a user building one tool
# gets it: the probe never shares a feature set with the exporter.
build() { # TARGET PACKAGE
    step "cargo auditable build --release --locked -p $2 --target $1"
    local flags=
    case "$1" in *-musl*) flags=$MUSL_RUSTFLAGS ;; esac
    RUSTFLAGS="$flags" nice -n 5 cargo auditable build --release --locked -p "$2" --target "$1"
}
for t in "${linux_targets[@]}"; do
    for p in grpc-probe grpc-exporter channelz-tui; do build "$t" "$p"; done
done
for p in grpc-probe channelz-tui; do build "$windows_target" "$p"; done

step "dist/"
dist=$root/dist
rm -rf "$dist"
mkdir -p "$dist"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
arch_of() { case "$1" in x86_64-*) echo amd64 ;; aarch64-*) echo arm64 ;; esac; }
sbom() { # BINARY NAME ASSET
    python3 release/audit.py sbom "$1" "$2" "$version" >"$dist/$3.cdx.json"
}
for t in "${linux_targets[@]}"; do
    for p in grpc-probe grpc-exporter channelz-tui; do
        bin=$CARGO_TARGET_DIR/$t/release/$p
        asset=$p-$version-$t
        mkdir -p "$stage/$asset"
        cp "$bin" "$stage/$asset/$p"
        tar -C "$stage" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
            --numeric-owner -cf - "$asset" | gzip -9n >"$dist/$asset.tar.gz"
        sbom "$bin" "$p" "$asset"
    done
    cp "$CARGO_TARGET_DIR/$t/release/grpc-probe" "$dist/grpc_health_probe-linux-$(arch_of "$t")"
done
for p in grpc-probe channelz-tui; do
    bin=$CARGO_TARGET_DIR/$windows_target/release/$p.exe
    asset=$p-$version-$windows_target
    mkdir -p "$stage/$asset"
    cp "$bin" "$stage/$asset/$p.exe"
    touch -d "@$SOURCE_DATE_EPOCH" "$stage/$asset" "$stage/$asset/$p.exe"
    (cd "$stage" && zip -qX -r "$dist/$asset.zip" "$asset")
    sbom "$bin" "$p" "$asset"
done
cp "$CARGO_TARGET_DIR/$windows_target/release/grpc-probe.exe" "$dist/grpc_health_probe-windows-amd64.exe"

step "OCI image layouts (no container engine)"
for image in grpc-probe grpc-exporter; do
    python3 release/oci.py write "$image" "$dist/oci/$image" "$version" \
        "amd64=$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/$image" \
        "arm64=$CARGO_TARGET_DIR/aarch64-unknown-linux-musl/release/$image"
    tar -C "$dist/oci/$image" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
        --numeric-owner -cf "$dist/$image-$version-oci.tar" .
done

step "checksums.txt"
(cd "$dist" && find . -maxdepth 1 -type f ! -name checksums.txt -printf '%f\n' | LC_ALL=C sort \
    | xargs sha256sum >checksums.txt)

step "assets"
(cd "$dist" && find . -maxdepth 1 -type f -printf '%10s  %f\n' | LC_ALL=C sort -k2)
build_seconds=$((SECONDS - started))
echo "built in ${build_seconds}s"

if [ "${RELEASE_SKIP_CHECK:-}" != 1 ]; then
    bash release/check.sh "$dist"
fi
printf '\nrelease: OK, dist/ for %s in %ds (build %ds)\n' "$version" "$((SECONDS - started))" "$build_seconds"
