//! The docs' examples, run or checked (issue #21 item 2). The coverage
//! test (`every_fenced_block_is_tested_or_allow_listed`) walks every fenced
//! block of every `*.md` of the repository and fails on one that no test
//! checks and that is not on [`ALLOWED`] with a reason; which test owns a
//! block or a shell line is `testkit::docs::checkers_of_block` /
//! `checkers_of_line`, and every checker here (and in grpc-exporter's
//! `docs`, channelz-tui's `process`, tonic-channelz's `examples` and
//! doctests) takes its examples from those same functions. The checkers
//! here: the tools' command lines (parsed, `-version` run), the `cargo`
//! lines (packages, targets, features, filters), the release and script
//! lines, the peers' by-hand lines (started), the probe's exit-code table
//! and `--json` example (run against real servers), the fleet JSON and the
//! recording grammar (against real runs), the Kubernetes exec probes and
//! the flags the docs name (against the parsers and `--help`). Nothing
//! here dials a documented address: they are rewritten to test servers.

use std::path::Path;

use grpc_probe::cli::{Invocation, parse};
use testkit::docs::{
    Block, ShLine, all_sh_lines, blocks_checked_by, blocks_of, checker, checkers_of_block,
    checkers_of_line, doc_files, is_kubernetes,
};

/// The workspace root.
fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every shell line of every doc that `name` checks.
fn lines_of(root: &Path, name: &str) -> Vec<ShLine> {
    all_sh_lines(root)
        .into_iter()
        .filter(|l| checkers_of_line(l).contains(&name))
        .collect()
}

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
    let root = root();
    let docs = doc_files(&root);
    let mut found = 0;
    let pki = testkit::tls::TestPki::generate();
    for rel in &docs {
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

/// Every flag channelz-tui/README.md names in its text (`` `--fleet` ``,
/// `` `-interval 2s` ``; it has no flag table) is a flag of `channelz-tui
/// --help`, the tool's real help text, so a renamed or removed flag fails
/// with the line that names it. Go-style `-addr` is `--addr` in the help,
/// as the parser takes both.
#[test]
fn tui_doc_flags_are_in_help() {
    /// The README's placeholders for "any flag", not flags.
    const PLACEHOLDERS: [&str; 2] = ["-flag", "--flag"];
    let rel = "channelz-tui/README.md";
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    let flags = testkit::docs::inline_flags(rel, &text);
    assert!(
        flags.len() >= 20,
        "only {} flags found in {rel}",
        flags.len()
    );
    let help = match channelz_tui::app::parse(vec!["channelz-tui".into(), "--help".into()]) {
        Err(exit) if !exit.to_stderr => exit.text,
        other => panic!("channelz-tui --help: {:?}", other.map(|_| "a run")),
    };
    assert!(help.contains("--demo"), "not the help text: {help}");
    let missing: Vec<String> = flags
        .iter()
        .filter(|(_, flag)| !PLACEHOLDERS.contains(&flag.as_str()))
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
        "flags in {rel} but not in channelz-tui --help:\n{}",
        missing.join("\n")
    );
}

