//! The doc examples, tested (issue #21 item 2): every exporter config block
//! (`modules:`) in exporter/README.md and exporter/CONFIGURATION.md passes the
//! real binary's `--config.check`; every Prometheus config or rules block
//! passes `promtool check config` / `check rules`; every Kubernetes block in
//! the docs parses as YAML. Each kind must be found at least once, so a
//! scanner that finds nothing cannot pass; failures name file:line.

use std::time::Duration;

use testkit::docs::{Block, blocks_of, is_kubernetes};

use crate::support::{crate_dir, promtool};

const LIMIT: Duration = Duration::from_secs(60);

fn yaml_blocks(rels: &[&str]) -> Vec<Block> {
    let root = crate_dir().join("..");
    rels.iter()
        .flat_map(|rel| blocks_of(&root, rel))
        .filter(|b| b.lang == "yaml" || b.lang == "yml")
        .collect()
}

fn has_key(block: &Block, key: &str) -> bool {
    block.body.lines().any(|l| l.starts_with(key))
}

fn write(dir: &tempfile::TempDir, name: &str, block: &Block) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, &block.body).expect("write");
    path.to_str().expect("utf-8").to_string()
}

const EXPORTER_DOCS: [&str; 2] = ["exporter/README.md", "exporter/CONFIGURATION.md"];

#[tokio::test]
async fn exporter_config_blocks_pass_config_check() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_grpc-exporter"));
    let configs: Vec<Block> = yaml_blocks(&EXPORTER_DOCS)
        .into_iter()
        .filter(|b| has_key(b, "modules:"))
        .collect();
    assert!(
        !configs.is_empty(),
        "no exporter config block in {EXPORTER_DOCS:?}"
    );
    for block in configs {
        let dir = tempfile::tempdir().expect("dir");
        let arg = format!("--config.file={}", write(&dir, "blackbox.yml", &block));
        let out = testkit::bin::output(&bin, &[&arg, "--config.check"], LIMIT).await;
        assert!(
            out.status.success(),
            "{}: --config.check fails:\n{}",
            block.at(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn prometheus_blocks_pass_promtool() {
    let blocks = yaml_blocks(&EXPORTER_DOCS);
    let configs: Vec<&Block> = blocks
        .iter()
        .filter(|b| has_key(b, "scrape_configs:") || has_key(b, "global:"))
        .collect();
    let rules: Vec<&Block> = blocks.iter().filter(|b| has_key(b, "groups:")).collect();
    assert!(
        !configs.is_empty(),
        "no Prometheus config block in {EXPORTER_DOCS:?}"
    );
    for (what, list, file) in [
        ("config", &configs, "prometheus.yml"),
        ("rules", &rules, "rules.yml"),
    ] {
        for block in list {
            let dir = tempfile::tempdir().expect("dir");
            let path = write(&dir, file, block);
            let Some(out) = promtool(&["check", what, &path], None) else {
                return;
            };
            assert!(
                out.status.success(),
                "{}: promtool check {what} fails:\n{}{}",
                block.at(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn kubernetes_blocks_parse_as_yaml() {
    let docs = [
        "probe/README.md",
        "exporter/README.md",
        "channelz-tui/README.md",
    ];
    let manifests: Vec<Block> = yaml_blocks(&docs)
        .into_iter()
        .filter(is_kubernetes)
        .collect();
    // probe/README.md and exporter/README.md each carry one today.
    for doc in &docs[..2] {
        assert!(
            manifests.iter().any(|b| b.file == *doc),
            "no Kubernetes block found in {doc}"
        );
    }
    for block in manifests {
        // `---` separates documents of one manifest.
        for doc in serde_yaml_ng::Deserializer::from_str(&block.body) {
            if let Err(err) = serde_yaml_ng::Value::deserialize(doc) {
                panic!("{}: not YAML: {err}", block.at());
            }
        }
    }
}

use serde::Deserialize as _;

/// Every flag in exporter/README.md's flag table is in `grpc-exporter
/// --help`, so a renamed or removed flag fails with the row's file:line.
#[tokio::test]
async fn flag_table_matches_help() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_grpc-exporter"));
    let rel = "exporter/README.md";
    let text = std::fs::read_to_string(crate_dir().join("README.md")).expect("readme");
    let flags = testkit::docs::table_flags(rel, &text);
    assert!(
        flags.len() >= 10,
        "only {} flags found in {rel}'s tables",
        flags.len()
    );
    let out = testkit::bin::output(&bin, &["--help"], LIMIT).await;
    assert!(out.status.success(), "--help fails");
    let help = String::from_utf8_lossy(&out.stdout);
    let missing: Vec<String> = flags
        .iter()
        .filter(|(_, flag)| !testkit::docs::help_names(&help, flag))
        .map(|(at, flag)| format!("{at}: {flag}"))
        .collect();
    assert!(
        missing.is_empty(),
        "flags in the docs but not in --help:\n{}",
        missing.join("\n")
    );
}
