//! Proves that the checked-in generated code matches the `.proto` files.
//!
//! Regenerates everything into a temporary folder with the same pure-Rust
//! pipeline and compares byte for byte. `UPDATE_GENERATED=1` writes the fresh
//! output over the checked-in copy instead.

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The trimmed envoy protos of CSDS and the payloads the toolkit decodes.
/// They get a descriptor set of their own, so the health and Channelz set
/// (and everything that embeds it) stays as it was.
const XDS_FILES: [&str; 13] = [
    "envoy/service/status/v3/csds.proto",
    "envoy/admin/v3/config_dump_shared.proto",
    "envoy/config/core/v3/base.proto",
    "envoy/config/core/v3/address.proto",
    "envoy/config/core/v3/health_check.proto",
    "envoy/config/listener/v3/listener.proto",
    "envoy/config/listener/v3/api_listener.proto",
    "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
    "envoy/config/route/v3/route.proto",
    "envoy/config/route/v3/route_components.proto",
    "envoy/type/matcher/v3/regex.proto",
    "envoy/config/cluster/v3/cluster.proto",
    "envoy/config/endpoint/v3/endpoint.proto",
];

/// Compiles the protos and writes the Rust code and descriptor sets to `out`.
fn generate(out: &Path) {
    let root = crate_dir().join("proto");
    let fds = protox::compile(
        [
            "grpc/health/v1/health.proto",
            "grpc/channelz/v1/channelz.proto",
        ],
        [&root],
    )
    .expect("protos compile");
    write_and_build(out, "file_descriptor_set.bin", fds);
    let xds = protox::compile(XDS_FILES, [&root]).expect("xds protos compile");
    write_and_build(out, "xds_file_descriptor_set.bin", xds);
}

fn write_and_build(out: &Path, set_name: &str, fds: prost_types::FileDescriptorSet) {
    std::fs::write(out.join(set_name), prost::Message::encode_to_vec(&fds))
        .expect("write descriptor set");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .out_dir(out)
        .compile_fds(fds)
        .expect("code generation");
}

#[test]
fn generated_code_is_current() {
    let checked_in = crate_dir().join("src/generated");
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::create_dir_all(&checked_in).expect("create src/generated");
        generate(&checked_in);
        return;
    }
    let fresh = tempfile::tempdir().expect("tempdir");
    generate(fresh.path());
    let mut names: Vec<_> = std::fs::read_dir(fresh.path())
        .expect("read fresh dir")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "generation produced no files");
    for name in names {
        let want = std::fs::read(fresh.path().join(&name)).expect("read fresh file");
        let have = std::fs::read(checked_in.join(&name)).unwrap_or_default();
        assert!(
            want == have,
            "src/generated/{} is stale: run `UPDATE_GENERATED=1 cargo test -p grpc-toolkit-proto --features codegen`",
            name.to_string_lossy()
        );
    }
}