/// The `channelz-tui …`, `grpc-probe …` and `grpc_health_probe …` lines of
/// every doc's shell blocks: each parses with its tool's own parser into a
/// run (no usage error), so a renamed flag in an example fails with its
/// file:line; a `-version` line is run and must print the version, and a
/// probe line without TLS is run against a test server (its `-addr`
/// rewritten) and must get an answer from it (exit 0, 3 or 4), as must a
/// one-snapshot `channelz-tui localhost:PORT --json` (the demo server). Quoted
/// words are unquoted as a shell would; a line that needs a shell fails
/// the coverage test instead.
#[tokio::test]
async fn sh_example_lines_parse() {
    let root = root();
    use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
    use testkit::servers::{HealthKind, TestServer, Transport};
    let pki = testkit::tls::TestPki::generate();
    let (tcp, health) = TestServer::start_with_spec_health().await;
    health.set("db", ServingStatus::Serving);
    let unix = TestServer::builder()
        .transport(Transport::Unix)
        .health(HealthKind::Spec(health.clone()))
        .start()
        .await;
    let (mut checked, mut runs) = (0, 0);
    for line in lines_of(&root, checker::TOOL_LINES) {
        let argv = with_test_files(line.args_from_program(), &pki);
        let (at, text) = (&line.at, &line.text);
        match line.program_name() {
            Some("channelz-tui") => {
                let os = argv.iter().map(Into::into).collect();
                if let Err(exit) = channelz_tui::app::parse(os) {
                    assert!(!exit.to_stderr, "{at}: {text}: {}", exit.text);
                }
                // One `--json` snapshot of `localhost:PORT` runs, against
                // the demo server; the dashboard, --watch, TLS and the
                // fleet's names stay parsed only.
                let one_shot = argv.iter().any(|a| a == "--json")
                    && !argv.iter().any(|a| {
                        ["--watch", "--replay", "--fleet", "--tls", "--record"]
                            .contains(&a.as_str())
                    });
                if one_shot {
                    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
                        .await
                        .expect("demo starts");
                    let addr = demo.local_addr().to_string();
                    let argv: Vec<String> = argv
                        .iter()
                        .map(|a| {
                            if a.starts_with("localhost:") {
                                addr.clone()
                            } else {
                                a.clone()
                            }
                        })
                        .collect();
                    assert!(
                        argv.contains(&addr),
                        "{at}: {text}: no localhost:PORT to point at the demo"
                    );
                    let (status, out) = tokio::task::spawn_blocking(move || {
                        let mut out = Vec::new();
                        let status = channelz_tui::run_cli(argv, &mut out, &mut std::io::sink());
                        (status, out)
                    })
                    .await
                    .unwrap();
                    demo.shutdown().await;
                    assert_eq!(status, channelz_tui::ExitStatus::Ok, "{at}: {text}");
                    let json: serde_json::Value = serde_json::from_slice(&out)
                        .unwrap_or_else(|e| panic!("{at}: {text}: not one JSON document: {e}"));
                    assert!(json["channels"].is_array(), "{at}: {text}: {json}");
                    runs += 1;
                }
            }
            _ => match parse(argv.iter()) {
                Ok(Invocation::Help(_)) => {}
                Ok(Invocation::Run(_)) => {
                    // Run where a plain server can answer: the documented
                    // address rewritten to a test server (TCP, or unix for
                    // a `unix:` one); TLS lines stay parsed only.
                    if argv
                        .iter()
                        .any(|a| a.trim_start_matches('-').starts_with("tls"))
                    {
                        checked += 1;
                        continue;
                    }
                    let Some(argv) = with_addr(&argv, |documented| {
                        if documented.starts_with("unix:") {
                            unix.addr().to_string()
                        } else {
                            tcp.addr().to_string()
                        }
                    }) else {
                        panic!("{at}: {text}: no -addr");
                    };
                    let shown = argv.clone();
                    let run = testkit::bin::in_process(move |out, err| {
                        grpc_probe::run_cli(argv, out, err).code()
                    })
                    .await;
                    // 0/3/4: the server answered (db SERVING, others unknown).
                    assert!(
                        [0, 3, 4].contains(&run.code),
                        "{at}: {text} (run as {shown:?}): {run:?}"
                    );
                    runs += 1;
                }
                Ok(Invocation::Version) => {
                    let run = testkit::bin::in_process(move |out, err| {
                        grpc_probe::run_cli(argv, out, err).code()
                    })
                    .await;
                    assert_eq!(run.code, 0, "{at}: {text}: {run:?}");
                    assert!(
                        run.stdout.contains(env!("CARGO_PKG_VERSION")),
                        "{at}: {text} does not print the version: {run:?}"
                    );
                }
                Ok(Invocation::Spiffe) => panic!("{at}: {text}: exits 20 (-spiffe)"),
                Err(err) => panic!("{at}: {text}: {}", err.go_line()),
            },
        }
        for filter in &line.piped {
            jq_accepts(at, text, filter);
        }
        checked += 1;
    }
    // channelz-tui/README.md: 16; probe/README.md: 4; README.md: 1.
    assert!(checked >= 21, "only {checked} example lines found");
    // probe/README.md: three plain-text lines (the fourth is TLS);
    // channelz-tui/README.md: `localhost:50051 --json`.
    assert!(runs >= 4, "only {runs} lines ran");
}

/// `argv` with its `-addr` value (`-addr=X`, `--addr=X`, `-addr X`)
/// replaced by `to(X)`; `None` without one.
fn with_addr(argv: &[String], to: impl Fn(&str) -> String) -> Option<Vec<String>> {
    let mut out = argv.to_vec();
    for at in 0..out.len() {
        let arg = out[at].clone();
        for flag in ["-addr", "--addr"] {
            if let Some(value) = arg.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                out[at] = format!("{flag}={}", to(value));
                return Some(out);
            }
            if arg == flag && at + 1 < out.len() {
                out[at + 1] = to(&out[at + 1]);
                return Some(out);
            }
        }
    }
    None
}

