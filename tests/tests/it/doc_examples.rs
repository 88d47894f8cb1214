//! The probe command lines in the docs' Kubernetes blocks (issue #21 item
//! 2): every exec probe `command: ["/bin/grpc_health_probe", ...]` in
//! probe/README.md, exporter/README.md and channelz-tui/README.md parses with
//! grpc-probe's own flag parser (`cli::parse`, what `run_cli` runs first)
//! into a run, so a renamed or mistyped flag in a documented manifest fails
//! here with its file:line. Parse only: nothing dials the documented
//! addresses.

use std::path::Path;

use grpc_probe::cli::{Invocation, parse};
use testkit::docs::{Block, blocks_of, is_kubernetes};

/// Every `command:` sequence of strings under `value`, bounded by depth.
fn commands(value: &serde_yaml_ng::Value, depth: usize, out: &mut Vec<Vec<String>>) {
    use serde_yaml_ng::Value;
    if depth > 32 {
        return;
    }
    match value {
        Value::Mapping(map) => {
            for (key, item) in map {
                if let (Some("command"), Value::Sequence(seq)) = (key.as_str(), item) {
                    out.push(
                        seq.iter()
                            .map(|v| v.as_str().unwrap_or_default().to_string())
                            .collect(),
                    );
                } else {
                    commands(item, depth + 1, out);
                }
            }
        }
        Value::Sequence(seq) => seq.iter().for_each(|v| commands(v, depth + 1, out)),
        Value::Tagged(tagged) => commands(&tagged.value, depth + 1, out),
        _ => {}
    }
}

fn probe_commands(block: &Block) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // `---` lines separate the documents of one manifest.
    let text = format!("\n{}", block.body);
    for doc in text.split("\n---\n") {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(doc)
            .unwrap_or_else(|err| panic!("{}: not YAML: {err}", block.at()));
        commands(&value, 0, &mut out);
    }
    out.retain(|argv| {
        argv.first()
            .is_some_and(|p| p.ends_with("grpc_health_probe"))
    });
    out
}

/// The parser reads the TLS files it is given, and the documented paths are
/// the pod's: point them at real test material so the flags are what is
/// checked.
fn with_test_files(argv: &[String], pki: &testkit::tls::TestPki) -> Vec<String> {
    let files = [
        ("-tls-ca-cert", pki.ca_cert()),
        ("-tls-client-cert", pki.client_cert()),
        ("-tls-client-key", pki.client_key()),
    ];
    let file_of = |arg: &str| {
        let flag = arg
            .strip_prefix('-')
            .filter(|a| a.starts_with('-'))
            .unwrap_or(arg);
        let (name, value) = flag
            .split_once('=')
            .map_or((flag, None), |(n, v)| (n, Some(v)));
        files
            .iter()
            .find(|(prefix, _)| *prefix == name)
            .map(|(prefix, path)| (*prefix, path.display().to_string(), value.is_some()))
    };
    let mut out = Vec::new();
    let mut next_is_file = None;
    for arg in argv {
        if let Some(path) = next_is_file.take() {
            out.push(path);
            continue;
        }
        match file_of(arg) {
            Some((prefix, path, true)) => out.push(format!("{prefix}={path}")),
            Some((_, path, false)) => {
                // `-tls-ca-cert FILE`: the file is the next argument.
                out.push(arg.clone());
                next_is_file = Some(path);
            }
            None => out.push(arg.clone()),
        }
    }
    out
}

#[test]
fn kubernetes_probe_commands_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = [
        "probe/README.md",
        "exporter/README.md",
        "channelz-tui/README.md",
    ];
    let mut found = 0;
    let pki = testkit::tls::TestPki::generate();
    for rel in docs {
        for block in blocks_of(&root, rel).iter().filter(|b| is_kubernetes(b)) {
            for argv in probe_commands(block) {
                found += 1;
                let argv = with_test_files(&argv, &pki);
                match parse(argv.iter()) {
                    Ok(Invocation::Run(_)) => {}
                    Ok(_) => panic!("{}: {argv:?} is not a probe run", block.at()),
                    Err(err) => panic!("{}: {argv:?}: {}", block.at(), err.go_line()),
                }
            }
        }
    }
    // probe/README.md's pod spec has a liveness, readiness and startup probe.
    assert!(
        found >= 3,
        "only {found} grpc_health_probe commands found in {docs:?}"
    );
}

