# Sourced by release/build.sh, probe/ci/static-check.sh and .ci/run: the
# tools and settings every release build shares, in one place.
#
# - cargo-auditable (pinned) installed once under target/release-tools, so
#   every binary carries its crate list for trivy, grype, syft and
#   `cargo audit bin`;
# - the C cross compiler and linker for ring on aarch64 musl: Debian's
#   aarch64-linux-gnu gcc, with the glibc cross headers for the few C
#   headers ring includes (stdint.h, string.h) and Rust's self-contained
#   musl crt and libc for the link;
# - the RUSTFLAGS of a static musl release binary.

release_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
release_tools=${CARGO_TARGET_DIR:-$release_root/target}/release-tools
CARGO_AUDITABLE_VERSION=0.7.7

ensure_cargo_auditable() {
    # `cargo-auditable --version` only passes through to cargo's own
    # version, so what is installed is read from cargo install's record.
    if ! [ -x "$release_tools/bin/cargo-auditable" ] ||
        ! grep -q "^\"cargo-auditable $CARGO_AUDITABLE_VERSION " "$release_tools/.crates.toml" 2>/dev/null; then
        cargo install --locked --quiet --root "$release_tools" cargo-auditable --version "$CARGO_AUDITABLE_VERSION"
    fi
    case ":$PATH:" in
        *":$release_tools/bin:"*) ;;
        *) export PATH="$release_tools/bin:$PATH" ;;
    esac
}

export CC_aarch64_unknown_linux_musl=${CC_aarch64_unknown_linux_musl:-aarch64-linux-gnu-gcc}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-aarch64-linux-gnu-gcc}
export CC_x86_64_pc_windows_gnu=${CC_x86_64_pc_windows_gnu:-x86_64-w64-mingw32-gcc}
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=${CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER:-x86_64-w64-mingw32-gcc}

# Static musl binaries:
# - relocation-model=static: a non-PIE executable carries no relocation
#   table (about 90 KB smaller) and skips the start-up relocation pass
#   (about 0.1 ms per check);
# - -z norelro: musl applies PT_GNU_RELRO only in its dynamic loader; a
#   static binary never mprotects that range (strace of `grpc-probe
#   -version` shows no such call), so the segment protected nothing, and
#   page-aligning its end cost 2,592 bytes of padding in the probe,
#   which pays for the audit data;
# - -z noseparate-code: one read-and-execute segment for the ELF headers,
#   code and read-only data instead of three page-aligned ones (Debian's ld
#   defaults to separate code; lld and gold do not). The padding between
#   them was 4,024 bytes, which pays for gRPC's HTTP-status mapping
#   (conn/src/grpc_channel.rs). The price: the headers and read-only data
#   are mapped executable, a few more bytes an exploit could jump into in
#   a process that lives a few milliseconds and parses one server's answer.
MUSL_RUSTFLAGS="-C relocation-model=static -C link-arg=-Wl,-z,norelro -C link-arg=-Wl,-z,noseparate-code"