/// A documented `| jq …` compiles its program (run on `{}`); skipped with a
/// notice where jq is missing.
fn jq_accepts(at: &str, text: &str, filter: &[String]) {
    use std::io::Write as _;
    let child = std::process::Command::new(&filter[0])
        .args(&filter[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        testkit::peers::record_skip(&format!("{at}: {} is not installed", filter[0]));
        return;
    };
    // jq exits before reading when its program does not compile.
    let _ = child.stdin.take().unwrap().write_all(b"{}");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{at}: {text}: {filter:?} fails: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// probe/README.md's exit-code table, row by row, against real servers:
/// every row's code comes from the runs this test makes for it, and every
/// line the row documents (a backticked span; `ADDR` is the run's address,
/// a `<reason>` tail is cut) is printed by one of them: the refused and
/// the timed-out connect (a server that accepts and never speaks) of row 2,
/// NOT_FOUND, no health service and a hanging handler of row 3, the
/// usage errors of row 1, `-spiffe` of row 20. A reworded message, a
/// changed code, or a row with no runs here fails with the row's line.
#[tokio::test]
async fn probe_exit_code_table_rows_hold() {
    use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
    use testkit::servers::{HealthKind, TestServer};
    let text = std::fs::read_to_string(root().join("probe/README.md")).unwrap();
    let start = text
        .find("## Exit codes")
        .expect("probe/README.md: no exit-code table");
    let first_line = text[..start].lines().count() + 1;
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("down", ServingStatus::NotServing);
    let (hanging, hang) = TestServer::start_with_spec_health().await;
    hang.set_hang(true);
    let no_health = TestServer::start_with_health(HealthKind::None).await;
    let silent = testkit::faults::Fault::AcceptSilent.start().await;
    let pki = testkit::tls::TestPki::generate();
    let addr = server.addr().to_string();
    let ca = pki.ca_cert().display().to_string();
    let mut rows = Vec::new();
    for (offset, line) in text[start..].lines().enumerate().take(40) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(code) = cells.get(1).and_then(|c| c.parse::<u8>().ok()) else {
            continue;
        };
        let at = format!("probe/README.md:{}", first_line + offset);
        let a = |target: &str, rest: &[&str]| {
            let mut args = vec![format!("-addr={target}")];
            args.extend(rest.iter().map(|s| s.to_string()));
            (target.to_string(), args)
        };
        let runs: Vec<(String, Vec<String>)> = match code {
            0 => vec![a(&addr, &[])],
            1 => vec![
                (String::new(), vec![]),
                a(&addr, &[&format!("-tls-ca-cert={ca}")]),
                a(&addr, &["-x"]),
            ],
            2 => vec![
                a(silent.addr(), &["-connect-timeout=1s"]),
                a(&testkit::faults::refused_addr(), &[]),
            ],
            3 => vec![
                a(&addr, &["-service=nope"]),
                a(no_health.addr(), &[]),
                a(hanging.addr(), &["-rpc-timeout=1s"]),
            ],
            4 => vec![a(&addr, &["-service=down"])],
            20 => vec![a(&addr, &["-spiffe"])],
            _ => panic!("{at}: exit code {code} has no runs in this test"),
        };
        rows.push(code);
        let mut printed = Vec::new();
        for (target, args) in runs {
            let shown = args.clone();
            let run = testkit::bin::in_process(move |out, err| {
                let argv = std::iter::once("grpc-probe".to_string()).chain(args);
                grpc_probe::run_cli(argv, out, err).code()
            })
            .await;
            assert_eq!(run.code, code, "{at}: {shown:?}: {run:?}");
            printed.push((target, run.stderr));
        }
        let last = cells
            .get(cells.len().saturating_sub(2))
            .copied()
            .unwrap_or("");
        for span in last.split('`').skip(1).step_by(2) {
            let documented = span.split('<').next().unwrap_or("");
            assert!(!documented.is_empty(), "{at}: an empty line in {span:?}");
            assert!(
                printed
                    .iter()
                    .any(|(target, err)| err.contains(&documented.replace("ADDR", target))),
                "{at}: exit {code}: no run printed {documented:?}; they printed {printed:?}"
            );
        }
    }
    assert_eq!(
        rows,
        [0, 1, 2, 3, 4, 20],
        "probe/README.md's exit-code table: rows 0-4 and 20 expected"
    );
}

/// The blocks no test can run here, each with the reason. Matched by file
/// and a piece of the block's text (not by line, which moves with every
/// edit). An entry that matches no block, or a block a test checks, fails
/// the coverage test, so the list cannot outlive its reasons.
const ALLOWED: &[(&str, &str, &str)] = &[(
    "ARCHITECTURE.md",
    "proto  <-  conn",
    "a drawing of the crate graph, not a command; the architecture test \
         (tests/tests/it/architecture.rs) enforces the dependency rules it draws",
)];

/// Every fenced block of every doc (outside target/ and docs-pending/) is
/// checked by a test (`testkit::docs::checkers_of_block` says which; each
/// checker runs the blocks and lines it is named for) or on [`ALLOWED`] with
/// its reason. A new example that no test runs fails here with its
/// file:line. `--nocapture` prints the table of who checks what.
#[test]
fn every_fenced_block_is_tested_or_allow_listed() {
    let root = root();
    let docs = doc_files(&root);
    for doc in [
        "README.md",
        "CONTRIBUTING.md",
        "probe/README.md",
        "channelz/README.md",
    ] {
        assert!(docs.iter().any(|d| d == doc), "{doc} not found in {docs:?}");
    }
    let mut used = vec![false; ALLOWED.len()];
    let (mut report, mut failures) = (Vec::new(), Vec::new());
    let mut blocks = 0;
    for rel in &docs {
        for block in blocks_of(&root, rel) {
            blocks += 1;
            let allowed = ALLOWED
                .iter()
                .position(|(file, text, _)| block.file == *file && block.body.contains(text));
            match (checkers_of_block(&root, &block), allowed) {
                (Ok(names), None) => report.push(format!("{}: {}", block.at(), names.join(", "))),
                (Ok(_), Some(_)) => failures.push(format!(
                    "{}: checked by a test and allow-listed: remove its ALLOWED entry",
                    block.at()
                )),
                (Err(_), Some(at)) => {
                    used[at] = true;
                    report.push(format!("{}: ALLOWED: {}", block.at(), ALLOWED[at].2));
                }
                (Err(why), None) => failures.push(format!("{}: {why}", block.at())),
            }
        }
    }
    for (entry, used) in ALLOWED.iter().zip(used) {
        if !used {
            failures.push(format!(
                "ALLOWED entry {entry:?} matches no block: remove it"
            ));
        }
    }
    println!(
        "{blocks} blocks in {} docs:\n{}",
        docs.len(),
        report.join("\n")
    );
    assert!(blocks >= 25, "only {blocks} fenced blocks found");
    assert!(
        failures.is_empty(),
        "doc blocks that no test checks (run them in a test, or add to ALLOWED with a reason):\n{}",
        failures.join("\n")
    );
}

/// The scanner's verdicts on made-up drift: a line nobody runs, a line that
/// needs a shell, an unknown block kind; and that the allow-list is short.
#[test]
fn the_coverage_test_can_fail() {
    let root = root();
    let block = |lang: &str, body: &str| Block {
        file: "d.md".into(),
        line: 1,
        lang: lang.into(),
        body: body.into(),
    };
    for (lang, body) in [
        ("sh", "make install\n"),
        ("sh", "grpc-probe -addr=x | tee log\n"),
        ("sh", "# only a comment\n"),
        ("toml", "a = 1\n"),
        ("rust", "fn main() {}\n"),
        ("json", "{\"a\": 1}\n"),
    ] {
        assert!(
            checkers_of_block(&root, &block(lang, body)).is_err(),
            "{lang} {body:?} counted as checked"
        );
    }
    assert!(checkers_of_block(&root, &block("sh", "curl 'http://h/p?a=1&b=2'\n")).is_ok());
    assert!(ALLOWED.len() <= 5, "keep the allow-list short");
}

/// A workspace package: its name and directory.
fn packages(root: &Path) -> Vec<(String, std::path::PathBuf)> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .expect("workspace members");
    members
        .trim_matches(['[', ']'])
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|dir| {
            let text = std::fs::read_to_string(root.join(dir).join("Cargo.toml")).unwrap();
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .expect("package name")
                .trim_matches('"')
                .to_string();
            (name, root.join(dir))
        })
        .collect()
}

