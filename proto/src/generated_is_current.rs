//! Proves that the checked-in generated code matches the `.proto` files.
//!
//! Regenerates everything into a temporary folder with the same pure-Rust
//! pipeline and compares byte for byte. `UPDATE_GENERATED=1` writes the fresh
//! output over the checked-in copy instead.

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles the protos and writes the Rust code and descriptor set to `out`.
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
    std::fs::write(
        out.join("file_descriptor_set.bin"),
        prost::Message::encode_to_vec(&fds),
    )
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
