//! The doc examples, tested (issue #21 item 2): every exporter config block
//! (`modules:`) in the docs passes the real binary's `--config.check`; every
//! Prometheus config or rules block passes `promtool check config` / `check
//! rules`; every Kubernetes block parses as YAML; the README's `cargo run
//! -p grpc-exporter` and `curl` lines run against real servers. Each kind
//! must be found at least once, so a scanner that finds nothing cannot
//! pass; failures name file:line. Which blocks are whose is
//! `testkit::docs::checkers_of_block`, which the workspace's coverage test
//! (`doc_examples::every_fenced_block_is_tested_or_allow_listed`) uses.

use std::time::Duration;

use testkit::docs::{
    Block, blocks_of, checker, checkers_of_line, doc_files, is_exporter_config, is_kubernetes,
    is_prometheus_config, is_prometheus_rules,
};

use crate::support::{crate_dir, promtool};

const LIMIT: Duration = Duration::from_secs(60);

/// The YAML blocks of every doc of the workspace (`testkit::docs::doc_files`),
/// so a config put in any doc is checked where the coverage test counts it.
fn yaml_blocks() -> Vec<Block> {
    let root = crate_dir().join("..");
    doc_files(&root)
        .iter()
        .flat_map(|rel| blocks_of(&root, rel))
        .filter(|b| b.lang == "yaml" || b.lang == "yml")
        .collect()
}

fn write(dir: &tempfile::TempDir, name: &str, block: &Block) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, &block.body).expect("write");
    path.to_str().expect("utf-8").to_string()
}

#[tokio::test]
async fn exporter_config_blocks_pass_config_check() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_grpc-exporter"));
    let configs: Vec<Block> = yaml_blocks()
        .into_iter()
        .filter(is_exporter_config)
        .collect();
    assert!(!configs.is_empty(), "no exporter config block in the docs");
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
    let blocks = yaml_blocks();
    let configs: Vec<&Block> = blocks.iter().filter(|b| is_prometheus_config(b)).collect();
    let rules: Vec<&Block> = blocks.iter().filter(|b| is_prometheus_rules(b)).collect();
    assert!(
        !configs.is_empty(),
        "no Prometheus config block in the docs"
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
    let manifests: Vec<Block> = yaml_blocks().into_iter().filter(is_kubernetes).collect();
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

/// exporter/README.md's first block, run: the `cargo run -p grpc-exporter
/// -- ARGS` line is the built binary with those ARGS (plus a free
/// `--web.listen-address`; `blackbox.yml` is blackbox's plain `grpc`
/// module, in a temporary directory), and each `curl` line is curl with
/// the documented URL, pointed at it: `/probe` of a TCP target at a real
/// health server, of a `unix:` target at one on a unix socket, `/channelz`
/// at a tonic-channelz server. Each must answer 200 with `probe_success 1`
/// (`/probe`) or Channelz series (`/channelz`).
#[tokio::test]
async fn curl_example_lines_answer() {
    use testkit::servers::{TestServer, Transport};
    let root = crate_dir().join("..");
    let lines: Vec<_> = testkit::docs::all_sh_lines(&root)
        .into_iter()
        .filter(|l| checkers_of_line(l).contains(&checker::EXPORTER_LINES))
        .collect();
    let Some(curl) = crate::support::program("curl") else {
        return;
    };
    let run_lines: Vec<_> = lines
        .iter()
        .filter(|l| l.program_name() == Some("cargo"))
        .collect();
    assert_eq!(
        run_lines.len(),
        1,
        "one `cargo run -p grpc-exporter` line expected: {run_lines:?}"
    );
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("blackbox.yml"),
        "modules:\n  grpc:\n    prober: grpc\n    grpc: {}\n",
    )
    .expect("write");
    let port = crate::support::free_port();
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_grpc-exporter"));
    let args = testkit::docs::cargo_run_args(run_lines[0].args_from_program());
    let mut exporter = tokio::process::Command::new(&bin)
        .args(args)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the exporter starts");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if let Ok(Some(status)) = exporter.try_wait() {
            panic!(
                "{}: {}: the exporter exited: {status}",
                run_lines[0].at, run_lines[0].text
            );
        }
        assert!(
            started.elapsed() < LIMIT,
            "the exporter does not listen on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tcp = TestServer::start_with_spec_health().await.0;
    let unix = TestServer::builder()
        .transport(Transport::Unix)
        .start()
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let channelz = listener.local_addr().expect("addr").to_string();
    let service =
        tonic_channelz::ChannelzService::new(tonic_channelz::Registry::new()).into_server();
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mut curls = 0;
    for line in lines.iter().filter(|l| l.program_name() == Some("curl")) {
        let (at, text) = (&line.at, &line.text);
        let words = line.args_from_program();
        let [_, url] = words else {
            panic!("{at}: {text}: expected `curl URL`");
        };
        let rest = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("{at}: {text}: not an http:// URL"));
        let (host, path) = rest.split_once('/').expect("a path");
        assert!(
            host.ends_with(":9913"),
            "{at}: {text}: not the default port 9913"
        );
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("target", target)) => {
                    let to = if route == "channelz" {
                        channelz.clone()
                    } else if target.starts_with("unix:") {
                        unix.addr().replace("unix://", "unix:")
                    } else {
                        tcp.addr().to_string()
                    };
                    format!("target={to}")
                }
                _ => pair.to_string(),
            })
            .collect();
        let url = format!("http://{addr}/{route}?{}", query.join("&"));
        let out = tokio::process::Command::new(&curl)
            .args(["-sS", "--fail", "--max-time", "20", &url])
            .output()
            .await
            .expect("curl runs");
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{at}: {text} ({url}): {}{body}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = if route == "channelz" {
            "grpc_channelz_"
        } else {
            "probe_success 1"
        };
        assert!(
            body.contains(expected),
            "{at}: {text} ({url}): no {expected:?} in\n{body}"
        );
        curls += 1;
    }
    task.abort();
    // exporter/README.md: two /probe lines and one /channelz line.
    assert!(curls >= 3, "only {curls} curl lines found");
}