/// The `name = "…"` values of a manifest's `[[kind]]` tables.
fn targets_named(manifest: &str, kind: &str) -> Vec<String> {
    let header = format!("[[{kind}]]");
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == header;
        } else if inside && let Some(name) = line.strip_prefix("name = ") {
            out.push(name.trim_matches('"').to_string());
        }
    }
    out
}

/// The `fn` and `mod` names and `.rs` file stems under `dir` (bounded), for
/// a test filter's path segments.
fn names_in(dir: &Path, depth: usize, out: &mut std::collections::BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && depth < 6 {
            out.insert(entry.file_name().to_string_lossy().into_owned());
            names_in(&path, depth + 1, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem() {
                out.insert(stem.to_string_lossy().into_owned());
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for word in ["fn ", "mod "] {
                for piece in text.split(word).skip(1) {
                    let name: String = piece
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    out.insert(name);
                }
            }
        }
    }
}

/// The full names of this test binary's tests (`--list`), for the filters
/// of `cargo test -p grpc-toolkit-tests --test it FILTER` lines.
fn own_tests() -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--list", "--format=terse"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// Every `cargo …` line of every doc names what exists: a `test`, `run`,
/// `build` or `bench` of a workspace package (`-p`) or the workspace, with
/// a `--test`/`--example`/`--bench` target the package has, features it
/// declares, and flags from a known set; a test filter names a test of
/// this binary (`--list`) or, for other targets, a module or fn in their
/// sources; the arguments after `--` of `cargo run -p channelz-tui` /
/// `-p grpc-probe` parse with the tool's parser (grpc-exporter's and the
/// examples' run in their own packages' tests, see checker::EXPORTER_LINES
/// and checker::CHANNELZ_EXAMPLES). Nothing is built or run from here: one
/// cargo inside another would lock the target dir.
#[test]
fn cargo_example_lines_name_real_targets() {
    let root = root();
    let packages = packages(&root);
    let own = own_tests();
    assert!(own.len() > 100, "--list gave {} tests", own.len());
    let mut checked = 0;
    for line in lines_of(&root, checker::CARGO_LINES) {
        let (at, text) = (&line.at, &line.text);
        let words = line.args_from_program();
        let command = words.get(1).map(String::as_str).unwrap_or("");
        assert!(
            matches!(command, "test" | "run" | "build" | "bench"),
            "{at}: {text}: `cargo {command}` is not one the docs may use"
        );
        let (mut package, mut target, mut filter) = (None, None, None);
        let mut features = Vec::new();
        let cut = words.iter().position(|w| w == "--").unwrap_or(words.len());
        let mut rest = words[2..cut].iter();
        while let Some(word) = rest.next() {
            let mut value = || {
                rest.next()
                    .unwrap_or_else(|| panic!("{at}: {text}: {word} without a value"))
                    .clone()
            };
            match word.as_str() {
                "-p" | "--package" => package = Some(value()),
                "--test" | "--example" | "--bench" => {
                    target = Some((word.trim_start_matches('-').to_string(), value()))
                }
                "--features" => features.extend(value().split(',').map(str::to_string)),
                "--release" | "--workspace" | "--locked" | "--all-features" | "--doc"
                | "--examples" => {}
                flag if flag.starts_with('-') => panic!("{at}: {text}: unknown flag {flag}"),
                positional => {
                    assert_eq!(command, "test", "{at}: {text}: stray {positional}");
                    assert!(filter.is_none(), "{at}: {text}: two filters");
                    filter = Some(positional.to_string());
                }
            }
        }
        let Some(package) = package else {
            assert!(
                words.iter().any(|w| w == "--workspace"),
                "{at}: {text}: neither -p nor --workspace"
            );
            checked += 1;
            continue;
        };
        let dir = &packages
            .iter()
            .find(|(name, _)| *name == package)
            .unwrap_or_else(|| panic!("{at}: {text}: no workspace package {package}"))
            .1;
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for feature in &features {
            assert!(
                manifest
                    .lines()
                    .any(|l| l.starts_with(&format!("{feature} = "))),
                "{at}: {text}: {package} has no feature {feature}"
            );
        }
        let has_bin =
            dir.join("src/main.rs").exists() || !targets_named(&manifest, "bin").is_empty();
        if matches!(command, "run" | "build") && target.is_none() {
            assert!(has_bin, "{at}: {text}: {package} has no binary");
        }
        let source = match &target {
            Some((kind, name)) => {
                let folder = format!("{kind}s");
                let file = dir.join(&folder).join(format!("{name}.rs"));
                let main = dir.join(&folder).join(name).join("main.rs");
                assert!(
                    file.exists() || main.exists() || targets_named(&manifest, kind).contains(name),
                    "{at}: {text}: {package} has no {kind} target {name}"
                );
                if main.exists() {
                    main.parent().unwrap().to_path_buf()
                } else {
                    file
                }
            }
            None => dir.join("src"),
        };
        if let Some(filter) = &filter {
            if package == "grpc-toolkit-tests" && target.as_ref().is_some_and(|(_, n)| n == "it") {
                assert!(
                    own.iter().any(|t| t.contains(filter.as_str())),
                    "{at}: {text}: the filter {filter} matches no test of `--test it`"
                );
            } else {
                let mut names = std::collections::BTreeSet::new();
                if source.is_dir() {
                    names_in(&source, 0, &mut names);
                } else {
                    names_in(source.parent().unwrap(), 5, &mut names);
                }
                for segment in filter.split("::").filter(|s| !s.is_empty()) {
                    assert!(
                        names.contains(segment),
                        "{at}: {text}: no module or fn {segment} in {}",
                        source.display()
                    );
                }
            }
        }
        if command == "run" && target.is_none() {
            let mut argv = vec![package.clone()];
            argv.extend(testkit::docs::cargo_run_args(words).iter().cloned());
            match package.as_str() {
                "channelz-tui" => {
                    let os = argv.into_iter().map(Into::into).collect();
                    if let Err(exit) = channelz_tui::app::parse(os) {
                        assert!(!exit.to_stderr, "{at}: {text}: {}", exit.text);
                    }
                }
                "grpc-probe" => {
                    if let Err(err) = parse(argv.iter()) {
                        panic!("{at}: {text}: {}", err.go_line());
                    }
                }
                _ => assert!(
                    checkers_of_line(&line).len() > 1,
                    "{at}: {text}: no test runs `cargo run -p {package}`"
                ),
            }
        }
        checked += 1;
    }
    // README.md 2, CONTRIBUTING.md 5, channelz-tui/README.md 6,
    // channelz/README.md 2, exporter/README.md 1, probe/README.md 1.
    assert!(checked >= 17, "only {checked} cargo lines found");
}

/// The workspace version (`[workspace.package] version`).
fn workspace_version(root: &Path) -> String {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    manifest
        .split("[workspace.package]")
        .nth(1)
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("version = ")))
        .expect("workspace version")
        .trim_matches('"')
        .to_string()
}