/// Every flag named in probe/README.md's flag tables is in `grpc-probe
/// -help`, so a renamed or removed flag fails with the table row's file:line.
#[test]
fn probe_flag_tables_match_help() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("probe/README.md")).unwrap();
    let flags = testkit::docs::table_flags("probe/README.md", &text);
    assert!(
        flags.len() >= 20,
        "only {} flags found in probe/README.md's tables",
        flags.len()
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    grpc_probe::run_cli(["grpc-probe", "-help"], &mut out, &mut err);
    let help = String::from_utf8_lossy(&out);
    let missing: Vec<String> = flags
        .iter()
        // The docs write Go's `-addr`; -help (clap) shows `--addr`; the
        // parser takes both. One-letter flags (`-v`, `-o`) are shown as is.
        .filter(|(_, flag)| {
            let long = match flag.strip_prefix('-') {
                Some(rest) if !rest.starts_with('-') && rest.len() > 1 => format!("-{flag}"),
                _ => flag.clone(),
            };
            !testkit::docs::help_names(&help, &long)
        })
        .map(|(at, flag)| format!("{at}: {flag}"))
        .collect();
    assert!(
        missing.is_empty(),
        "flags in the docs but not in -help:\n{}",
        missing.join("\n")
    );
}

/// The `channelz-tui …` and `grpc-probe …` / `grpc_health_probe …` lines
/// of the docs' ```sh blocks: each parses with its tool's own parser into a
/// run (no usage error), so a renamed flag in an example fails with its
/// file:line. Lines with quotes, pipes, redirections or variables are left
/// to a human (no shell here); a `# comment` tail is cut.
#[test]
fn sh_example_lines_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pki = testkit::tls::TestPki::generate();
    let mut checked = 0;
    for rel in ["channelz-tui/README.md", "probe/README.md"] {
        for block in blocks_of(&root, rel).iter().filter(|b| b.lang == "sh") {
            for (offset, line) in block.body.lines().enumerate() {
                let line = line.split(" #").next().unwrap_or("").trim();
                let line = line.strip_prefix("$ ").unwrap_or(line);
                if line.contains(['\'', '"', '|', '<', '>', '$', '\\', ';', '&', '(']) {
                    continue;
                }
                let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
                let at = format!("{}:{}", block.file, block.line + 1 + offset);
                // `target/release/grpc-probe …` is the same program.
                match argv.first().and_then(|p| p.rsplit('/').next()) {
                    Some("channelz-tui") => {
                        let os = with_test_files(&argv, &pki)
                            .into_iter()
                            .map(Into::into)
                            .collect();
                        if let Err(exit) = channelz_tui::app::parse(os) {
                            assert!(!exit.to_stderr, "{at}: {line}: {}", exit.text);
                        }
                    }
                    Some("grpc-probe" | "grpc_health_probe") => {
                        if let Err(err) = parse(with_test_files(&argv, &pki).iter()) {
                            panic!("{at}: {line}: {}", err.go_line());
                        }
                    }
                    _ => continue,
                }
                checked += 1;
            }
        }
    }
    // channelz-tui/README.md: 7 in its first block; probe/README.md: 4.
    assert!(checked >= 11, "only {checked} example lines found");
}

/// probe/README.md's exit-code table, row by row, against a real server:
/// for codes 0-4, a run that should end with that code does, and prints one
/// of the row's documented lines (`ADDR` is the address; a `<reason>` tail
/// is cut). A reworded message or a changed code fails with the row's line.
#[tokio::test]
async fn probe_exit_code_table_rows_hold() {
    use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("probe/README.md")).unwrap();
    let start = text
        .find("## Exit codes")
        .expect("probe/README.md: no exit-code table");
    let first_line = text[..start].lines().count() + 1;
    let (server, health) = testkit::servers::TestServer::start_with_spec_health().await;
    health.set("down", ServingStatus::NotServing);
    let refused = testkit::faults::refused_addr();
    let addr = server.addr().to_string();
    let mut rows = 0;
    for (offset, line) in text[start..].lines().enumerate().take(40) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(code) = cells.get(1).and_then(|c| c.parse::<u8>().ok()) else {
            continue;
        };
        let target = if code == 2 {
            refused.clone()
        } else {
            addr.clone()
        };
        let args: Vec<String> = match code {
            0 => vec![format!("-addr={target}")],
            1 => vec![],
            2 => vec![format!("-addr={target}")],
            3 => vec![format!("-addr={target}"), "-service=nope".into()],
            4 => vec![format!("-addr={target}"), "-service=down".into()],
            _ => continue,
        };
        rows += 1;
        let run = testkit::bin::in_process(move |out, err| {
            let argv = std::iter::once("grpc-probe".to_string()).chain(args);
            grpc_probe::run_cli(argv, out, err).code()
        })
        .await;
        let at = format!("probe/README.md:{}", first_line + offset);
        assert_eq!(run.code, code, "{at}: {run:?}");
        let last = cells
            .get(cells.len().saturating_sub(2))
            .copied()
            .unwrap_or("");
        let documented: Vec<String> = last
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|span| {
                span.split('<')
                    .next()
                    .unwrap_or("")
                    .replace("ADDR", &target)
            })
            .collect();
        assert!(
            documented
                .iter()
                .any(|l| !l.is_empty() && run.stderr.contains(l.as_str())),
            "{at}: exit {code} printed {:?}, none of {documented:?}",
            run.stderr
        );
    }
    assert_eq!(
        rows, 5,
        "probe/README.md's exit-code table: rows 0-4 expected"
    );
}
