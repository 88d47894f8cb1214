#!/usr/bin/env bash
# Unpacks each OCI image layout for each architecture as a runtime would
# (skopeo copy picks the platform from the index, umoci unpack writes the
# root and the runtime config) and runs, from the unpacked root and as the
# image's user, its entrypoint with its own arguments and every drop-in
# path with `-version` / `--version` (arm64 under qemu-aarch64-static,
# copied into the root: no binfmt needed).
#
# Usage: bash release/check-images.sh OCI_DIR VERSION IMAGE...
#   (release/check.sh runs it on dist/oci; .ci/run on the probe's layout)
# Needs root (chroot), skopeo, umoci, qemu-user-static, python3.
set -euo pipefail

oci=$1 version=$2
shift 2
fail() { printf 'image check: FAILED: %s\n' "$*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for image in "$@"; do
    for arch in amd64 arm64; do
        one=$work/oci-$image-$arch
        skopeo copy --quiet --override-os linux --override-arch "$arch" \
            "oci:$oci/$image:$version" "oci:$one:$arch" >/dev/null
        bundle=$work/bundle-$image-$arch
        umoci unpack --image "$one:$arch" "$bundle" >/dev/null
        rootfs=$bundle/rootfs
        mapfile -t args < <(python3 -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))["process"]["args"]]' "$bundle/config.json")
        user=$(python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["process"]["user"]; print(str(u["uid"]) + ":" + str(u["gid"]))' "$bundle/config.json")
        [ "$user" = 65534:65534 ] || fail "$image/$arch runs as $user, not 65534:65534"
        [ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ] || fail "$image/$arch has no CA bundle"
        file -b "$rootfs${args[0]}" | grep -q "statically linked" || fail "$image/$arch: ${args[0]} is not static"
        runner=()
        if [ "$arch" = arm64 ]; then
            cp /usr/bin/qemu-aarch64-static "$rootfs/qemu"
            runner=(/qemu)
        fi
        flag=--version
        paths=()
        if [ "$image" = grpc-probe ]; then
            flag=-version
            paths=(/bin/grpc_health_probe /ko-app/grpc-health-probe)
        fi
        got=$(chroot --userspec="$user" "$rootfs" "${runner[@]}" "${args[@]}" "$flag") \
            || fail "$image/$arch entrypoint ${args[*]} $flag failed"
        echo "$image/$arch entrypoint ${args[*]} $flag: $got"
        for path in "${paths[@]}"; do
            got=$(chroot --userspec="$user" "$rootfs" "${runner[@]}" "$path" "$flag") \
                || fail "$image/$arch $path $flag failed"
            echo "$image/$arch $path $flag: $got"
        done
    done
done
echo "image check: OK ($*)"