fn index_path(dir: &std::ffi::OsStr, image: &str) -> String {
    Path::new(dir)
        .join(image)
        .join("index.json")
        .display()
        .to_string()
}

/// Runs `argv` in `dir`; panics with `at` unless it succeeds.
fn run_ok(at: &str, argv: &[String], dir: &Path) {
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{at}: {argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{at}: {argv:?} fails:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Install lines against what `release/build.sh` writes: the
/// `skopeo copy oci:dist/oci/IMAGE:TAG …` lines name an image
/// `release/oci.py` builds, the layout directory build.sh writes it to and
/// the workspace version as the tag (a version bump without a doc update
/// fails); the `sha256sum` and `install` lines name files build.sh writes
/// and are run, with the same flags, on stand-ins in a temporary directory
/// (no skopeo, no registry, no release build here).
#[test]
fn release_example_lines_match_release() {
    let root = root();
    let build = std::fs::read_to_string(root.join("release/build.sh")).unwrap();
    let version = workspace_version(&root);
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for line in lines_of(&root, checker::RELEASE_LINES) {
        let (at, text) = (&line.at, &line.text);
        let words = line.args_from_program().to_vec();
        match words[0].as_str() {
            "skopeo" => {
                let [_, copy, from, to, flags @ ..] = &words[..] else {
                    panic!("{at}: {text}: expected `skopeo copy FROM TO [--all]`");
                };
                assert_eq!(copy, "copy", "{at}: {text}");
                assert!(
                    flags.iter().all(|f| f == "--all"),
                    "{at}: {text}: flags {flags:?}"
                );
                let layout = from
                    .strip_prefix("oci:dist/oci/")
                    .unwrap_or_else(|| panic!("{at}: {text}: not from oci:dist/oci/"));
                let (image, tag) = layout.split_once(':').expect("oci:PATH:TAG");
                assert_eq!(
                    tag, version,
                    "{at}: {text}: the tag is not the workspace version"
                );
                assert!(
                    build.contains("\"$dist/oci/$image\"") && build.contains(image),
                    "{at}: {text}: release/build.sh writes no dist/oci/{image}"
                );
                let spec = std::process::Command::new("python3")
                    .arg(root.join("release/oci.py"))
                    .args(["spec", image])
                    .output()
                    .expect("python3 runs release/oci.py");
                assert!(
                    spec.status.success(),
                    "{at}: {text}: oci.py has no image {image}"
                );
                let to_image = to
                    .strip_prefix("docker-daemon:")
                    .or_else(|| {
                        to.strip_prefix("docker://")
                            .and_then(|t| t.split_once('/'))
                            .map(|(_, t)| t)
                    })
                    .unwrap_or_else(|| panic!("{at}: {text}: not to docker:// or docker-daemon:"));
                assert_eq!(to_image, format!("{image}:{version}"), "{at}: {text}");
                // Where a layout was written (.ci/run, release/check.sh), the
                // reference resolves in it: skopeo's `oci:PATH:TAG` is the
                // index's ref.name annotation.
                if let Some(dir) = std::env::var_os("GRPC_TOOLKIT_OCI_DIR") {
                    let index = Path::new(&dir).join(image).join("index.json");
                    if let Ok(raw) = std::fs::read_to_string(&index) {
                        let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
                        let names: Vec<&str> = index["manifests"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|m| {
                                m["annotations"]["org.opencontainers.image.ref.name"].as_str()
                            })
                            .collect();
                        assert!(
                            names.contains(&tag),
                            "{at}: {text}: {} names {names:?}",
                            index_path(&dir, image)
                        );
                    }
                }
            }
            "sha256sum" => {
                let sums = words.last().unwrap();
                assert!(
                    build.contains(&format!(">{sums}")),
                    "{at}: {text}: release/build.sh does not write {sums}"
                );
                // A checksum list as build.sh writes it, one file present.
                std::fs::write(dir.path().join("asset"), b"x").unwrap();
                let out = std::process::Command::new("sha256sum")
                    .arg("asset")
                    .current_dir(dir.path())
                    .output()
                    .unwrap();
                let mut list = String::from_utf8_lossy(&out.stdout).into_owned();
                list.push_str(&format!("{} missing-asset\n", "0".repeat(64)));
                std::fs::write(dir.path().join(sums), list).unwrap();
                run_ok(at, &words, dir.path());
            }
            "install" => {
                let [.., from, to] = &words[..] else {
                    panic!("{at}: {text}: expected `install … FILE DEST`");
                };
                let arch = from
                    .strip_prefix("grpc_health_probe-linux-")
                    .unwrap_or_else(|| panic!("{at}: {text}: not a Linux probe asset"));
                assert!(
                    build.contains("grpc_health_probe-linux-$(arch_of")
                        && build.contains(&format!("echo {arch}")),
                    "{at}: {text}: release/build.sh writes no {from}"
                );
                // The Kubernetes docs and the image call it grpc_health_probe.
                assert!(to.ends_with("/grpc_health_probe"), "{at}: {text}");
                std::fs::write(dir.path().join(from), b"x").unwrap();
                let dest = dir.path().join(to.trim_start_matches('/'));
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                let mut argv = words.clone();
                *argv.last_mut().unwrap() = dest.display().to_string();
                run_ok(at, &argv, dir.path());
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o755, "{at}: {text}");
            }
            other => panic!("{at}: {text}: {other} is not a release command"),
        }
        checked += 1;
    }
    // README.md: sha256sum, install and two skopeo lines.
    assert!(checked >= 4, "only {checked} release lines found");
}

/// The script lines (`bash release/build.sh`, `tests/peers/setup.sh python
/// node go`): the script exists, is valid bash (`bash -n`), is executable
/// when run without `bash`, and takes each argument (a `case` arm of that
/// name). Not run: build.sh is a release build, setup.sh installs.
#[test]
fn script_example_lines_hold() {
    let root = root();
    let mut checked = 0;
    for line in lines_of(&root, checker::SCRIPT_LINES) {
        let (at, text) = (&line.at, &line.text);
        let words = line.args_from_program();
        let (script, args) = testkit::docs::script_of(words).unwrap();
        let path = root.join(script);
        let body = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{at}: {text}: {script}: {e}"));
        run_ok(
            at,
            &["bash".into(), "-n".into(), path.display().to_string()],
            &root,
        );
        if words[0] != "bash" {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert!(
                mode & 0o111 != 0,
                "{at}: {text}: {script} is not executable"
            );
        }
        for arg in args {
            assert!(
                body.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{arg})"))
                        || body.contains(&format!("|{arg})"))),
                "{at}: {text}: {script} has no `{arg})` case"
            );
        }
        checked += 1;
    }
    // CONTRIBUTING.md: release/build.sh and tests/peers/setup.sh.
    assert!(checked >= 2, "only {checked} script lines found");
}

