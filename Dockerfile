# grpc-probe: a static, non-root, FROM scratch image of the drop-in
# grpc_health_probe replacement.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t grpc-probe .
#
# Each platform builds natively (under emulation for the foreign one), so
# the musl C toolchain that `ring` needs is the platform's own `musl-gcc`:
# no cross linker to install. Without Docker, `bash release/build.sh` writes
# the same images as OCI layouts (release/oci.py declares their roots and
# configs; tests/tests/it/release.rs proves they equal this file's), and
# probe/ci/static-check.sh runs this build's steps and checks the result in
# an empty root.

FROM rust:1.95-slim-bookworm AS build
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The crate list in every binary (`cargo auditable`), for trivy, grype, syft
# and `cargo audit bin`; the version release/env.sh pins.
RUN cargo install --locked cargo-auditable --version 0.7.7
RUN case "${TARGETARCH:-amd64}" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH=${TARGETARCH}" >&2; exit 1 ;; \
    esac > /rust-target \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY . .
# A non-PIE static executable: no relocation table (about 90 KB smaller) and
# no start-up relocation pass (about 0.1 ms per check); no RELRO segment,
# which a static musl binary never applies (its padding paid for the audit
# data); one segment for headers, code and read-only data (its padding paid
# for the HTTP-status mapping). The reasons in full: release/env.sh
# (MUSL_RUSTFLAGS).
ENV RUSTFLAGS="-C relocation-model=static -C link-arg=-Wl,-z,norelro -C link-arg=-Wl,-z,noseparate-code"
RUN cargo auditable build --release --locked -p grpc-probe --target "$(cat /rust-target)" \
 && install -D "target/$(cat /rust-target)/release/grpc-probe" /out/grpc-probe
# The final root: the binary at the three paths users of the reference image
# copy from, and CA roots for -tls (the binary also carries Mozilla's roots
# as a fallback for an empty store).
RUN mkdir -p /out/bin /out/ko-app /out/etc/ssl/certs \
 && ln -s /grpc-probe /out/bin/grpc_health_probe \
 && ln -s /grpc-probe /out/ko-app/grpc-health-probe \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt \
 && if readelf -l /out/grpc-probe | grep -q 'program interpreter'; then \
      echo "grpc-probe is not static" >&2; exit 1; \
    fi

# grpc-exporter: `docker build --target exporter -t grpc-exporter .` builds
# the exporter's static FROM scratch image from this earlier stage; a plain
# `docker build` still ends at the probe image below.
FROM build AS exporter-build
RUN cargo auditable build --release --locked -p grpc-exporter --target "$(cat /rust-target)" \
 && install -D "target/$(cat /rust-target)/release/grpc-exporter" /exporter/grpc-exporter \
 && mkdir -p /exporter/etc/ssl/certs /exporter/etc/grpc-exporter \
 && cp /etc/ssl/certs/ca-certificates.crt /exporter/etc/ssl/certs/ca-certificates.crt \
 && printf 'modules:\n  grpc:\n    prober: grpc\n    grpc: {}\n' > /exporter/etc/grpc-exporter/config.yml \
 && if readelf -l /exporter/grpc-exporter | grep -q 'program interpreter'; then \
      echo "grpc-exporter is not static" >&2; exit 1; \
    fi

FROM scratch AS exporter
COPY --from=exporter-build /exporter/ /
USER 65534:65534
EXPOSE 9913
ENTRYPOINT ["/grpc-exporter", "--config.file=/etc/grpc-exporter/config.yml"]

FROM scratch
COPY --from=build /out/ /
# nobody:nogroup by number: there is no /etc/passwd in a scratch image.
USER 65534:65534
ENTRYPOINT ["/grpc-probe"]