/// CONTRIBUTING.md's by-hand peer lines, started as written (from the
/// workspace root, with their `NAME=value` environment; a `--unix` path is
/// moved into a temporary directory): each prints `PORT <n>` or
/// `UNIX <path>` first, as the doc says, and exits when stdin closes.
#[tokio::test]
async fn peer_example_lines_start() {
    use testkit::peers::PeerKind;
    use tokio::io::AsyncBufReadExt as _;
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for line in lines_of(&root, checker::PEER_LINES) {
        let (at, text) = (line.at.clone(), line.text.clone());
        let words = line.args_from_program();
        let program = testkit::docs::peer_program(words).unwrap();
        let kind = if program.ends_with(".py") {
            PeerKind::Python
        } else if program.ends_with(".js") {
            PeerKind::Node
        } else {
            PeerKind::Go
        };
        if testkit::peers::or_skip(testkit::peers::install(kind).await).is_none() {
            continue;
        }
        let mut argv = words.to_vec();
        if let Some(at) = argv.iter().position(|w| w == "--unix") {
            argv[at + 1] = dir
                .path()
                .join(format!("peer{checked}.sock"))
                .display()
                .to_string();
        }
        let first = if argv[0].contains('/') {
            root.join(&argv[0])
        } else {
            argv[0].clone().into()
        };
        let mut child = tokio::process::Command::new(first)
            .args(&argv[1..])
            .envs(line.env())
            .current_dir(&root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{at}: {text}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{at}: {text}: no first line in 60 s"))
            .unwrap()
            .unwrap_or_default();
        assert!(
            first.starts_with("PORT ") || first.starts_with("UNIX "),
            "{at}: {text}: first line {first:?}"
        );
        drop(child.stdin.take());
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
            .await
            .unwrap_or_else(|_| panic!("{at}: {text}: still running after stdin closed"));
        assert!(status.is_ok(), "{at}: {text}");
        checked += 1;
    }
    // CONTRIBUTING.md: the Python, Node and Go peers (unless skipped).
    assert!(
        checked >= 3 || !testkit::peers::in_ci(),
        "only {checked} peer lines ran"
    );
}

/// probe/README.md's ```json block is what its `--json` line prints: the
/// doc's example command (`-service=db -service=cache --json`) run against
/// a server where `db` is SERVING and `cache` is unknown gives the same
/// keys at every level and the same values, except the address and the
/// timings.
#[tokio::test]
async fn probe_json_example_matches_a_run() {
    use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
    let root = root();
    let examples = blocks_checked_by(&root, checker::PROBE_JSON);
    assert!(!examples.is_empty(), "no grpc-probe JSON example found");
    let (server, health) = testkit::servers::TestServer::start_with_spec_health().await;
    health.set("db", ServingStatus::Serving);
    let addr = server.addr().to_string();
    for block in examples {
        let doc: serde_json::Value = serde_json::from_str(&block.body)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", block.at()));
        let services: Vec<String> = doc["results"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|s| format!("-service={}", s["service"].as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        let args: Vec<String> = [format!("-addr={addr}")]
            .into_iter()
            .chain(services)
            .chain(["--json".to_string()])
            .collect();
        let run = testkit::bin::in_process(move |out, err| {
            let argv = std::iter::once("grpc-probe".to_string()).chain(args);
            grpc_probe::run_cli(argv, out, err).code()
        })
        .await;
        let real: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{}: --json printed no JSON ({e}): {run:?}", block.at()));
        same_shape(&block.at(), "", &doc, &real);
    }
}

/// `doc` and `real` have the same keys and values, except a `target`'s
/// value and numbers named `elapsed_ms`.
fn same_shape(at: &str, path: &str, doc: &serde_json::Value, real: &serde_json::Value) {
    use serde_json::Value;
    match (doc, real) {
        (Value::Object(d), Value::Object(r)) => {
            let (dk, rk): (Vec<_>, Vec<_>) = (d.keys().collect(), r.keys().collect());
            assert_eq!(dk, rk, "{at}: keys of {path:?}");
            for (key, value) in d {
                same_shape(at, &format!("{path}.{key}"), value, &r[key]);
            }
        }
        (Value::Array(d), Value::Array(r)) => {
            assert_eq!(d.len(), r.len(), "{at}: length of {path:?}");
            for (i, (d, r)) in d.iter().zip(r).enumerate() {
                same_shape(at, &format!("{path}[{i}]"), d, r);
            }
        }
        (Value::Number(_), Value::Number(_)) if path.ends_with("elapsed_ms") => {}
        (Value::String(_), Value::String(_)) if path == ".target" => {}
        _ => assert_eq!(doc, real, "{at}: {path:?}"),
    }
}

/// CRC-32 (IEEE, reflected, as zlib's), for the recording's checksums.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// channelz-tui/README.md's grammar of the recording format, against the
/// bytes of a real recording (`channelz-tui ADDR --json --record FILE`
/// against the demo server): the preamble's magic and version as the
/// block writes them; frames laid out with the block's field widths
/// (`length u32 | kind u8 | …`), little-endian; the first frame kind 0
/// with a JSON payload, the others the block's keyframe or delta kinds;
/// `payload_crc` and `head_crc` (over the head bytes the block counts)
/// right; the frames end exactly at the end of the file.
#[tokio::test]
async fn record_format_block_matches_a_recording() {
    let root = root();
    let grammar = blocks_checked_by(&root, checker::RECORD_FORMAT);
    let [block] = &grammar[..] else {
        panic!("one recording grammar expected, found {}", grammar.len());
    };
    let at = block.at();
    let field = |line: &str| -> Vec<(String, usize)> {
        line.split_once('=')
            .map(|(_, rest)| rest)
            .unwrap_or_default()
            .split('|')
            .filter_map(|part| {
                let mut words = part.split_whitespace();
                let (name, ty) = (words.next()?, words.next()?);
                let width = match ty {
                    "u8" => 1,
                    "u16" => 2,
                    "u32" => 4,
                    "i64" | "u64" => 8,
                    _ => return None,
                };
                Some((name.to_string(), width))
            })
            .collect()
    };
    let lines: Vec<&str> = block.body.lines().map(str::trim).collect();
    let preamble = lines
        .iter()
        .find(|l| l.starts_with("preamble"))
        .expect("a preamble line");
    let magic = preamble.split('"').nth(1).expect("a quoted magic");
    let version: u16 = preamble
        .rsplit_once('(')
        .and_then(|(_, v)| v.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("{at}: no `(VERSION)` in {preamble:?}"));
    let frame = field(
        lines
            .iter()
            .find(|l| l.starts_with("frame"))
            .expect("a frame line"),
    );
    let names: Vec<&str> = frame.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["length", "kind", "time", "payload_crc", "head_crc"],
        "{at}: the frame fields this test reads"
    );
    let kind_of = |name: &str| -> u8 {
        lines
            .iter()
            .find_map(|l| {
                l.strip_prefix("kind ")
                    .filter(|r| r.contains(&format!(": {name}")))
            })
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{at}: no `kind N: {name}` line"))
    };
    let (header, keyframe, delta) = (kind_of("header"), kind_of("keyframe"), kind_of("delta"));
    let before_head_crc: usize = frame[..4].iter().map(|(_, w)| w).sum();
    assert!(
        block
            .body
            .contains(&format!("the {before_head_crc} head bytes")),
        "{at}: head_crc covers {before_head_crc} bytes"
    );

    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
        .await
        .expect("demo starts");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("incident.czrec");
    // README's `ADDR --json --watch --record FILE` line; the run ends when
    // its stdout closes after the first poll (as tui_record.rs does).
    let argv = vec![
        "channelz-tui".to_string(),
        demo.local_addr().to_string(),
        "--json".into(),
        "--watch".into(),
        "--interval".into(),
        "200ms".into(),
        "--record".into(),
        file.display().to_string(),
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    let live = std::thread::spawn(move || {
        let mut out = testkit::bin::LineSink {
            partial: Vec::new(),
            lines: tx,
        };
        channelz_tui::run_cli(argv, &mut out, &mut std::io::sink())
    });
    tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("a poll in time");
    let status = tokio::task::spawn_blocking(move || live.join())
        .await
        .unwrap()
        .expect("no panic");
    assert_eq!(status, channelz_tui::ExitStatus::Ok);
    demo.shutdown().await;
    let bytes = std::fs::read(&file).unwrap();

    assert_eq!(&bytes[..magic.len()], magic.as_bytes(), "{at}: magic");
    let at_version = magic.len();
    assert_eq!(
        u16::from_le_bytes([bytes[at_version], bytes[at_version + 1]]),
        version,
        "{at}: version"
    );
    let head_len: usize = frame.iter().map(|(_, w)| w).sum();
    let le = |slice: &[u8]| {
        slice
            .iter()
            .rev()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b))
    };
    let (mut offset, mut kinds) = (at_version + 2, Vec::new());
    while offset < bytes.len() {
        let head = &bytes[offset..offset + head_len];
        let mut values = Vec::new();
        let mut at_field = 0;
        for (_, width) in &frame {
            values.push(le(&head[at_field..at_field + width]));
            at_field += width;
        }
        let (length, kind) = (values[0] as usize, values[1] as u8);
        let payload = &bytes[offset + head_len..offset + head_len + length];
        assert_eq!(
            values[3],
            u64::from(crc32(payload)),
            "{at}: payload_crc at {offset}"
        );
        assert_eq!(
            values[4],
            u64::from(crc32(&head[..before_head_crc])),
            "{at}: head_crc at {offset}"
        );
        if kinds.is_empty() {
            assert_eq!(kind, header, "{at}: the first frame is the header");
            serde_json::from_slice::<serde_json::Value>(payload)
                .unwrap_or_else(|e| panic!("{at}: the header is not JSON: {e}"));
        } else {
            assert!(
                [keyframe, delta].contains(&kind),
                "{at}: kind {kind} at {offset}"
            );
        }
        kinds.push(kind);
        offset += head_len + length;
    }
    assert_eq!(offset, bytes.len(), "{at}: the frames end with the file");
    assert!(
        kinds.len() >= 2 && kinds[1] == keyframe,
        "{at}: a header, then a keyframe first: {kinds:?}"
    );
}

/// channelz-tui/README.md's fleet JSON (`[...]` read as `[]`, `"..."` as
/// any string) is what `channelz-tui A B --json` prints for a fleet of one
/// answering member (the demo server) and one refused: the same top-level
/// keys, one member entry each with the same keys, and the refused
/// member's `error` word for word (its address put in).
#[tokio::test]
async fn fleet_json_example_matches_a_run() {
    let root = root();
    let examples = blocks_checked_by(&root, checker::FLEET_JSON);
    assert!(!examples.is_empty(), "no fleet JSON example found");
    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
        .await
        .expect("demo starts");
    let (up, down) = (
        demo.local_addr().to_string(),
        testkit::faults::refused_addr(),
    );
    let argv = vec![
        "channelz-tui".to_string(),
        up.clone(),
        down.clone(),
        "--json".into(),
    ];
    // The exit status of a partly failed fleet is tui_fleet::'s business.
    let out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        channelz_tui::run_cli(argv, &mut out, &mut std::io::sink());
        out
    })
    .await
    .unwrap();
    demo.shutdown().await;
    let real: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "--json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    });
    for block in examples {
        let at = block.at();
        let doc: serde_json::Value = serde_json::from_str(&block.body.replace("[...]", "[]"))
            .unwrap_or_else(|e| panic!("{at}: not JSON with [...] as []: {e}"));
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(keys(&doc), keys(&real), "{at}: top-level keys");
        let (doc_members, real_members) = (
            doc["members"].as_array().expect("doc members"),
            real["members"].as_array().expect("members"),
        );
        let answering = |m: &&serde_json::Value| m.get("error").is_none();
        for (want_error, addr) in [(false, &up), (true, &down)] {
            let d = doc_members
                .iter()
                .find(|m| answering(m) != want_error)
                .unwrap_or_else(|| panic!("{at}: no member with error={want_error}"));
            let r = real_members
                .iter()
                .find(|m| m["member"] == addr.as_str())
                .unwrap_or_else(|| panic!("no member {addr} in {real}"));
            assert_eq!(
                keys(d),
                keys(r),
                "{at}: keys of a member with error={want_error}"
            );
            if want_error {
                let doc_addr = d["member"].as_str().unwrap_or_default();
                let documented = d["error"]
                    .as_str()
                    .unwrap_or_default()
                    .replace(doc_addr, addr);
                assert_eq!(
                    r["error"].as_str(),
                    Some(documented.as_str()),
                    "{at}: the error"
                );
            }
        }
    }
}
